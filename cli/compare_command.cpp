// `nos compare`: its flags onto an experiments::CompareConfig, experiments::run_compare wired up, the summary printed.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/data_paths.h"
#include "cli/eval_config.h"
#include "cli/stop_signals.h"
#include "common/error.h"
#include "common/text.h"
#include "experiments/experiments.h"
#include "tasks/evaluator.h"

#ifndef NOS_VERSION
#define NOS_VERSION "unknown"
#endif

namespace nos::cli {

namespace po = boost::program_options;

namespace {

constexpr int kExitRunsFailed = 1;     // some runs crashed: the report is partial, a rerun retries them

void print_compare_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos compare [--config FILE.yaml] [--rules R1,R2,...] [--out DIR] [options]\n\n"
      << "Compares update rules on one task the way papers report them. For each rule: one run per lr of the grid\n"
      << "(seed 0, --tune-epochs each); the lr with the best validation accuracy is chosen (a diverged run is worst,\n"
      << "ties go to the smaller lr); then --seeds runs (seeds 0..K-1) of --epochs at that lr. Runs go to --jobs\n"
      << "worker processes; each finished run is appended to DIR/runs.jsonl at once, so an interrupted comparison\n"
      << "continues where it stopped when the same command runs again. The report folder gets results.csv (rule x\n"
      << "seed x epoch), tuning.csv, summary.csv (mean +- std over seeds), report.md and, with gnuplot, the plots\n"
      << "test_acc.png and train_loss.png.\n\n"
      << "Rules (--rules, comma-separated; commas inside parentheses stay): named rules (see 'nos rules'), LibTorch's\n"
      << "own optimizers (torch-adam, torch-momentum, torch-sgd, torch-rmsprop; added beside adam, momentum, sgd and\n"
      << "rmsprop unless --no-native), any DSL text, and @RUN_DIR:topN, the N best rules of a search run.\n"
      << "Settings come from the defaults, then --config, then the flags.\n\n"
      << "Example: nos compare --config configs/compare-fmnist.yaml --out runs/compare-fmnist\n"
      << "         nos compare --rules 'adam,powersign,clip(g,0.1)*m' --task fmnist-mlp --epochs 2 --out runs/c\n\n"
      << options;
}

// The config: the defaults, then --config, then the flags; checked, with the data folder resolved. `source` names
// where the rules came from, for resolve_rows' messages.
experiments::CompareConfig config_from_flags(const po::variables_map& vm, std::string& source) {
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const std::string* config_path = flag("config");
  experiments::CompareConfig config =
      config_path ? experiments::load_compare_config(*config_path) : experiments::CompareConfig{};
  source = config_path ? *config_path : std::string("the defaults");
  if (const std::string* v = flag("rules")) {
    config.rules = experiments::split_rule_list(*v);
    source = "--rules";
  }
  const std::vector<std::string> given =
      apply_setting_flags(vm, tasks::setting_keys_of(experiments::compare_config_keys()), config);
  if (std::find(given.begin(), given.end(), "--task") != given.end() && tasks::parse_task_name(config.task).analytic) {
    throw UserError("--task: '" + config.task + "' is an analytic objective; compare trains classifiers "
                    "(<dataset>-<model>, e.g. fmnist-convnet)");
  }
  if (const std::string* v = flag("seeds")) {
    config.seeds = whole_flag<int>(*v, "--seeds", 1, 1000);
  }
  if (const std::string* v = flag("tune-epochs")) config.tune_epochs = whole_flag<int64_t>(*v, "--tune-epochs");
  if (const std::string* v = flag("jobs")) config.jobs = whole_flag<int>(*v, "--jobs", 1, 1024);
  if (vm["no-native"].as<bool>()) config.native_references = false;
  if (const std::string* v = flag("out")) config.out = *v;
  experiments::validate(config, config_path ? *config_path + " (with the flags)" : std::string("the flags"));
  if (config.out.empty()) throw UserError("no report folder: give --out DIR (or the config key out)");
  if (config.rules.empty()) {
    throw UserError("no rules to compare: give --rules (e.g. --rules adam,powersign) or a --config with rules");
  }
  parse_device(config.device, "device");  // fails now, not in every worker, when CUDA is not there
  const tasks::TaskSpec spec = tasks::parse_task_name(config.task);
  config.data_dir = resolve_data_dir(spec.dataset, config.data_dir,
                                     config_path ? "--data-dir (or data_dir in " + *config_path + ")"
                                                 : std::string("--data-dir"));

  return config;
}

// The summary table on stdout: one line per row.
void print_summary(std::ostream& out, const std::vector<experiments::RowSummary>& summary) {
  size_t width = 4;
  for (const experiments::RowSummary& s : summary) width = std::max(width, s.row.label.size());
  width = std::min<size_t>(width, 40);
  auto pad = [](std::string s, size_t w) {
    if (s.size() > w) s = s.substr(0, w - 1) + "~";
    s.resize(w, ' ');
    return s;
  };
  out << pad("rule", width) << "  " << pad("lr", 7) << "  " << pad("final val", 17) << "  " << pad("final test", 17)
      << "  " << pad("train loss", 10) << "  s/epoch  seeds\n";
  for (const experiments::RowSummary& s : summary) {
    auto ms = [](const experiments::Stat& st) {
      if (st.n == 0) return std::string("–");
      return fixed(st.mean, 4, "–") + (st.n >= 2 ? " ± " + fixed(st.std, 4, "–") : std::string());
    };
    std::ostringstream spe;
    spe << std::fixed << std::setprecision(1) << s.seconds_per_epoch;
    out << pad(s.row.label, width) << "  " << pad(std::isfinite(s.lr) ? nos::format_number(s.lr) : "–", 7) << "  "
        << pad(ms(s.final_val), 17) << "  " << pad(ms(s.final_test), 17) << "  "
        << pad(fixed(s.final_train_loss.mean, 4, "–"), 10) << "  "
        << pad(std::isfinite(s.seconds_per_epoch) ? spe.str() : "–", 7)
        << "  " << (s.statuses.empty() ? s.tuning : s.statuses) << "\n";
  }
}

po::options_description compare_options() {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"),
       "YAML compare config; its keys are in docs/commands.md#compare-config-keys")
      ("rules", po::value<std::string>()->value_name("R1,R2"), "rules to compare (config key rules)")
      ("seeds", po::value<std::string>()->value_name("K"), "seeds per rule at the chosen lr (seeds; default 3)")
      ("tune-epochs", po::value<std::string>()->value_name("N"), "epochs per tuning run (tune_epochs; default 1)")
      ("jobs", po::value<std::string>()->value_name("N"), "runs in parallel, one worker process each (jobs; default 2)")
      ("no-native", po::bool_switch(), "do not add LibTorch's reference rows (native_references: false)")
      ("out", po::value<std::string>()->value_name("DIR"), "the report folder (out); rerun to resume")
      ("in-process", po::bool_switch(), "run on threads of this process instead of worker processes")
      ("rank0-evaluates", po::bool_switch(), "under mpirun/srun: rank 0 also trains runs, beside the other ranks");
  // The training settings' flags, from their field table.
  add_setting_options(options, tasks::setting_keys_of(experiments::compare_config_keys()),
                      experiments::CompareConfig());
  return options;
}

// What is about to run, on err (and a note when populations cannot stack here).
void print_compare_plan(const experiments::CompareConfig& config, const std::vector<experiments::CompareRow>& rows,
                        std::ostream& err) {
  std::string rule_list;
  for (const experiments::CompareRow& row : rows) rule_list += (rule_list.empty() ? "" : ", ") + row.label;
  err << "compare: " << rows.size() << " rules (" << rule_list << ") on " << config.task << ", " << config.seeds
      << " seeds x " << config.epochs << " epochs after tuning over " << config.lr_grid.size() << " lrs, "
      << config.jobs << " jobs x " << config.threads << " threads, report folder " << config.out << "\n";
  if (config.population != 1) {
    tasks::EvalRequest request;
    request.task = config.task;
    request.lr = 0.01;  // compare's runs each have a fixed lr
    const std::string alone = tasks::population_alone_reason(request);
    if (!alone.empty()) err << "note: population has no effect here, every run trains alone: " << alone << "\n";
  }
}

}  // namespace

int compare_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options = compare_options();
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_compare_help(out, options);
    return kExitOk;
  }
  // Under mpirun or srun, ranks other than 0 only train the runs rank 0 sends them.
  const bool rank0_evaluates = vm["rank0-evaluates"].as<bool>();
  const std::unique_ptr<dispatch::MpiSession> mpi = start_mpi(vm["in-process"].as<bool>(), rank0_evaluates);
  if (mpi && mpi->rank() != 0) return dispatch::mpi_serve(*mpi);
  std::string source;
  experiments::CompareConfig config = config_from_flags(vm, source);

  // Every rule is resolved (and bad rule text reported with its diagnostics) before anything runs.
  std::vector<std::string> kept;
  const std::vector<experiments::CompareRow> rows = experiments::resolve_rows(config, source, &kept);
  for (const std::string& note : kept) err << "note: " << note << "\n";
  for (const std::string& warning : experiments::check_row_recipes(config, rows, source)) {
    err << "warning: " << warning << "\n";
  }

  experiments::CompareRuntime runtime;
  runtime.context = experiments::machine_context(command_line("nos compare", args), NOS_VERSION);
  const std::string dirty = experiments::dirty_tree_warning(runtime.context);
  if (!dirty.empty()) err << "warning: " << dirty << "\n";
  experiments::WorkerSetup workers;
  workers.in_process = vm["in-process"].as<bool>();
  workers.cache_dir = resolve_cache_dir(config.cache_dir);
  if (mpi) workers.process_pool = mpi_pool_factory(*mpi, rank0_evaluates);
  const std::unique_ptr<dispatch::EvaluatorPool> pool = experiments::make_worker_pool(config, workers);
  runtime.pool = pool.get();
  runtime.stop = &g_stop_requested;
  runtime.on_progress = [&err](const experiments::CompareProgress& p) {
    err << experiments::progress_line(p) << "\n" << std::flush;
  };
  // This process only schedules and writes; the workers get the cores.
  at::set_num_threads(1);

  print_compare_plan(config, rows, err);
  experiments::CompareResult result;
  {
    StopOnSignals signals;
    result = experiments::run_compare(config, rows, runtime);
  }
  for (const std::string& note : result.notes) err << "note: " << note << "\n";
  if (result.interrupted) {
    err << "interrupted: finished runs are kept in " << config.out << "/" << experiments::kCompareJournal
        << "; the same command continues the comparison\n";
    return kExitInterrupted;
  }

  print_summary(out, result.summary);
  if (!result.verdicts.empty()) out << result.verdicts << "\n";
  out << "report: " << config.out << "/report.md (" << result.executed << " runs in " << duration(result.seconds)
      << ", " << result.skipped << " from the journal)\n";
  if (result.failed > 0) {
    err << "nos compare: " << result.failed << " run(s) crashed (see " << config.out
        << "/workers.log); the report is partial. Run the same command again to retry them.\n";
    for (const std::string& run : result.failed_runs) err << "  crashed: " << run << "\n";
    return kExitRunsFailed;
  }
  return kExitOk;
}

}  // namespace nos::cli
