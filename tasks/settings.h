// The training settings, declared once: the TrainingSettings struct and its field table (key, flag, value name,
// one-line doc, how it is written, and its parser), from which every config's YAML, the flags, the worker protocol's
// JSON, --help and the documentation's key tables follow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/recipe.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// What dtype bfloat16 on an analytic objective is told (the settings' readers prefix the key's place).
inline constexpr const char* kBfloat16Objective =
    "dtype bfloat16 is autocast of a network's forward passes; an analytic objective runs in float32 or float64";

// How a child, a comparison's run or an evaluation trains. Plain data; each config that trains embeds it (as a
// base: search::TaskSettings, experiments::CompareConfig, EvalRequest) and names the keys it offers.
struct TrainingSettings {
  std::string task = "fmnist-logreg";  // an objective or <dataset>-<model> (parse_task_name)
  int64_t epochs = 1;                  // image tasks: the budget in epochs when steps is 0
  int64_t steps = 0;                   // > 0: the budget in optimizer steps (analytic tasks: 0 means 1000)
  int64_t batch_size = 128;
  double lr = 0;                       // > 0: train at this lr; 0: the grid protocol over lr_grid
  std::vector<double> lr_grid = default_lr_grid();
  std::string lr_search = "full";      // how the grid chooses (TrainConfig::lr_search): full or halving
  Recipe recipe;                       // schedule, weight decay, clipping: six keys of the table (recipe.h)
  int64_t train_size = -1;             // -1: every training image not held out; else a seeded subset
  int64_t validation_size = -1;        // -1: the data set's default
  // Which held-out images validate (DataOptions::split): confirmation, disjoint from every search's selection
  // images; a search's own task section says selection; legacy is how runs before the purpose split were made.
  std::string split = "confirmation";
  bool augment = false;                // random crop and flip of training batches (CIFAR-10)
  bool test_accuracy = true;           // measure test accuracy (false: every test pass skipped, NaN)
  std::string device = "cpu";          // cpu, cuda or cuda:N
  // float32 | float64 | bfloat16 (image tasks: float32 weights, optimizer and loss, the network's forward passes under
  // bfloat16 autocast); empty: float32 for images, float64 for objectives
  std::string dtype;
  uint64_t seed = 0;                   // initialisation, batch order, augmentation and the rule's noise
  std::string data_dir;                // the data set's folder; empty: its default
  std::string cache_dir;               // decoded-image caches; empty: $XDG_CACHE_HOME/nos or ~/.cache/nos
  double time_limit = 0;               // seconds per run (0: none); past it the run stops with "timeout"
  double kill_grace = 30;              // a worker still busy time_limit + kill_grace seconds in is killed
  int threads = 1;                     // intra-op threads per run
  int population = 1;                  // runs a worker trains at once as one stacked model; 0: auto
};

// Where a setting is offered (SettingField::scopes).
inline constexpr unsigned kSearch = 1;
inline constexpr unsigned kCompare = 2;
inline constexpr unsigned kEval = 4;
inline constexpr unsigned kSearchAndCompare = kSearch | kCompare;

// One row of the table. The flag is --KEY with '-' for '_'.
struct SettingField {
  const char* key;
  const char* value_name;  // in --help: N, X, X1,X2, PATH …
  const char* doc;         // one line, for --help and the key tables
  // Written only when it differs from its default (an empty text): files written before the key existed read alike.
  bool when_set = false;
  bool quoted = false;     // its YAML text is quoted ("fmnist-mlp")
  bool text_json = false;  // its JSON is a string (else a number, boolean or array: the YAML text itself)
  std::string (*text)(const TrainingSettings&);  // the value as text: a list as [a, b]; "" when_set at its default
  // Reads `text` (a list as [a, b] or a,b); a bad value is a UserError "expected …, got '…'".
  void (*set)(TrainingSettings&, const std::string& text);
  // What a config or a flag must also satisfy, beyond what the worker protocol checks (a known task); may be null.
  void (*check)(const std::string& text) = nullptr;
  // Carried by the worker protocol. False for the dispatcher's own settings (threads, data folders, kill grace,
  // population), which a worker takes from its command line.
  bool on_wire = true;
  // The configs that offer it (kSearch: a search's task section and fitness tasks; kCompare: nos compare's keys and
  // flags; kEval: nos eval's): a new row with search and compare appears in both with no other edit; nos eval offers
  // only the rows that name it.
  unsigned scopes = kSearchAndCompare;
  // Its YAML value may be a list ([a, b]); any other row's is a single value.
  bool list = false;
};

// Sets `key` from `text` as a config file or a flag gives it: the row's parser and its check.
void set_setting(TrainingSettings& settings, const std::string& key, const std::string& text);

// Every training setting, in documentation order.
const std::vector<SettingField>& setting_fields();
// The row of `key`; nos::InternalError for an unknown key (a key list out of step with the table).
const SettingField& setting_field(const std::string& key);
// The keys of the rows offered in `scope` (kSearch, kCompare or kEval), in the table's order.
std::vector<std::string> setting_keys_in(unsigned scope);

// Whether `key` is a training setting (a row of the table).
bool is_setting_key(const std::string& key);
// The training settings among `keys`, in their order.
std::vector<std::string> setting_keys_of(const std::vector<std::string>& keys);
// The command-line flag of a key: "--batch-size" for batch_size.
std::string setting_flag(const std::string& key);

// The value of `key` in `settings` as YAML: quoted where the row says; "" when the row is written only when set and
// the value is its default.
std::string setting_yaml(const TrainingSettings& settings, const std::string& key);

// The --help text of `keys` with their defaults in `defaults`: "  --batch-size B   batch size (batch_size; default
// 128)", one line each.
std::string settings_help(const std::vector<std::string>& keys, const TrainingSettings& defaults);

// The Markdown key table of `keys` (key, flag, default in `defaults`, meaning; < and > as entities), for docs/: an
// entry "yaml=key" shows the setting `key` under another YAML key (the search's task section calls `task` "name").
// `with_flags` false leaves out the flag column (a config section without flags of its own).
std::string settings_key_table(const std::vector<std::string>& keys, const TrainingSettings& defaults,
                               bool with_flags = true);

}  // namespace nos::tasks
