// `nos top RUN_DIR...`: a run's summary and its leaderboard of canonical rules, readable while the search runs.
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "common/text.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/search_report.h"
#include "common/error.h"
#include "experiments/machine.h"
#include "experiments/search_plots.h"
#include "search/summary.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

std::string general(double x) {
  if (!std::isfinite(x)) return "-";
  std::ostringstream s;
  s << std::setprecision(3) << x;
  return s.str();
}

std::string padded(std::string text, size_t width, bool right = false) {
  if (text.size() >= width) return text;
  return right ? std::string(width - text.size(), ' ') + text : text + std::string(width - text.size(), ' ');
}

}  // namespace

void print_leaderboard(const std::vector<search::Leader>& leaders, std::ostream& out) {
  if (leaders.empty()) {
    out << "  (no rules stored yet)\n";
    return;
  }
  out << "  rank  reward  test_acc  lr      count  status    rule\n";
  int rank = 0;
  for (const search::Leader& l : leaders) {
    out << "  " << padded(std::to_string(++rank), 4, true) << "  " << fixed(l.best_reward, 4) << "  "
        << padded(fixed(l.test_acc, 4), 8) << "  " << padded(general(l.lr), 6) << "  "
        << padded(std::to_string(l.count), 5, true) << "  " << padded(l.status, 8) << "  " << l.canonical << "\n";
  }
}

void print_funnel(const std::vector<search::FunnelRow>& rows, std::ostream& out) {
  auto stat = [](double mean, double sd) {
    if (!std::isfinite(mean)) return std::string("-");
    return fixed(mean, 4) + (std::isfinite(sd) ? " ± " + fixed(sd, 4) : std::string());
  };
  int64_t stage = -1;
  for (const search::FunnelRow& r : rows) {
    if (r.stage != stage) {
      stage = r.stage;
      out << "funnel stage " << stage + 1 << " '" << r.stage_name << "':\n"
          << "  rank  val_acc            test_acc           lr      seeds  gate               rule\n";
    }
    std::string gate = r.baseline ? "baseline" : r.passed ? "passed" : "failed";
    if (!r.baseline && std::isfinite(r.threshold)) gate += " (> " + fixed(r.threshold, 4) + ")";
    if (r.promoted) gate += ", next";
    out << "  " << padded(r.baseline ? "-" : std::to_string(r.position + 1), 4, true) << "  "
        << padded(stat(r.val_mean, r.val_std), 17) << "  " << padded(stat(r.test_mean, r.test_std), 17) << "  "
        << padded(general(r.lr), 6) << "  " << padded(std::to_string(r.seeds_ok), 5, true) << "  " << padded(gate, 17)
        << "  " << r.rule << "\n";
  }
}

void print_run_summary(const search::RunSummary& s, std::ostream& out) {
  out << "run " << s.run_dir << ": " << s.proposer << " on " << s.task << ", " << s.children << "/" << s.budget
      << " children, best reward " << fixed(s.best_reward, 4) << "\n";
  out << "  cache hits " << s.cache_hits << " ("
      << fixed(s.children > 0 ? 100.0 * static_cast<double>(s.cache_hits) / static_cast<double>(s.children) : 0.0, 1)
      << "%: " << s.cache_hits - s.equivalence_hits << " same text, " << s.equivalence_hits << " same updates)";
  for (const auto& [status, count] : s.by_status) out << ", " << status << " " << count;
  out << "\n";
  if (std::isfinite(s.first_quarter_mean)) {
    out << "  mean reward: first quarter " << fixed(s.first_quarter_mean, 4) << ", last quarter "
        << fixed(s.last_quarter_mean, 4) << "\n";
  }
}

int top_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("n,n", po::value<int>()->default_value(20)->value_name("N"), "how many rules to list per run")
      ("plot", po::value<std::string>()->value_name("DIR"),
       "also write PNGs (gnuplot) into DIR: best-so-far per proposer, rewards per batch, funnel stages")
      ("run-dir", po::value<std::vector<std::string>>()->value_name("RUN_DIR"), "run folders");
  po::positional_options_description positional;
  positional.add("run-dir", -1);
  po::variables_map vm = parse_options(args, options, positional);
  if (vm.count("help")) {
    out << "Usage: nos top [GROUP=]RUN_DIR... [-n N] [--plot DIR]\n\n"
        << "Prints a search run's summary (children, cache hits, statuses, mean reward of the first and last\n"
        << "quarter) and its leaderboard: one line per canonical rule with its best reward, the test accuracy and lr\n"
        << "of that evaluation, how often it was proposed and its status. Works while the search runs. With several\n"
        << "run folders (e.g. one per proposer at equal budget) it prints a comparison first. --plot DIR writes\n"
        << "best_so_far.png (the best reward among the first k proposals, per proposer: the mean over its runs\n"
        << "with a band from the lowest to the highest) and rewards.png (every child's reward by batch), with\n"
        << "their data files and plots.gp, into DIR, and funnel.png when a run has funnel stages. A run given as\n"
        << "GROUP=RUN_DIR joins the curve GROUP (default: its proposer's). A run with a funnel also gets a table per\n"
        << "stage: each rule's validation and test accuracy (mean ± sd over its seeds), lr, seeds and gate.\n\n"
        << options;
    return kExitOk;
  }
  if (!vm.count("run-dir")) throw UserError("give a run folder: nos top RUN_DIR");
  const int n = vm["n"].as<int>();
  if (n < 1) throw UserError("-n: expected a number >= 1");
  // GROUP=RUN_DIR names the curve a run belongs to in --plot (runs of one group are averaged).
  std::vector<experiments::PlottedRun> plotted;
  std::vector<std::string> dirs;
  for (const std::string& arg : vm["run-dir"].as<std::vector<std::string>>()) {
    const size_t eq = arg.find('=');
    experiments::PlottedRun r{"", arg};
    if (eq != std::string::npos && eq > 0) r = {arg.substr(0, eq), arg.substr(eq + 1)};
    plotted.push_back(r);
    dirs.push_back(r.dir);
  }
  std::vector<search::RunSummary> summaries;
  for (const std::string& dir : dirs) summaries.push_back(search::summarize_run(dir));
  if (dirs.size() > 1) {
    out << "proposer    children  best    mean 1st q  mean last q  cache hits  run\n";
    for (const search::RunSummary& s : summaries) {
      out << padded(s.proposer, 10) << "  " << padded(std::to_string(s.children), 8, true) << "  "
          << fixed(s.best_reward, 4) << "  " << padded(fixed(s.first_quarter_mean, 4), 10, true) << "  "
          << padded(fixed(s.last_quarter_mean, 4), 11, true) << "  "
          << padded(std::to_string(s.cache_hits), 10, true) << "  " << s.run_dir << "\n";
    }
    out << "\n";
  }
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (i > 0) out << "\n";
    print_run_summary(summaries[i], out);
    print_leaderboard(search::leaderboard(dirs[i], n), out);
    print_funnel(search::funnel_rows(dirs[i]), out);
  }
  if (vm.count("plot")) {
    const std::string dir = vm["plot"].as<std::string>();
    for (const std::string& note : experiments::write_search_plots(plotted, dir, experiments::find_on_path("gnuplot"))) {
      err << "note: " << note << "\n";
    }
    bool funnel = false;
    for (const std::string& d : dirs) funnel = funnel || !search::funnel_rows(d).empty();
    out << "\nplots: " << dir << "/best_so_far.png, " << dir << "/rewards.png"
        << (funnel ? ", " + dir + "/funnel.png" : std::string()) << "\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
