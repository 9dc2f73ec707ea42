// The subcommands behind nos::cli::run; each parses its own arguments (everything after the command's name).
#pragma once

#include <boost/program_options.hpp>

#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/parse.h"
#include "optimizers/named.h"
#include "dispatch/mpi.h"
#include "tasks/evaluator.h"
#include "tasks/recipe.h"
#include "tasks/settings.h"

namespace nos::cli {

using Args = std::vector<std::string>;

// Each returns the exit code; user mistakes are thrown as nos::UserError or boost::program_options::error and
// reported by run().
int rule_command(const Args& args, std::ostream& out, std::ostream& err);
int rules_command(const Args& args, std::ostream& out, std::ostream& err);
int export_command(const Args& args, std::ostream& out, std::ostream& err);
int eval_command(const Args& args, std::ostream& out, std::ostream& err);
int bench_command(const Args& args, std::ostream& out, std::ostream& err);
int bench_step_command(const Args& args, std::ostream& out, std::ostream& err);  // `bench step`, from bench
int bench_search_command(const Args& args, std::ostream& out, std::ostream& err);  // `bench search`
int bench_children_command(const Args& args, std::ostream& out, std::ostream& err);  // `bench children`
int bench_profile_command(const Args& args, std::ostream& out, std::ostream& err);  // `bench profile`
// One benchmark of `nos bench`: a row of the registry that `nos bench`, its help, `nos help` and help_topics read.
struct Benchmark {
  const char* name;     // nos bench NAME
  const char* summary;  // one line for the lists
  int (*run)(const Args&, std::ostream&, std::ostream&);
};
const std::vector<Benchmark>& benchmarks();
const std::vector<std::string>& benchmark_names();  // the rows' names: train, step, search, children, profile
int version_command(const Args& args, std::ostream& out, std::ostream& err);
int search_command(const Args& args, std::ostream& out, std::ostream& err);
int top_command(const Args& args, std::ostream& out, std::ostream& err);
int compare_command(const Args& args, std::ostream& out, std::ostream& err);
int learn_command(const Args& args, std::ostream& out, std::ostream& err);
int worker_command(const Args& args, std::ostream& out, std::ostream& err);  // hidden: started by search

// MPI for search and compare (dispatch/mpi.h). Under an MPI launcher that started more than one rank: the session
// (MPI_Init; a UserError when nos was built without MPI, or with --in-process); otherwise null, and
// --rank0-evaluates is a UserError. A caller on a rank other than 0 serves (dispatch::mpi_serve) and returns.
std::unique_ptr<dispatch::MpiSession> start_mpi(bool in_process, bool rank0_evaluates);
// The pool factory for SearchRuntime / WorkerSetup under `session`.
dispatch::ProcessPoolFactory mpi_pool_factory(dispatch::MpiSession& session, bool rank0_evaluates);

// The flags `nos bench train` and `nos bench children` share: --task, --steps, --warmup, --threads, --batch-size,
// --rule, --device (the help names `default_steps` and `default_warmup`; `rule_help` says what the rule is for).
void add_network_bench_options(boost::program_options::options_description& options, int64_t default_steps,
                               int64_t default_warmup, const std::string& rule_help);
struct NetworkBenchFlags {
  std::string task_name = "fmnist-convnet";
  tasks::TaskSpec task;          // a network task (an analytic objective is a UserError)
  std::string rule_text = "adam";
  optimizers::ResolvedRule rule;
  std::optional<int64_t> steps, warmup, batch;
  std::optional<torch::Device> device;
};
// Reads them (bad values are UserErrors naming the flag) and applies --threads (at::set_num_threads).
NetworkBenchFlags read_network_bench_flags(const boost::program_options::variables_map& vm);
// Onto a benchmark's options (bench::TrainBenchOptions, bench::ChildrenBenchOptions): the flags given; the rest keep
// the options' defaults.
template <typename BenchOptions>
void apply_network_bench_flags(const NetworkBenchFlags& f, BenchOptions& o) {
  o.task = f.task;
  o.rule = f.rule;
  o.steps = f.steps.value_or(o.steps);
  o.warmup = f.warmup.value_or(o.warmup);
  o.batch = f.batch.value_or(o.batch);
  o.device = f.device.value_or(o.device);
}

// The flags of training settings, built from their field table (tasks/settings.h): --KEY with '-' for '_', its
// value name and one-line doc, "(KEY; default X)" from `defaults`; a boolean setting is a switch. `help` words a
// key's line where this command's meaning or default differs from the row's (nos eval's defaults depend on the
// task): "TEXT (KEY)".
void add_setting_options(boost::program_options::options_description& options, const std::vector<std::string>& keys,
                         const tasks::TrainingSettings& defaults, const std::map<std::string, std::string>& help = {});
// Sets each of `keys` whose flag was given onto `settings` (a bad value is a UserError naming the flag, as
// "--epochs: expected …"); returns the flags given, in keys' order.
std::vector<std::string> apply_setting_flags(const boost::program_options::variables_map& vm,
                                             const std::vector<std::string>& keys, tasks::TrainingSettings& settings);
// The key of a setting's flag: "batch_size" for "--batch-size" (tasks::setting_flag's inverse).
std::string setting_key_of_flag(const std::string& flag);

// A flag's whole number in [min, max] (common/parse.h); a bad one is a UserError naming the flag: "--reps: expected
// a whole number >= 1, got 'x'".
template <typename Int>
Int whole_flag(const std::string& text, const std::string& flag, Int min = 1,
               Int max = std::numeric_limits<Int>::max()) {
  return parsed_at(flag, [&] { return parse_whole<Int>(text, min, max); });
}

// The training recipe's flags, shared by eval, compare and search: --schedule, --weight-decay, --weight-decay-mode,
// --weight-decay-mask, --clip-norm, --clip-value (add_setting_options of tasks::recipe_keys()).
void add_recipe_options(boost::program_options::options_description& options);
// Sets each recipe flag given onto `recipe` (a bad value is a UserError naming the flag); returns the flags given.
std::vector<std::string> apply_recipe_flags(const boost::program_options::variables_map& vm, tasks::Recipe& recipe);

// Parses `args` against `options` (and `positional`, if given) with long options only as written in full (no
// guessing of abbreviations); throws boost::program_options::error on unknown or malformed options.
boost::program_options::variables_map parse_options(
    const Args& args, const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {});

}  // namespace nos::cli
