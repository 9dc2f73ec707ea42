// `nos bench search`: its flags and its printing; bench::run_search_bench runs the stages (bench/search_bench.h).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/data_paths.h"
#include "cli/stop_signals.h"
#include "common/error.h"
#include "common/text.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

void print_search_bench_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench search [--dir DIR] [--budget N] [--workers K] [--stages S1,S2,...] [options]\n\n"
      << "Runs the same search (the proposer, its seed and a budget of proposals) once per stage on a pinned\n"
      << "proxy (fmnist-convnet, 4,000 training and 2,000 validation images, one epoch at the best lr of\n"
      << "0.001, 0.01, 0.1, 1), each stage adding one mechanism to the one before:\n"
      << "  off      a same-text cache, the Beale prefilter, every child's test accuracy (nos before them)\n"
      << "  fec      + the run-local equivalence cache (rules with the same probe fingerprint train once)\n"
      << "  probe    + the probe checks (not finite, constant, pointing away from the gradient)\n"
      << "  notest   + no test pass (task.test_accuracy false: the reward is the validation accuracy)\n"
      << "  halving  + successive halving over the lr grid\n"
      << "  hurdle   + hurdles (the search's defaults)\n"
      << "and prints per stage: proposals, children trained, equivalence and same-text hits, rejections by\n"
      << "reason, hurdles, training seconds (one thread per child) and the factor against off, the best reward and\n"
      << "rule. Then the quality checks: the best rules of the first and last stage and the last stage's merged\n"
      << "pairs (a rule that reused the reward of another with the same updates) retrained with the full protocol\n"
      << "on each seed, mean and standard deviation. Every run folder and re-evaluation is kept under DIR: the\n"
      << "same command continues an interrupted benchmark and prints a finished one again without training.\n\n"
      << options;
}

// A number in [0, 100], all of `text`.
double parse_percentile(const std::string& text, const std::string& where) {
  char* end = nullptr;
  const double x = text.empty() ? std::nan("") : std::strtod(text.c_str(), &end);
  if (std::isnan(x) || end != text.c_str() + text.size() || x < 0 || x > 100) {
    throw UserError(where + ": expected a number in [0, 100], got '" + text + "'");
  }
  return x;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string mean_sd(const std::vector<double>& v) { return bench::mean_sd_text(v); }

void print_result(std::ostream& out, const bench::SearchBenchOptions& o, const bench::SearchBenchResult& r) {
  out << "bench search: " << o.proposer << " proposer, seed " << o.seed << ", " << o.budget << " proposals, "
      << o.workers << " workers; fmnist-convnet, train 4000, validation 2000, lr grid 0.001,0.01,0.1,1\n\n";
  out << "| stage | proposals | trained | same-update hits | same-text hits | rejected | hurdles | invalid | "
         "diverged | training s | factor | search wall s | best reward | best rule |\n"
      << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const double base = r.stages.empty() ? 0 : r.stages.front().training_seconds;
  for (const bench::StageFigures& s : r.stages) {
    std::string rejected;
    int64_t total = 0;
    for (const auto& [why, n] : s.rejected) {
      rejected += (rejected.empty() ? "" : ", ") + why + " " + std::to_string(n);
      total += n;
    }
    out << "| " << s.stage << " | " << s.proposals << " | " << s.trained << " | " << s.equivalence_hits << " | "
        << s.text_hits << " | " << total << (rejected.empty() ? "" : " (" + rejected + ")") << " | " << s.hurdles
        << " | " << s.invalid << " | " << s.diverged << " | " << nos::fixed(s.training_seconds, 0) << " | "
        << (s.training_seconds > 0 ? nos::fixed(base / s.training_seconds, 2) + "x" : std::string("-")) << " | "
        << nos::fixed(s.wall_seconds, 0) << " | "
        << (s.best_rule.empty() ? std::string("– | none earned a reward")
                                : nos::fixed(s.best_reward, 4) + " | `" + s.best_rule + "`")
        << " |\n";
  }
  if (r.stages.size() > 1) {
    out << "\nfactor per mechanism (training s of the stage before / of the stage):";
    for (size_t i = 1; i < r.stages.size(); ++i) {
      const double before = r.stages[i - 1].training_seconds, now = r.stages[i].training_seconds;
      out << " " << r.stages[i].stage << " " << (now > 0 ? nos::fixed(before / now, 2) + "x" : std::string("-"));
    }
    out << "\n";
  }

  std::string seeds;
  for (uint64_t s : o.seeds) seeds += (seeds.empty() ? "" : ",") + std::to_string(s);
  out << "\nbest rules re-evaluated with the full protocol (no halving, no hurdle), seeds " << seeds << ":\n\n"
      << "| stage | rule | search reward | mean ± sd |\n|---|---|---|---|\n";
  std::map<std::string, std::vector<double>> pooled;
  std::vector<std::string> order;
  for (const bench::Reevaluation& b : r.best) {
    out << "| " << b.stage << " | `" << b.rule << "` | " << nos::fixed(b.search_reward, 4) << " | "
        << mean_sd(b.rewards) << " |\n";
    if (pooled.count(b.stage) == 0) order.push_back(b.stage);
    pooled[b.stage].insert(pooled[b.stage].end(), b.rewards.begin(), b.rewards.end());
  }
  for (const std::string& stage : order) out << "\n" << stage << ": best rules pooled " << mean_sd(pooled[stage]);
  if (o.stages.size() >= 2) {
    const std::string& first = o.stages.front();
    const std::string& last = o.stages.back();
    out << "\n" << bench::quality_verdict(first, pooled[first], last, pooled[last], o.seeds.size()) << "\n";
  } else {
    out << "\n";
  }

  if (!r.pairs.empty()) {
    out << "\nmerged pairs of stage " << o.stages.back() << ", both rules retrained on seeds " << seeds << ":\n\n"
        << "| rule | reused the reward of | rule mean ± sd | other mean ± sd | agree |\n|---|---|---|---|---|\n";
    int agree = 0;
    for (const bench::MergedPair& p : r.pairs) {
      const double gap = std::abs(bench::mean_of(p.rule_rewards) - bench::mean_of(p.same_as_rewards));
      const double spread = std::max(bench::stddev_of(p.rule_rewards), bench::stddev_of(p.same_as_rewards));
      const bool ok = gap <= spread;
      agree += ok;
      const std::string verdict =
          o.seeds.size() < 2 ? "– (one seed)" : ok ? "yes" : "no (gap " + nos::fixed(gap, 4) + ")";
      out << "| `" << p.rule << "` | `" << p.same_as << "` | " << mean_sd(p.rule_rewards) << " | "
          << mean_sd(p.same_as_rewards) << " | " << verdict << " |\n";
    }
    if (o.seeds.size() < 2) {
      out << "\nno agreement verdict with one seed: give --seeds with 2 or more\n";
    } else {
      out << "\n" << agree << " of " << r.pairs.size()
          << " pairs agree (means within the larger of the two seed standard deviations)\n";
    }
  }
}

}  // namespace

int bench_search_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("dir", po::value<std::string>()->value_name("DIR"), "bench folder (default runs/bench-search)")
      ("proposer", po::value<std::string>()->value_name("P"), "random (default), controller or evolution")
      ("budget", po::value<std::string>()->value_name("N"), "proposals per stage (default 400)")
      ("seed", po::value<std::string>()->value_name("S"), "the proposer's seed (default 1)")
      ("workers", po::value<std::string>()->value_name("K"), "worker processes (default 2)")
      ("stages", po::value<std::string>()->value_name("S1,..."), "stages to run, in order (default all six)")
      ("best", po::value<std::string>()->value_name("N"), "best rules re-evaluated per compared stage (default 3)")
      ("seeds", po::value<std::string>()->value_name("N"), "re-evaluation seeds 1..N (default 3)")
      ("pairs", po::value<std::string>()->value_name("N"), "merged pairs retrained (default 20; 0: none)")
      ("hurdle-percentile", po::value<std::string>()->value_name("P"),
       "the hurdle stage's percentile (default 50; another runs in DIR/hurdle-pP)")
      ("data-dir", po::value<std::string>()->value_name("DIR"), "Fashion-MNIST's folder (default: Debian's)");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_search_bench_help(out, options);
    return kExitOk;
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  bench::SearchBenchOptions o;
  o.dir = flag("dir") ? *flag("dir") : "runs/bench-search";
  if (const std::string* v = flag("proposer")) o.proposer = *v;
  if (const std::string* v = flag("budget")) o.budget = whole_flag<int64_t>(*v, "--budget");
  if (const std::string* v = flag("seed")) o.seed = whole_flag<uint64_t>(*v, "--seed", 0);
  if (const std::string* v = flag("workers")) o.workers = whole_flag<int>(*v, "--workers", 1, 1024);
  if (const std::string* v = flag("stages")) o.stages = split_list(*v);
  if (const std::string* v = flag("best")) o.best_rules = whole_flag<int>(*v, "--best");
  if (const std::string* v = flag("seeds")) {
    o.seeds.clear();
    const int64_t n = whole_flag<int64_t>(*v, "--seeds");
    for (int64_t s = 1; s <= n; ++s) o.seeds.push_back(static_cast<uint64_t>(s));
  }
  if (const std::string* v = flag("pairs")) {
    o.pairs = whole_flag<int>(*v, "--pairs", 0);
  }
  if (const std::string* v = flag("hurdle-percentile")) {
    o.hurdle_percentile = parse_percentile(*v, "--hurdle-percentile");
  }
  o.data_dir = resolve_data_dir("fmnist", flag("data-dir") ? *flag("data-dir") : "", "--data-dir");
  o.cache_dir = resolve_cache_dir("");
  o.worker_executable = own_executable();
  o.log = [&err](const std::string& line) { err << line << "\n" << std::flush; };
  StopOnSignals signals;
  o.stop = &g_stop_requested;
  const bench::SearchBenchResult result = bench::run_search_bench(o);
  print_result(out, o, result);
  return kExitOk;
}

}  // namespace nos::cli
