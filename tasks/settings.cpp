// The training settings' field table (settings.h): each key's parser, text, help line and key-table row.
#include "tasks/settings.h"

#include <algorithm>
#include <sstream>

#include "common/error.h"
#include "common/parse.h"
#include "common/text.h"
#include "common/yaml_reader.h"
#include "tasks/evaluator.h"

namespace nos::tasks {

namespace {

constexpr int64_t kBig = int64_t{1} << 40;

std::string numbers_text(const std::vector<double>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + format_number(values[i]);
  return out + "]";
}

std::string size_text(int64_t n) { return std::to_string(n); }
// -1 (all, or the data set's default) or a count >= 1: no images is no training, or no validation accuracy (the
// reward).
int64_t size_of(const std::string& text) {
  const int64_t n = parse_whole<int64_t>(text, -1, kBig);
  if (n == 0) throw UserError("expected -1 or a count >= 1, got '0'");
  return n;
}

// A recipe key's row reads and writes through recipe.h, by its place in recipe_keys().
template <size_t I>
std::string recipe_text_at(const TrainingSettings& s) {
  return recipe_value(s.recipe, recipe_keys()[I]);
}
template <size_t I>
void set_recipe_at(TrainingSettings& s, const std::string& text) {
  set_recipe_key(s.recipe, recipe_keys()[I], text, "value");
}

using S = TrainingSettings;
using T = const std::string&;
constexpr unsigned kAll = kSearch | kCompare | kEval;

// The rows of the task, its budget, its lr and the training recipe.
std::vector<SettingField> training_fields() {
  return {
      {"task", "T", "an objective (rosenbrock) or <dataset>-<model> (fmnist-convnet)", false, true, true,
       [](const S& s) { return s.task; },
       [](S& s, T t) { s.task = t; }, [](T t) { parse_task_name(t); }, true, kAll},
      {"epochs", "N", "the budget in epochs (image tasks, when steps is 0)", false, false, false,
       [](const S& s) { return std::to_string(s.epochs); },
       [](S& s, T t) { s.epochs = parse_whole<int64_t>(t, 1, kBig); }, nullptr, true, kAll},
      {"steps", "N", "> 0: the budget in optimizer steps (analytic tasks: 0 means 1000)", false, false, false,
       [](const S& s) { return std::to_string(s.steps); },
       [](S& s, T t) { s.steps = parse_whole<int64_t>(t, 0, kBig); }, nullptr, true, kSearch | kEval},
      {"batch_size", "B", "the batch size", false, false, false,
       [](const S& s) { return std::to_string(s.batch_size); },
       [](S& s, T t) { s.batch_size = parse_whole<int64_t>(t, 1, kBig); }, nullptr, true, kAll},
      {"lr", "X", "> 0: train at this lr; 0: choose it from lr_grid", false, false, false,
       [](const S& s) { return format_number(s.lr); }, [](S& s, T t) { s.lr = parse_number(t, 0); }, nullptr, true,
       kSearch | kEval},
      {"lr_grid", "X1,X2", "the lrs the grid protocol tries", false, false, false,
       [](const S& s) { return numbers_text(s.lr_grid); },
       [](S& s, T t) { s.lr_grid = parse_positive_numbers(t); }, nullptr, true, kAll, true},
      {"lr_search", "S", "how the grid chooses: full (one epoch per lr) or halving (successive halving)", false, false,
       true, [](const S& s) { return s.lr_search; },
       [](S& s, T t) { s.lr_search = parse_choice(t, lr_search_names()); }, nullptr, true, kSearch | kEval},
      {"schedule", "S", "lr schedule, e.g. cosine,warmup=0.05; default constant (docs/commands.md)", true, true, true,
       recipe_text_at<0>, set_recipe_at<0>, nullptr, true, kAll},
      {"weight_decay", "L", "weight decay L, replacing the rule's own", true, false, true, recipe_text_at<1>,
       set_recipe_at<1>, nullptr, true, kAll},
      {"weight_decay_mode", "M", "coupled (L2 added to g; the default) or decoupled (AdamW's w -= lr*L*w)", true,
       false, true, recipe_text_at<2>, set_recipe_at<2>, nullptr, true, kAll},
      {"weight_decay_mask", "M", "weights (not biases or batch norm; the default) or all", true, false, true,
       recipe_text_at<3>, set_recipe_at<3>, nullptr, true, kAll},
      {"clip_norm", "C", "clip gradients to global L2 norm C", true, false, true, recipe_text_at<4>,
       set_recipe_at<4>, nullptr, true, kAll},
      {"clip_value", "C", "clip gradient elements to [-C, C]", true, false, true, recipe_text_at<5>,
       set_recipe_at<5>, nullptr, true, kAll},
  };
}

// The rows of the data, the precision, the seed and the machine.
std::vector<SettingField> data_fields() {
  return {
      {"train_size", "N", "train on a seeded subset of N images (-1: every image not held out)", false, false, false,
       [](const S& s) { return size_text(s.train_size); }, [](S& s, T t) { s.train_size = size_of(t); }, nullptr,
       true, kAll},
      {"validation_size", "N", "images held out of training (-1: the data set's default)", false, false, false,
       [](const S& s) { return size_text(s.validation_size); },
       [](S& s, T t) { s.validation_size = size_of(t); }, nullptr, true, kAll},
      {"split", "P", "the validation images: selection (a search's), confirmation (disjoint from them) or legacy",
       false, false, true, [](const S& s) { return s.split; },
       [](S& s, T t) { s.split = parse_choice(t, split_names()); }, nullptr, true, kAll},
      {"augment", "", "random crop and flip of training batches (CIFAR-10)", false, false, false,
       [](const S& s) { return std::string(s.augment ? "true" : "false"); },
       [](S& s, T t) { s.augment = parse_bool(t); }, nullptr, true, kCompare | kEval},
      {"test_accuracy", "", "measure each run's test accuracy after its last epoch", false, false, false,
       [](const S& s) { return std::string(s.test_accuracy ? "true" : "false"); },
       [](S& s, T t) { s.test_accuracy = parse_bool(t); }, nullptr, true, kSearch},
      {"device", "D", "cpu, cuda or cuda:N", false, true, true, [](const S& s) { return s.device; },
       [](S& s, T t) { s.device = t; },
       [](T t) {
         const bool cuda = t == "cuda" || (t.rfind("cuda:", 0) == 0 && t.size() > 5 &&
                                           t.find_first_not_of("0123456789", 5) == std::string::npos);
         if (t != "cpu" && !cuda) throw UserError("expected cpu, cuda or cuda:N, got '" + t + "'");
       },
       true, kAll},
      {"dtype", "D",
       "float32, float64 or bfloat16 (image tasks: float32 weights, the forward passes under bfloat16 autocast; "
       "default: float32 for images, float64 for objectives)",
       true, false, true, [](const S& s) { return s.dtype; },
       [](S& s, T t) { s.dtype = parse_choice(t, {"float32", "float64", "bfloat16"}); },
       nullptr, true, kAll},
      {"seed", "S", "seed of initialisation, batch order, augmentation and the rule's noise", false, false, false,
       [](const S& s) { return std::to_string(s.seed); },
       [](S& s, T t) { s.seed = parse_whole<uint64_t>(t, 0, UINT64_MAX); }, nullptr, true, kSearch | kEval},
      {"data_dir", "DIR", "the data set's folder (empty: its default)", false, true, true,
       [](const S& s) { return s.data_dir; }, [](S& s, T t) { s.data_dir = t; }, nullptr, false, kAll},
      {"cache_dir", "DIR", "decoded-image caches (empty: $XDG_CACHE_HOME/nos or ~/.cache/nos)", false, true, true,
       [](const S& s) { return s.cache_dir; }, [](S& s, T t) { s.cache_dir = t; }, nullptr, false, kAll},
      {"time_limit", "SEC", "seconds per run (0: none); past it the run stops with status timeout", false, false,
       false, [](const S& s) { return format_number(s.time_limit); },
       [](S& s, T t) { s.time_limit = parse_number(t, 0); }, nullptr, true, kSearch},
      {"kill_grace", "SEC", "a worker still busy time_limit + kill_grace seconds in is killed", false, false, false,
       [](const S& s) { return format_number(s.kill_grace); },
       [](S& s, T t) { s.kill_grace = parse_number(t, 0); }, nullptr, false, kSearch},
      {"threads", "N", "intra-op threads per run", false, false, false,
       [](const S& s) { return std::to_string(s.threads); },
       [](S& s, T t) { s.threads = parse_whole<int>(t, 1, 1024); }, nullptr, false, kAll},
      {"population", "K", "runs a worker trains at once as one stacked model: K or auto", true, false, true,
       [](const S& s) {
         return s.population == 1 ? std::string() : s.population == 0 ? "auto" : std::to_string(s.population);
       },
       [](S& s, T t) { s.population = parse_whole_or_auto<int>(t, 1, 4096); }, nullptr, false},
  };
}

std::vector<SettingField> make_fields() {
  std::vector<SettingField> fields = training_fields();
  const std::vector<SettingField> more = data_fields();
  fields.insert(fields.end(), more.begin(), more.end());
  return fields;
}

}  // namespace

const std::vector<SettingField>& setting_fields() {
  static const std::vector<SettingField> fields = make_fields();
  return fields;
}

const SettingField& setting_field(const std::string& key) {
  for (const SettingField& f : setting_fields()) {
    if (key == f.key) return f;
  }
  throw InternalError("no training setting '" + key + "'");
}

std::vector<std::string> setting_keys_in(unsigned scope) {
  std::vector<std::string> out;
  for (const SettingField& f : setting_fields()) {
    if ((f.scopes & scope) != 0) out.push_back(f.key);
  }
  return out;
}

bool is_setting_key(const std::string& key) {
  for (const SettingField& f : setting_fields()) {
    if (key == f.key) return true;
  }
  return false;
}

std::vector<std::string> setting_keys_of(const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const std::string& key : keys) {
    if (is_setting_key(key)) out.push_back(key);
  }
  return out;
}

void set_setting(TrainingSettings& settings, const std::string& key, const std::string& text) {
  const SettingField& f = setting_field(key);
  if (f.check != nullptr) f.check(text);
  f.set(settings, text);
}

std::string setting_flag(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string setting_yaml(const TrainingSettings& settings, const std::string& key) {
  const SettingField& f = setting_field(key);
  const std::string text = f.text(settings);
  if (f.when_set && text.empty()) return "";
  return f.quoted ? yaml_quoted(text) : text;
}

std::string settings_help(const std::vector<std::string>& keys, const TrainingSettings& defaults) {
  std::ostringstream out;
  for (const std::string& key : keys) {
    const SettingField& f = setting_field(key);
    std::string flag = setting_flag(key) + (*f.value_name ? std::string(" ") + f.value_name : std::string());
    const std::string value = f.text(defaults);
    out << "  " << flag << std::string(flag.size() < 22 ? 22 - flag.size() : 1, ' ') << f.doc << " (" << key;
    if (!value.empty()) out << "; default " << value;
    out << ")\n";
  }
  return out.str();
}

std::string settings_key_table(const std::vector<std::string>& keys, const TrainingSettings& defaults,
                               bool with_flags) {
  std::ostringstream out;
  out << (with_flags ? "| key | flag | default | meaning |\n|---|---|---|---|\n"
                     : "| key | default | meaning |\n|---|---|---|\n");
  for (const std::string& entry : keys) {
    const size_t eq = entry.find('=');
    const std::string yaml_key = entry.substr(0, eq);
    const std::string key = eq == std::string::npos ? entry : entry.substr(eq + 1);
    const SettingField& f = setting_field(key);
    const std::string value = f.text(defaults);
    std::string doc;
    for (char c : std::string(f.doc)) doc += c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
    out << "| `" << yaml_key << "` | " << (with_flags ? "`" + setting_flag(key) + "` | " : "")
        << (value.empty() ? "—" : "`" + value + "`") << " | " << doc << (f.when_set ? " (written only when set)" : "")
        << " |\n";
  }
  return out.str();
}

}  // namespace nos::tasks
