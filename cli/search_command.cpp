// `nos search`: start or resume a search job, show its progress, stop cleanly on Ctrl-C, print the top rules.
#include <ATen/Parallel.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/data_paths.h"
#include "cli/search_report.h"
#include "cli/stop_signals.h"
#include "common/error.h"
#include "common/executable.h"
#include "common/text.h"
#include "experiments/funnel.h"
#include "experiments/machine.h"
#include "experiments/workers.h"
#include "search/proposer.h"
#include "search/search.h"
#include "tasks/evaluator.h"

#ifndef NOS_VERSION
#define NOS_VERSION "unknown"
#endif

namespace nos::cli {

namespace po = boost::program_options;

namespace {

std::string default_run_dir(const std::string& proposer) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "runs/" + proposer + "-" + stamp;
}

// The proposers as the help text names them: "RNN controller, random or evolution" (search::proposers()).
std::string proposer_titles() {
  std::vector<std::string> titles;
  for (const search::ProposerInfo& p : search::proposers()) titles.emplace_back(p.title);
  return joined_or(titles);
}

void print_search_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos search [--config FILE.yaml] [--run-dir DIR] [--workers N] [--budget N] [--seed S]\n"
      << "                  [--population K|auto] [--fec-cache run|none|PATH]\n"
      << "       nos search --resume RUN_DIR [--workers N] [--budget N] [--population K|auto]\n"
      << "                  [--fec-cache run|none|PATH] [--rebuild-proposer]\n\n"
      << "Searches for update rules: a proposer (" << proposer_titles() << ") suggests rules in batches,\n"
      << "each is trained on the config's task by one of N worker processes, and every result is stored in\n"
      << "RUN_DIR/search.db as it completes (with config.yaml, proposer.pt, progress.csv and best.csv beside it).\n"
      << "Without --config it runs the embedded demo (configs/demo.yaml). Flags override the config's keys.\n"
      << "Ctrl-C stops cleanly (exit 130); --resume continues an interrupted run where it stopped, to its budget\n"
      << "(--budget may raise it); if its proposer.pt is damaged, --rebuild-proposer replays the stored children\n"
      << "through a fresh proposer instead (none is trained again). A full disk stops the search with exit 2 and\n"
      << "keeps what is stored: free space, then --resume. 'nos top RUN_DIR' shows the leaderboard at any time.\n"
      << "A config with a funnel: list then sends the search's best rules through its stages (each a comparison\n"
      << "against a baseline in RUN_DIR/funnel/STAGE, as nos compare writes it, gated in seed standard deviations);\n"
      << "--resume continues an interrupted funnel and trains nothing twice.\n\n"
      << options;
}

// The funnel after the search (experiments/funnel.h): each stage's comparison on worker processes (or threads), its
// progress on err, the stages' table on out. Exit 130 when interrupted, 1 when runs crashed (a --resume retries).
int run_funnel_stages(const search::SearchConfig& config, const std::string& run_dir, bool in_process,
                      const dispatch::ProcessPoolFactory& process_pool, const std::string& command, std::ostream& out,
                      std::ostream& err) {
  experiments::FunnelRuntime runtime;
  runtime.context = experiments::machine_context(command, NOS_VERSION);
  runtime.make_pool = [in_process, process_pool](const experiments::CompareConfig& cc) {
    experiments::WorkerSetup workers;
    workers.in_process = in_process;
    workers.process_pool = process_pool;
    workers.cache_dir = resolve_cache_dir(cc.cache_dir);
    return experiments::make_worker_pool(cc, workers);
  };
  runtime.stop = &g_stop_requested;
  runtime.on_progress = [&err](const experiments::CompareProgress& p) {
    err << experiments::progress_line(p) << "\n" << std::flush;
  };
  runtime.on_stage = [&err](const std::string& line) { err << line << "\n" << std::flush; };
  experiments::FunnelResult result;
  {
    StopOnSignals signals;
    result = experiments::run_funnel(config, run_dir, runtime);
  }
  for (const std::string& note : result.notes) err << "note: " << note << "\n";
  if (result.interrupted) {
    err << "interrupted: finished funnel runs are kept in " << run_dir << "/funnel; continue with: nos search --resume "
        << run_dir << "\n";
    return kExitInterrupted;
  }
  print_funnel(result.rows, out);
  if (result.failed > 0) {
    err << "nos search: " << result.failed << " funnel run(s) crashed (see " << run_dir
        << "/funnel/*/workers.log); the funnel stopped at that stage. 'nos search --resume " << run_dir
        << "' retries them.\n";
    return 1;
  }
  return kExitOk;
}

po::options_description search_options() {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"), "YAML search config (default: the demo config)")
      ("run-dir", po::value<std::string>()->value_name("DIR"), "the run folder (default: runs/PROPOSER-TIMESTAMP)")
      ("resume", po::value<std::string>()->value_name("RUN_DIR"), "continue the search in RUN_DIR")
      ("rebuild-proposer", po::bool_switch(), "with --resume: ignore a damaged proposer.pt (kept as "
                                              "proposer.pt.damaged) and rebuild the proposer from the stored children")
      ("workers", po::value<std::string>()->value_name("N"), "worker processes (config key workers)")
      ("budget", po::value<std::string>()->value_name("N"), "children in total (config key budget)")
      ("population", po::value<std::string>()->value_name("K"),
       "children a worker trains at once as one stacked model: K or auto (config key task.population)")
      ("seed", po::value<std::string>()->value_name("S"), "the proposer's seed (config key seed)")
      ("fec-cache", po::value<std::string>()->value_name("PATH"),
       "the equivalence cache: run, none, or a cache file shared by runs (config key fec_cache)")
      ("top", po::value<std::string>()->value_name("N")->default_value("10"), "rules to list at the end")
      ("in-process", po::bool_switch(), "evaluate on threads of this process instead of worker processes (no "
                                        "isolation: a crash ends the search, a hung child is not killed)")
      ("rank0-evaluates", po::bool_switch(), "under mpirun/srun: rank 0 also evaluates children, beside the "
                                             "other ranks");
  add_recipe_options(options);
  return options;
}

const std::string* search_flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
}

// --resume: the recorded config; search::check_resume_flags refuses the flags a resume cannot change.
search::SearchConfig resumed_config(const po::variables_map& vm, search::SearchRuntime& runtime) {
  std::vector<std::string> flags;
  for (const char* name : {"config", "run-dir", "seed"}) {
    if (search_flag(vm, name)) flags.push_back(std::string("--") + name);
  }
  tasks::Recipe unused;
  for (const std::string& f : apply_recipe_flags(vm, unused)) flags.push_back(f);
  search::check_resume_flags(flags);
  runtime.run_dir = *search_flag(vm, "resume");
  runtime.rebuild_proposer = vm["rebuild-proposer"].as<bool>();
  return search::run_config(runtime.run_dir);
}

// The data folders, found here once and recorded in the run's config (a resume reads the same data), and the
// element type, so that config.yaml says what the children ran in.
void resolve_run_data(search::SearchConfig& config, const std::string* config_file) {
  const tasks::TaskSpec spec = tasks::parse_task_name(config.task.task);
  if (!spec.dataset.empty()) {
    config.task.data_dir = resolve_data_dir(spec.dataset, config.task.data_dir,
                                            config_file ? "task.data_dir in " + *config_file
                                                        : std::string("task.data_dir in a --config"));
  }
  // And those of fitness tasks on other data sets.
  for (size_t i = 0; i < config.fitness.tasks.size(); ++i) {
    search::FitnessTask& f = config.fitness.tasks[i];
    const std::string dataset = tasks::parse_task_name(f.name()).dataset;
    if (dataset.empty() || dataset == spec.dataset || f.has("data_dir")) continue;
    const std::string dir = resolve_data_dir(dataset, "", "fitness.tasks[" + std::to_string(i) + "].data_dir");
    if (dir.empty()) continue;
    f.settings.data_dir = dir;
    f.keys.push_back("data_dir");
  }
  if (config.task.dtype.empty()) config.task.dtype = spec.analytic ? "float64" : "float32";
}

// A new search: the config file (or the demo) with --seed and the recipe flags, and its run folder.
search::SearchConfig fresh_config(const po::variables_map& vm, search::SearchRuntime& runtime) {
  if (vm["rebuild-proposer"].as<bool>()) throw UserError("--rebuild-proposer goes with --resume RUN_DIR");
  const std::string* file = search_flag(vm, "config");
  search::SearchConfig config = file ? search::load_config(*file)
                                     : search::parse_config(search::demo_config_yaml(), "embedded demo config");
  if (const std::string* v = search_flag(vm, "seed")) config.seed = whole_flag<uint64_t>(*v, "--seed", 0);
  if (!apply_recipe_flags(vm, config.task.recipe).empty()) {
    search::validate(config, file ? *file + " (with the flags)" : std::string("the flags"));
  }
  runtime.run_dir = search_flag(vm, "run-dir") ? *search_flag(vm, "run-dir") : default_run_dir(config.proposer);
  resolve_run_data(config, file);
  return config;
}

// The flags a start and a resume both take.
void apply_run_flags(const po::variables_map& vm, search::SearchConfig& config) {
  if (const std::string* v = search_flag(vm, "workers")) config.workers = whole_flag<int>(*v, "--workers");
  if (const std::string* v = search_flag(vm, "budget")) config.budget = whole_flag<int64_t>(*v, "--budget");
  if (const std::string* v = search_flag(vm, "population")) {
    config.task.population = parsed_at("--population", [&] { return parse_whole_or_auto<int>(*v, 1, 4096); });
  }
  if (const std::string* v = search_flag(vm, "fec-cache")) {
    if (v->empty()) throw UserError("--fec-cache: expected run, none or the path of a cache file");
    config.fec_cache = *v;
  }
}

// The progress line on err: rewritten in place on a terminal, and a line kept per batch.
std::function<void(const search::Progress&)> progress_printer(std::ostream& err) {
  const bool tty = &err == &std::cerr && isatty(STDERR_FILENO);
  return [&err, tty](const search::Progress& p) {
    const double hit_rate = p.done > 0 ? 100.0 * static_cast<double>(p.cache_hits) / static_cast<double>(p.done) : 0;
    std::ostringstream line;
    line << "[search] " << p.done << "/" << p.budget << " children, best " << fixed(p.best_reward, 4)
         << ", cache hits " << p.cache_hits << " (" << std::fixed << std::setprecision(0) << hit_rate << "%)";
    if (p.eta_seconds > 0) line << ", ETA " << duration(p.eta_seconds);
    if (p.batch_end) {
      // A line per batch stays on screen: the mean reward per batch is how one sees the proposer learn.
      err << (tty ? "\r\033[K" : "") << line.str() << ", batch " << p.batch << " mean " << fixed(p.batch_mean, 4)
          << "\n" << std::flush;
    } else if (tty) {
      err << "\r\033[K" << line.str() << std::flush;
    }
  };
}

// The finished search: its totals, leaderboard and crash warnings. Returns the exit status so far.
int print_search_result(const search::SearchResult& result, const search::SearchConfig& config,
                        const std::string& run_dir, int top, std::ostream& out, std::ostream& err) {
  out << "search done: " << result.children << " children (" << result.evaluated << " trained in "
      << duration(result.seconds) << " this session), run folder " << run_dir << "\n";
  if (result.max_trained_reached) {
    out << "stopped at max_trained (" << config.max_trained << " children trained) before the budget of "
        << config.budget << " proposals; raise max_trained and --resume to go on\n";
  }
  if (top > 0) {
    print_run_summary(search::summarize_run(run_dir), out);
    print_leaderboard(search::leaderboard(run_dir, top), out);
  }
  // A crashed child is a bug in nos (a worker died), not a low reward: a run in which every trained child crashed
  // has measured nothing, and says so with the internal error's exit status.
  if (result.crashed > 0 && result.crashed == result.trained) {
    err << "nos search: every trained child (" << result.crashed << ") crashed, so this search measured nothing; "
        << "that is a bug in nos, not a reward (see " << run_dir << "/workers.log, and please report it)\n";
    return kExitInternalError;
  }
  if (result.crashed > 0) {
    err << "warning: " << result.crashed << " of " << result.trained << " trained children crashed (status crashed, "
        << "reward 0; see " << run_dir << "/workers.log): a bug in nos, please report it\n";
  }
  return kExitOk;
}

}  // namespace

int search_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options = search_options();
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_search_help(out, options);
    return kExitOk;
  }
  // Under mpirun or srun, ranks other than 0 only evaluate the children rank 0 sends them.
  const bool rank0_evaluates = vm["rank0-evaluates"].as<bool>();
  const bool in_process = vm["in-process"].as<bool>();
  const std::unique_ptr<dispatch::MpiSession> mpi = start_mpi(in_process, rank0_evaluates);
  if (mpi && mpi->rank() != 0) return dispatch::mpi_serve(*mpi);
  const int top = whole_flag<int>(vm["top"].as<std::string>(), "--top", 0);

  search::SearchRuntime runtime;
  const bool resume = vm.count("resume") > 0;
  search::SearchConfig config = resume ? resumed_config(vm, runtime) : fresh_config(vm, runtime);
  apply_run_flags(vm, config);
  if (config.task.population != 1) {
    const std::string alone = tasks::population_alone_reason(search::make_request(config.task));
    if (!alone.empty()) err << "note: task.population has no effect here, every child trains alone: " << alone << "\n";
  }
  runtime.worker_executable = in_process ? std::string() : own_executable();
  if (mpi) runtime.process_pool = mpi_pool_factory(*mpi, rank0_evaluates);
  runtime.cache_dir = resolve_cache_dir(config.task.cache_dir);
  runtime.nos_version = NOS_VERSION;
  runtime.stop = &g_stop_requested;
  runtime.on_progress = progress_printer(err);
  // This process only proposes and prefilters; one thread keeps the controller reproducible and the cores free
  // for the workers.
  at::set_num_threads(1);

  err << (resume ? "resuming " : "search: ") << config.proposer << " on " << config.task.task << ", budget "
      << config.budget << " children, " << config.workers << " workers, run folder " << runtime.run_dir << "\n";
  search::SearchResult result;
  {
    StopOnSignals signals;
    result = resume ? search::resume_search(config, runtime) : search::start_search(config, runtime);
  }
  for (const std::string& note : result.notes) err << "note: " << note << "\n";
  if (result.interrupted) {
    err << "\ninterrupted: " << result.children << " children stored in " << runtime.run_dir
        << "; continue with: nos search --resume " << runtime.run_dir << "\n";
    return kExitInterrupted;
  }
  const int status = print_search_result(result, config, runtime.run_dir, top, out, err);
  if (status != kExitOk || config.funnel.empty()) return status;
  return run_funnel_stages(config, runtime.run_dir, in_process, runtime.process_pool, command_line("nos search", args),
                           out, err);
}

}  // namespace nos::cli
