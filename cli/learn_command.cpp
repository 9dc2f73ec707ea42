// `nos learn`: meta-trains the LSTM optimizer into a run folder (resumable), then evaluates it (experiments/learn.h).
#include <ATen/Parallel.h>
#include <unistd.h>

#include <iostream>
#include <ostream>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "common/error.h"
#include "common/text.h"
#include "experiments/learn.h"

namespace nos::cli {

namespace po = boost::program_options;

int learn_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"),
       "YAML learn config; its keys are in docs/commands.md#learn-config-keys")
      ("out", po::value<std::string>()->value_name("DIR"), "the run folder (config key out); rerun to resume")
      ("episodes", po::value<std::string>()->value_name("N"), "meta-training episodes (config key episodes)")
      ("evaluate-only", po::bool_switch(), "skip meta-training: evaluate the folder's best.pt")
      ("threads", po::value<std::string>()->value_name("N"),
       "intra-op threads (default: LibTorch's; results can differ in the last bits between counts)");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    out << "Usage: nos learn --config FILE [--out DIR] [--episodes N] [--evaluate-only] [--threads N]\n\n"
        << "Meta-trains the coordinatewise LSTM optimizer of Andrychowicz et al. 2016 by truncated backpropagation\n"
        << "through unrolled optimization on a problem family (family: quadratic, the paper's random quadratics, or\n"
        << "mlp, small MLPs on Fashion-MNIST), keeping the network with the best meta-validation loss in DIR/best.pt,\n"
        << "then evaluates it against hand-designed optimizers (each at its best lr) on held-out instances (and, for\n"
        << "mlp, on the generalization architectures): DIR/report.md, evaluation.csv, loss_per_step*.csv, loss.png.\n"
        << "DIR/checkpoint.pt is replaced every validate_every episodes: rerunning the command resumes the run.\n"
        << "A trained network is an optimizer for any loop: optimizers::load_lstm_net(PATH) and LstmOptimizer.\n\n"
        << "Examples: nos learn --config configs/learn-quadratic.yaml --out runs/learn\n"
        << "          nos learn --config configs/learn-fmnist.yaml --out runs/learn-fmnist\n\n"
        << options;
    return kExitOk;
  }
  if (!vm.count("config")) throw UserError("nos learn needs --config FILE (e.g. configs/learn-quadratic.yaml)");
  experiments::LearnConfig config = experiments::load_learn_config(vm["config"].as<std::string>());
  if (vm.count("out")) config.out = vm["out"].as<std::string>();
  if (vm.count("episodes")) config.episodes = whole_flag<int64_t>(vm["episodes"].as<std::string>(), "--episodes");
  if (config.out.empty()) throw UserError("no run folder: give --out DIR (or the config key out)");
  if (vm.count("threads")) at::set_num_threads(whole_flag<int>(vm["threads"].as<std::string>(), "--threads", 1, 1024));
  if (!vm["evaluate-only"].as<bool>()) {
    experiments::LearnRuntime runtime;
    runtime.stop = &g_stop_requested;
    const bool tty = &err == &std::cerr && isatty(STDERR_FILENO);
    runtime.on_progress = [&err, tty](const experiments::LearnProgress& p) {
      std::ostringstream line;
      line << "[learn] episode " << p.episode << "/" << p.episodes << ", meta-loss " << fixed(p.meta_loss, 4)
           << (p.val_loss >= 0 ? ", validation " + fixed(p.val_loss, 4) : std::string())
           << (p.best_val >= 0 ? ", best " + fixed(p.best_val, 4) : std::string()) << ", " << duration(p.seconds)
           << ", ETA " << duration(p.eta_seconds);
      err << (tty ? "\r\033[K" : "") << line.str() << (tty ? "" : "\n") << std::flush;
    };
    experiments::LearnResult result;
    {
      StopOnSignals signals;
      result = experiments::learn(config, runtime);
    }
    if (tty) err << "\n";
    if (result.interrupted) {
      err << "interrupted after episode " << result.episodes_done << ": the same command resumes from "
          << config.out << "/checkpoint.pt\n";
      return kExitInterrupted;
    }
    out << "meta-training done: " << result.episodes_done << " episodes, best validation loss "
        << fixed(result.best_val, 4) << " (" << result.best_path << ")\n";
  }
  out << "report: " << experiments::evaluate_learned(config) << "\n";
  return kExitOk;
}

}  // namespace nos::cli
