// The command dispatcher: picks the subcommand, prints help and version, turns exceptions into exit codes.
#include "cli/cli.h"

#include <torch/version.h>

#include <algorithm>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/executable.h"
#include "common/text.h"
#include "dsl/error.h"

#ifndef NOS_VERSION
#define NOS_VERSION "unknown"
#endif

namespace nos::cli {

namespace po = boost::program_options;

namespace {

struct Command {
  const char* name;
  const char* usage;
  const char* summary;
  int (*run)(const Args&, std::ostream&, std::ostream&);
  bool listed = true;  // false: not in `nos help`'s list (the worker, which nos search starts), still runnable
};

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"rule", "rule TEXT", "parse a rule; print its canonical form, tokens, hash and state", rule_command},
      {"rules", "rules", "list the named rules with their text", rules_command},
      {"export", "export RULE --to T", "write a rule as a PyTorch optimizer, a CUDA kernel or a C++ header",
       export_command},
      {"eval", "eval [options]", "run a rule on an objective or a child network (no options: PowerSign on Rosenbrock)",
       eval_command},
      {"bench", "bench NAME", "measure nos; the benchmarks:", bench_command},
      {"search", "search [options]", "search for rules (no options: the demo search); --resume RUN_DIR continues",
       search_command},
      {"top", "top RUN_DIR", "the leaderboard of a search run, -n N rules (works while it runs)", top_command},
      {"compare", "compare [options]", "rules side by side: lr tuned per rule, K seeds, CSV/Markdown/plot report",
       compare_command},
      {"learn", "learn --config FILE", "meta-train the LSTM optimizer (Andrychowicz et al. 2016) and evaluate it",
       learn_command},
      {"version", "version", "print the version of nos and of LibTorch", version_command},
      {"worker", "worker", "the evaluation process nos search and nos compare start", worker_command, false},
  };
  return table;
}

const Command* find_command(const std::string& name) {
  for (const Command& c : commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

void print_help(std::ostream& out) {
  out << "nos - neural optimizer search (Bello et al. 2017)\n\n"
      << "Usage: nos COMMAND [options]\n\n"
      << "Commands:\n";
  for (const Command& c : commands()) {
    if (!c.listed) continue;
    std::string usage = c.usage;
    usage.resize(std::max<size_t>(usage.size() + 2, 18), ' ');
    out << "  " << usage << c.summary << "\n";
    // The benchmarks, from their registry, under their command.
    if (std::string(c.name) == "bench") {
      for (const Benchmark& b : benchmarks()) {
        std::string name = std::string("  bench ") + b.name;
        name.resize(std::max<size_t>(name.size() + 2, 18), ' ');
        out << "  " << name << b.summary << "\n";
      }
    }
  }
  out << "  help [COMMAND]    show this help, or a command's (nos help bench step: a benchmark's)\n\n"
      << "Run 'nos COMMAND --help' for a command's options.\n";
}

// Message text with exactly one trailing newline.
std::string line(const std::string& message) {
  return !message.empty() && message.back() == '\n' ? message : message + "\n";
}

int dispatch(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    print_help(err);
    return kExitUserError;
  }
  const std::string& name = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (name == "help" || name == "--help" || name == "-h") {
    if (rest.empty()) {
      print_help(out);
      return kExitOk;
    }
    // `nos help CMD [SUB...]` is `nos CMD [SUB...] --help` (`nos help bench step`).
    const Command* command = find_command(rest[0]);
    if (command == nullptr) throw UserError("unknown command '" + rest[0] + "'; run 'nos help' for the list");
    Args help_args(rest.begin() + 1, rest.end());
    help_args.push_back("--help");
    return command->run(help_args, out, err);
  }
  if (name == "--version") return version_command({}, out, err);
  const Command* command = find_command(name);
  if (command == nullptr) throw UserError("unknown command '" + name + "'; run 'nos help' for the list");
  return command->run(rest, out, err);
}

}  // namespace

std::unique_ptr<dispatch::MpiSession> start_mpi(bool in_process, bool rank0_evaluates) {
  const int ranks = dispatch::mpi_launched_ranks();
  if (ranks <= 1) {
    if (rank0_evaluates) throw UserError("--rank0-evaluates: this process was not started by mpirun or srun");
    return nullptr;
  }
  if (in_process) throw UserError("--in-process cannot run under MPI (" + std::to_string(ranks) + " ranks)");
  if (!dispatch::mpi_built()) {
    throw UserError("started by an MPI launcher with " + std::to_string(ranks) +
                    " ranks, but this nos was built without MPI: install libopenmpi-dev and openmpi-bin (as "
                    "scripts/setup.sh does) and build again");
  }
  return std::make_unique<dispatch::MpiSession>();
}

dispatch::ProcessPoolFactory mpi_pool_factory(dispatch::MpiSession& session, bool rank0_evaluates) {
  return [&session, rank0_evaluates](const dispatch::ProcessPoolOptions& o) {
    dispatch::MpiPoolOptions m;
    m.worker = o;
    m.rank0_evaluates = rank0_evaluates;
    return dispatch::make_mpi_pool(session, m);
  };
}

void add_setting_options(po::options_description& options, const std::vector<std::string>& keys,
                         const tasks::TrainingSettings& defaults, const std::map<std::string, std::string>& help) {
  for (const std::string& key : keys) {
    const tasks::SettingField& f = tasks::setting_field(key);
    const std::string flag = tasks::setting_flag(key).substr(2);
    const std::string value = f.text(defaults);
    const auto own = help.find(key);
    const std::string doc = own != help.end() ? own->second + " (" + key + ")"
                                              : std::string(f.doc) + " (" + key +
                                                    (value.empty() ? "" : "; default " + value) + ")";
    if (*f.value_name == '\0') {
      options.add_options()(flag.c_str(), po::bool_switch(), doc.c_str());
    } else {
      options.add_options()(flag.c_str(), po::value<std::string>()->value_name(f.value_name), doc.c_str());
    }
  }
}

std::vector<std::string> apply_setting_flags(const po::variables_map& vm, const std::vector<std::string>& keys,
                                             tasks::TrainingSettings& settings) {
  std::vector<std::string> given;
  for (const std::string& key : keys) {
    const std::string flag = tasks::setting_flag(key);
    if (!vm.count(flag.substr(2)) || vm[flag.substr(2)].defaulted()) continue;
    const tasks::SettingField& f = tasks::setting_field(key);
    std::string text;
    if (*f.value_name == '\0') {
      if (!vm[flag.substr(2)].as<bool>()) continue;
      text = "true";
    } else {
      text = vm[flag.substr(2)].as<std::string>();
    }
    try {
      tasks::set_setting(settings, key, text);
    } catch (const UserError& e) {
      throw UserError(flag + ": " + e.what());
    }
    given.push_back(flag);
  }
  return given;
}

std::string setting_key_of_flag(const std::string& flag) {
  std::string key = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

void add_recipe_options(po::options_description& options) {
  add_setting_options(options, tasks::recipe_keys(), tasks::TrainingSettings());
}

std::vector<std::string> apply_recipe_flags(const po::variables_map& vm, tasks::Recipe& recipe) {
  tasks::TrainingSettings settings;
  settings.recipe = recipe;
  std::vector<std::string> given = apply_setting_flags(vm, tasks::recipe_keys(), settings);
  recipe = settings.recipe;
  return given;
}

po::variables_map parse_options(const Args& args, const po::options_description& options,
                                const po::positional_options_description& positional) {
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  // A command without positional arguments collects stray ones here, so the message can name them.
  const char* const kStray = "stray-arguments";
  po::options_description all;
  all.add(options);
  po::positional_options_description all_positional = positional;
  if (positional.max_total_count() == 0) {
    all.add_options()(kStray, po::value<std::vector<std::string>>());
    all_positional.add(kStray, -1);
  }
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(all_positional).style(style).run(), vm);
  if (vm.count(kStray)) {
    throw UserError("unexpected argument '" + vm[kStray].as<std::vector<std::string>>().front() +
                    "' (this command takes options only)");
  }
  po::notify(vm);
  return vm;
}

int version_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    out << "Usage: nos version\n\nPrints the version of nos and of the LibTorch it was built with.\n\n" << options;
    return kExitOk;
  }
  out << "nos " << NOS_VERSION << " (LibTorch " << TORCH_VERSION << ")\n";
  return kExitOk;
}

std::vector<std::vector<std::string>> help_topics() {
  std::vector<std::vector<std::string>> topics;
  for (const Command& c : commands()) {
    topics.push_back({c.name});
    if (std::string(c.name) == "bench") {
      for (const std::string& b : benchmark_names()) topics.push_back({c.name, b});
    }
  }
  return topics;
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Args args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  const std::string command = args.empty() ? std::string() : args[0];
  try {
    return dispatch(args, out, err);
  } catch (...) {
    return report_error(std::current_exception(), command, err);
  }
}

int report_error(const std::exception_ptr& error, const std::string& command, std::ostream& err) {
  try {
    std::rethrow_exception(error);
  } catch (const dsl::RuleError& e) {
    err << line(e.what());
    return kExitUserError;
  } catch (const UserError& e) {
    err << "nos " << (find_command(command) ? command + ": " : std::string()) << "error: " << line(e.what());
    return kExitUserError;
  } catch (const po::error& e) {
    err << "nos " << command << ": error: " << e.what() << "\n"
        << "Run 'nos " << command << " --help' for usage.\n";
    return kExitUserError;
  } catch (const InternalError& e) {
    err << "nos: " << line(e.what());
    return kExitInternalError;
  } catch (const std::exception& e) {
    err << "nos: internal error (a bug in nos): " << line(e.what());
    return kExitInternalError;
  } catch (...) {
    err << "nos: internal error (a bug in nos): unknown exception\n";
    return kExitInternalError;
  }
}

std::string command_line(const std::string& command, const std::vector<std::string>& args) {
  std::string text = command;
  for (const std::string& a : args) {
    const bool plain = a.find_first_of(" \t'\"*()|&;<>$`\\,") == std::string::npos && !a.empty();
    text += " " + (plain ? a : shell_quote(a));
  }
  return text;
}

std::string own_executable() {
  const std::string path = executable_path();
  if (path.empty()) throw UserError("cannot find the nos executable (/proc/self/exe) to start workers; use --in-process");
  return path;
}

}  // namespace nos::cli
