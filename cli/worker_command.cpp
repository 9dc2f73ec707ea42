// `nos worker` (hidden): the evaluation process a search starts; JSON jobs in on stdin, JSON records out on stdout.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/error.h"
#include "dispatch/pool.h"
#include "tasks/evaluator.h"

namespace nos::cli {

namespace po = boost::program_options;

int worker_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("threads", po::value<int>()->default_value(1)->value_name("N"), "intra-op threads per child")
      ("data-dir", po::value<std::vector<std::string>>()->value_name("DATASET=DIR"),
       "where a data set lives (repeatable), e.g. cifar10=/data/cifar10")
      ("cache-dir", po::value<std::string>()->value_name("DIR"), "decoded-image caches");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    out << "Usage: nos worker [--threads N] [--data-dir DATASET=DIR]... [--cache-dir DIR]\n\n"
        << "The evaluation process `nos search` starts (not meant to be run by hand). It first writes the line\n"
        << "{\"ready\":true} (the search counts a child's time limit from there), then reads one job per line on\n"
        << "stdin, a JSON object with the fields of an evaluation request plus \"job\" (an id) and, for tests only,\n"
        << "\"debug\": \"abort\" (the worker aborts: a crashing child) or \"hang\" (it sleeps until killed: a child\n"
        << "past its time limit). For each job it writes one JSON record line on stdout. It ends at end of input.\n\n"
        << options;
    return kExitOk;
  }
  tasks::LocalEvaluatorOptions evaluator_options;
  evaluator_options.threads = vm["threads"].as<int>();
  if (evaluator_options.threads < 1) throw UserError("--threads: expected a number >= 1");
  if (vm.count("data-dir")) {
    for (const std::string& entry : vm["data-dir"].as<std::vector<std::string>>()) {
      const size_t eq = entry.find('=');
      if (eq == std::string::npos || eq == 0) throw UserError("--data-dir: expected DATASET=DIR, got '" + entry + "'");
      evaluator_options.data_dirs[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  if (vm.count("cache-dir")) evaluator_options.cache_dir = vm["cache-dir"].as<std::string>();
  tasks::LocalEvaluator evaluator(evaluator_options);
  return dispatch::serve(std::cin, out, evaluator);
}

}  // namespace nos::cli
