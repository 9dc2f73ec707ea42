// `nos top RUN_DIR...`: a run's summary and its leaderboard of canonical rules, readable while the search runs.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "common/text.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "common/json.h"
#include "cli/search_report.h"
#include "common/error.h"
#include "common/files.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "experiments/machine.h"
#include "experiments/search_plots.h"
#include "search/summary.h"

namespace nos::cli {

namespace po = boost::program_options;
using experiments::csv_field;
using experiments::csv_number;

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

// One run as one JSON object: its summary, its leaderboard (best first) and its funnel rows.
JsonObject run_json(const search::RunSummary& s, const std::vector<search::Leader>& leaders,
                    const std::vector<search::FunnelRow>& funnel) {
  JsonObject statuses;
  for (const auto& [status, count] : s.by_status) statuses.add_int(status, count);
  JsonObject summary;
  summary.add_string("proposer", s.proposer)
      .add_string("task", s.task)
      .add_int("budget", s.budget)
      .add_int("children", s.children)
      .add_int("cache_hits", s.cache_hits)
      .add_int("equivalence_hits", s.equivalence_hits)
      .add_object("statuses", statuses)
      .add_number("best_reward", s.best_reward)
      .add_number("first_quarter_mean", s.first_quarter_mean)
      .add_number("last_quarter_mean", s.last_quarter_mean)
      .add_int("repeats", s.repeats)
      .add_number("second_half_repeats", s.second_half_repeats);
  std::vector<JsonObject> per_batch;
  for (const auto& [batch, count] : s.repeats_by_batch) {
    JsonObject o;
    o.add_int("batch", batch).add_int("repeats", count);
    per_batch.push_back(o);
  }
  summary.add_objects("repeats_by_batch", per_batch);
  std::vector<JsonObject> board;
  int rank = 0;
  for (const search::Leader& l : leaders) {
    JsonObject o;
    o.add_int("rank", ++rank)
        .add_string("rule", l.canonical)
        .add_string("hash", l.hash)
        .add_number("reward", l.best_reward)
        .add_number("val_acc", l.val_acc)
        .add_number("test_acc", l.test_acc)
        .add_number("lr", l.lr)
        .add_int("count", l.count)
        .add_string("status", tasks::status_text(l.status))
        .add_string("tokens", l.tokens);
    board.push_back(o);
  }
  std::vector<JsonObject> stages;
  for (const search::FunnelRow& r : funnel) {
    JsonObject o;
    o.add_int("stage", r.stage + 1)
        .add_string("stage_name", r.stage_name)
        .add_int("position", r.position + 1)
        .add_string("rule", r.rule)
        .add_bool("baseline", r.baseline)
        .add_number("val_mean", r.val_mean)
        .add_number("val_std", r.val_std)
        .add_number("test_mean", r.test_mean)
        .add_number("test_std", r.test_std)
        .add_number("lr", r.lr)
        .add_int("seeds_ok", r.seeds_ok)
        .add_number("threshold", r.threshold)
        .add_bool("passed", r.passed)
        .add_bool("promoted", r.promoted);
    stages.push_back(o);
  }
  JsonObject run;
  run.add_string("run_dir", s.run_dir).add_object("summary", summary).add_objects("leaderboard", board).add_objects(
      "funnel", stages);
  return run;
}

// DIR/summary.csv, DIR/leaderboard.csv and DIR/funnel.csv: one row per run, per (run, rank), per (run, stage, rule).
void write_csvs(const std::string& dir, const std::vector<search::RunSummary>& summaries,
                const std::vector<std::vector<search::Leader>>& boards,
                const std::vector<std::vector<search::FunnelRow>>& funnels) {
  std::string summary = "run_dir,proposer,task,budget,children,cache_hits,equivalence_hits,best_reward,"
                        "first_quarter_mean,last_quarter_mean,statuses,repeats,second_half_repeats\n";
  std::string board = "run_dir,rank,rule,hash,reward,val_acc,test_acc,lr,count,status,tokens\n";
  std::string funnel = "run_dir,stage,stage_name,position,rule,baseline,val_mean,val_std,test_mean,test_std,lr,"
                       "seeds_ok,threshold,passed,promoted\n";
  for (size_t i = 0; i < summaries.size(); ++i) {
    const search::RunSummary& s = summaries[i];
    std::string statuses;
    for (const auto& [status, count] : s.by_status) {
      statuses += (statuses.empty() ? "" : " ") + status + "=" + std::to_string(count);
    }
    summary += csv_field(s.run_dir) + "," + csv_field(s.proposer) + "," + csv_field(s.task) + "," +
               std::to_string(s.budget) + "," + std::to_string(s.children) + "," + std::to_string(s.cache_hits) + "," +
               std::to_string(s.equivalence_hits) + "," + csv_number(s.best_reward) + "," +
               csv_number(s.first_quarter_mean) + "," + csv_number(s.last_quarter_mean) + "," + csv_field(statuses) +
               "," + std::to_string(s.repeats) + "," + csv_number(s.second_half_repeats) + "\n";
    int rank = 0;
    for (const search::Leader& l : boards[i]) {
      board += csv_field(s.run_dir) + "," + std::to_string(++rank) + "," + csv_field(l.canonical) + "," + l.hash +
               "," + csv_number(l.best_reward) + "," + csv_number(l.val_acc) + "," + csv_number(l.test_acc) + "," +
               csv_number(l.lr) + "," + std::to_string(l.count) + "," + csv_field(tasks::status_text(l.status)) + "," +
               csv_field(l.tokens) + "\n";
    }
    for (const search::FunnelRow& r : funnels[i]) {
      funnel += csv_field(s.run_dir) + "," + std::to_string(r.stage + 1) + "," + csv_field(r.stage_name) + "," +
                std::to_string(r.position + 1) + "," + csv_field(r.rule) + "," + (r.baseline ? "1" : "0") + "," +
                csv_number(r.val_mean) + "," + csv_number(r.val_std) + "," + csv_number(r.test_mean) + "," +
                csv_number(r.test_std) + "," + csv_number(r.lr) + "," + std::to_string(r.seeds_ok) + "," +
                csv_number(r.threshold) + "," + (r.passed ? "1" : "0") + "," + (r.promoted ? "1" : "0") + "\n";
    }
  }
  experiments::make_directories(dir);
  write_atomically(dir + "/summary.csv", summary);
  write_atomically(dir + "/leaderboard.csv", board);
  write_atomically(dir + "/funnel.csv", funnel);
}

void print_top_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos top [GROUP=]RUN_DIR... [-n N] [--plot DIR] [--json] [--csv DIR]\n\n"
      << "Prints a search run's summary (children, cache hits, statuses, mean reward of the first and last\n"
      << "quarter) and its leaderboard: one line per canonical rule with its best reward, the test accuracy and lr\n"
      << "of that evaluation, how often it was proposed and its status. Works while the search runs. With several\n"
      << "run folders (e.g. one per proposer at equal budget) it prints a comparison first. --plot DIR writes\n"
      << "best_so_far.png (the best reward among the first k proposals, per proposer: the mean over its runs\n"
      << "with a band from the lowest to the highest) and rewards.png (every child's reward by batch), with\n"
      << "their data files and plots.gp, into DIR, and funnel.png when a run has funnel stages. A run given as\n"
      << "GROUP=RUN_DIR joins the curve GROUP (default: its proposer's). A run with a funnel also gets a table per\n"
      << "stage: each rule's validation and test accuracy (mean ± sd over its seeds), lr, seeds and gate.\n"
      << "For scripts: --json prints one JSON object per run and line (run_dir, summary, leaderboard, funnel),\n"
      << "--csv DIR writes the same as three CSV files. A found rule is also taken as @RUN_DIR:#K wherever a\n"
      << "rule is (nos export, eval, rule, compare).\n\n"
      << options;
}

// Several runs (e.g. one per proposer at equal budget): one line each, before their own tables.
void print_run_comparison(const std::vector<search::RunSummary>& summaries, std::ostream& out) {
  out << "proposer    children  best    mean 1st q  mean last q  cache hits  run\n";
  for (const search::RunSummary& s : summaries) {
    out << padded(s.proposer, 10) << "  " << padded(std::to_string(s.children), 8, true) << "  "
        << fixed(s.best_reward, 4) << "  " << padded(fixed(s.first_quarter_mean, 4), 10, true) << "  "
        << padded(fixed(s.last_quarter_mean, 4), 11, true) << "  "
        << padded(std::to_string(s.cache_hits), 10, true) << "  " << s.run_dir << "\n";
  }
  out << "\n";
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
        << padded(std::to_string(l.count), 5, true) << "  " << padded(tasks::status_text(l.status), 8) << "  " << l.canonical << "\n";
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
  if (std::isfinite(s.second_half_repeats)) {
    // The last 10 batches' counts: a collapsing proposer shows as rising numbers.
    out << "  repeats (a rule proposed earlier in the run): " << s.repeats << ", second half "
        << fixed(100 * s.second_half_repeats, 1) << "%; per batch, last "
        << std::min<size_t>(10, s.repeats_by_batch.size()) << ":";
    const size_t from = s.repeats_by_batch.size() > 10 ? s.repeats_by_batch.size() - 10 : 0;
    for (size_t i = from; i < s.repeats_by_batch.size(); ++i) out << " " << s.repeats_by_batch[i].second;
    out << "\n";
  }
}

int top_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("n,n", po::value<int>()->default_value(20)->value_name("N"), "how many rules to list per run")
      ("plot", po::value<std::string>()->value_name("DIR"),
       "also write PNGs (gnuplot) into DIR: best-so-far per proposer, rewards per batch, funnel stages")
      ("json", po::bool_switch(), "print one JSON object per run instead (summary, leaderboard, funnel rows)")
      ("csv", po::value<std::string>()->value_name("DIR"),
       "also write DIR/summary.csv, DIR/leaderboard.csv and DIR/funnel.csv (every run given)")
      ("run-dir", po::value<std::vector<std::string>>()->value_name("RUN_DIR"), "run folders");
  po::positional_options_description positional;
  positional.add("run-dir", -1);
  po::variables_map vm = parse_options(args, options, positional);
  if (vm.count("help")) {
    print_top_help(out, options);
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
  std::vector<std::vector<search::Leader>> boards;
  std::vector<std::vector<search::FunnelRow>> funnels;
  for (const std::string& dir : dirs) {
    summaries.push_back(search::summarize_run(dir));
    boards.push_back(search::leaderboard(dir, n));
    funnels.push_back(search::funnel_rows(dir));
  }
  if (vm.count("csv")) write_csvs(vm["csv"].as<std::string>(), summaries, boards, funnels);
  if (vm["json"].as<bool>()) {
    if (vm.count("plot")) throw UserError("--json and --plot do not go together: --plot prints where it wrote");
    for (size_t i = 0; i < dirs.size(); ++i) out << run_json(summaries[i], boards[i], funnels[i]).str() << "\n";
    return kExitOk;
  }
  if (dirs.size() > 1) print_run_comparison(summaries, out);
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (i > 0) out << "\n";
    print_run_summary(summaries[i], out);
    print_leaderboard(boards[i], out);
    print_funnel(funnels[i], out);
  }
  if (vm.count("plot")) {
    const std::string dir = vm["plot"].as<std::string>();
    for (const std::string& note : experiments::write_search_plots(plotted, dir, experiments::find_on_path("gnuplot"))) {
      err << "note: " << note << "\n";
    }
    // Only the PNGs that exist now are named: without gnuplot only the data files and plots.gp are written.
    std::string drawn;
    for (const char* png : {"best_so_far.png", "rewards.png", "funnel.png"}) {
      if (experiments::exists(dir + "/" + png)) drawn += (drawn.empty() ? "" : ", ") + dir + "/" + png;
    }
    out << "\nplots: " << (drawn.empty() ? "none drawn (the data files and plots.gp are in " + dir + ")" : drawn)
        << "\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
