// Search-run plots: best-so-far per proposer (mean and band over runs) and rewards per batch, through gnuplot.
#include "experiments/search_plots.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "experiments/machine.h"
#include "experiments/plots.h"
#include "experiments/report.h"
#include "search/run.h"
#include "search/store.h"
#include "search/summary.h"

namespace nos::experiments {

namespace {

struct RunData {
  std::string dir, proposer;
  std::vector<search::Evaluation> rows;  // in proposal order
  std::vector<search::FunnelRow> funnel;
};

// funnel.dat: one block per run with a funnel: stage (from 1, candidates spread around it by rank), mean and sd
// of the validation accuracy, 1 for the baseline, and the rule. Empty when no run has a funnel.
std::string funnel_data(const std::vector<RunData>& runs) {
  std::ostringstream d;
  bool any = false;
  d << "# x (stage + offset by rank) val_mean val_sd baseline rule; one block per run with a funnel\n";
  for (const RunData& r : runs) {
    if (r.funnel.empty()) continue;
    any = true;
    d << "# " << r.dir << "\n";
    for (const search::FunnelRow& f : r.funnel) {
      const double x = static_cast<double>(f.stage + 1) + (f.baseline ? 0.0 : 0.05 * static_cast<double>(f.position + 1));
      d << x << " " << (std::isfinite(f.val_mean) ? csv_number(f.val_mean) : "NaN") << " "
        << (std::isfinite(f.val_std) ? csv_number(f.val_std) : "0") << " " << (f.baseline ? 1 : 0) << " "
        << gnuplot_string(f.rule) << "\n";
    }
    d << "\n\n";
  }
  return any ? d.str() : std::string();
}

// The funnel.png part of the script: each run's candidates with error bars (one seed sd), its baselines as squares.
std::string funnel_script(const std::vector<RunData>& runs) {
  int64_t stages = 0;
  for (const RunData& r : runs) {
    for (const search::FunnelRow& f : r.funnel) stages = std::max(stages, f.stage + 1);
  }
  std::ostringstream gp;
  gp << "set output \"funnel.png\"\nset title \"funnel: mean validation accuracy per stage (bars: one seed sd; "
        "squares: the baseline)\"\nset xlabel \"stage\"\nset ylabel \"validation accuracy\"\nset xtics 1\n"
     << "set autoscale y\nset key outside right top\nset xrange [0.7:" << stages + 0.9 << "]\n"
     << "set offsets 0, 0, graph 0.05, graph 0.05\n"  // room right of the last stage for its labels
     << "plot \\\n";
  size_t block = 0;
  std::vector<std::string> parts;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].funnel.empty()) continue;
    const std::string index = " index " + std::to_string(block++);
    parts.push_back("  \"funnel.dat\"" + index + " using 1:($4 == 0 ? $2 : NaN):3 with yerrorbars pt 7 lc rgb \"" +
                    std::string(plot_color(i)) + "\" title " + gnuplot_string(runs[i].dir));
    parts.push_back("  \"funnel.dat\"" + index + " using 1:($4 == 1 ? $2 : NaN) with points pt 5 ps 1.5 lc rgb \"" +
                    std::string(plot_color(i)) + "\" notitle");
    // Each point names its rule (the baseline's label in bold would need enhanced text: a "baseline:" prefix).
    parts.push_back("  \"funnel.dat\"" + index +
                    " using 1:2:($4 == 1 ? \"baseline: \".strcol(5) : strcol(5)) with labels left offset 0.8,0 "
                    "font \",8\" tc rgb \"" + std::string(plot_color(i)) + "\" notitle");
  }
  for (size_t i = 0; i < parts.size(); ++i) gp << parts[i] << (i + 1 < parts.size() ? ", \\\n" : "\n");
  return gp.str();
}

// The best reward among the first k proposals, k = 1..n.
std::vector<double> best_so_far(const std::vector<search::Evaluation>& rows) {
  std::vector<double> out;
  double best = -std::numeric_limits<double>::infinity();  // rewards normalised by a baseline may be negative
  for (const search::Evaluation& e : rows) {
    best = std::max(best, e.reward);
    out.push_back(best);
  }
  return out;
}

}  // namespace

PlotRange best_so_far_range(const std::vector<std::vector<double>>& curves) {
  size_t longest = 0;
  for (const std::vector<double>& c : curves) longest = std::max(longest, c.size());
  // From the 25% point on: the first proposals' low bests (a diverged first child scores 0.1) would stretch the
  // axis down to them and flatten the band where the proposers differ.
  const size_t from = longest / 4;
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  for (const std::vector<double>& c : curves) {
    for (size_t k = std::min(from, c.empty() ? 0 : c.size() - 1); k < c.size(); ++k) {
      if (!std::isfinite(c[k])) continue;
      lo = std::min(lo, c[k]);
      hi = std::max(hi, c[k]);
    }
  }
  if (!std::isfinite(lo)) return {};
  const double pad = std::max(0.05 * (hi - lo), 1e-3);
  return {true, lo - pad, hi + pad};
}

int64_t whole_tick_step(int64_t largest) {
  // 1 2 5 10 20 50 100 ...: the first with at most 10 intervals up to the largest batch.
  for (int64_t decade = 1;; decade *= 10) {
    for (int64_t m : {1, 2, 5}) {
      if ((largest + m * decade - 1) / (m * decade) <= 10) return m * decade;  // intervals, rounded up
    }
  }
}

namespace {

// The gnuplot script: best_so_far.png (a band and a line per group) and rewards.png (points per run).
std::string plot_script(const std::vector<std::string>& proposers,
                        const std::map<std::string, std::vector<std::vector<double>>>& curves,
                        const std::vector<RunData>& runs) {
  std::vector<std::vector<double>> all;
  for (const auto& [group, c] : curves) all.insert(all.end(), c.begin(), c.end());
  const PlotRange y = best_so_far_range(all);
  int64_t last_batch = 0;
  for (const RunData& r : runs) {
    for (const search::Evaluation& e : r.rows) last_batch = std::max(last_batch, e.batch);
  }
  std::ostringstream gp;
  gp << "# Made by nos top --plot. Run from this folder: gnuplot plots.gp\n"
     << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
     << "  set terminal pngcairo size 1000,640 noenhanced font \",11\"\n"
     << "} else {\n"
     << "  set terminal png size 1000,640 noenhanced\n"
     << "}\n"
     << "set key outside right top\nset grid\nset style fill transparent solid 0.15 noborder\n"
     << "set output \"best_so_far.png\"\nset title \"best reward so far (mean over runs, band: lowest to highest; y axis: from 25% of the proposals on)\"\n"
     << "set xlabel \"proposals\"\nset ylabel \"reward\"\n"
     << (y.valid ? "set yrange [" + csv_number(y.lo) + ":" + csv_number(y.hi) + "]  # the data from the 25% point\n"
                 : std::string())
     << "plot \\\n";
  for (size_t i = 0; i < proposers.size(); ++i) {
    const int mean = 2 + 3 * static_cast<int>(i);
    gp << "  \"best_so_far.dat\" using 1:" << mean + 1 << ":" << mean + 2 << " with filledcurves lc rgb \""
       << plot_color(i) << "\" notitle, \\\n"
       << "  \"best_so_far.dat\" using 1:" << mean << " with lines lw 2 lc rgb \"" << plot_color(i) << "\" title "
       << gnuplot_string(proposers[i] + " (" + std::to_string(curves.at(proposers[i]).size()) + " runs)")
       << (i + 1 < proposers.size() ? ", \\\n" : "\n");
  }
  gp << "set output \"rewards.png\"\nset title \"reward of every child by batch\"\nset xlabel \"batch\"\n"
     << "set autoscale y\nset key below\nset xtics 0, " << whole_tick_step(last_batch) << "\nset mxtics 1\nset format x \"%.0f\"\n"
     << "plot \\\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    gp << "  \"rewards.dat\" index " << i << " using 1:2 with points pt 7 ps 0.5 lc rgb \"" << plot_color(i)
       << "\" title " << gnuplot_string(runs[i].dir) << (i + 1 < runs.size() ? ", \\\n" : "\n");
  }
  return gp.str();
}

}  // namespace

std::vector<std::string> write_search_plots(const std::vector<PlottedRun>& plotted, const std::string& out_dir,
                                            const std::string& gnuplot) {
  std::vector<RunData> runs;
  for (const PlottedRun& p : plotted) {
    const std::string& dir = p.dir;
    RunData r;
    r.dir = dir;
    const std::string proposer = search::summarize_run(dir).proposer;  // a UserError when it is no search run
    r.proposer = p.group.empty() ? proposer : p.group;
    search::Store store(search::store_path(dir), search::Store::Mode::kReadOnly);
    r.rows = store.all();
    r.funnel = store.funnel();
    std::sort(r.rows.begin(), r.rows.end(), [](const search::Evaluation& a, const search::Evaluation& b) {
      return a.batch != b.batch ? a.batch < b.batch : a.slot < b.slot;
    });
    runs.push_back(std::move(r));
  }
  make_directories(out_dir);
  // Best so far per proposer: columns k, then mean min max per proposer (in order of first appearance).
  std::vector<std::string> proposers;
  std::map<std::string, std::vector<std::vector<double>>> curves;
  size_t longest = 0;
  for (const RunData& r : runs) {
    if (curves.find(r.proposer) == curves.end()) proposers.push_back(r.proposer);
    curves[r.proposer].push_back(best_so_far(r.rows));
    longest = std::max(longest, r.rows.size());
  }
  std::ostringstream best;
  best << "# best reward among the first k proposals; per group: mean min max over its runs (runs:";
  for (const std::string& p : proposers) best << " " << p << " " << curves[p].size();
  best << ")\n# k";
  for (const std::string& p : proposers) best << " " << p << "_mean " << p << "_min " << p << "_max";
  best << "\n";
  for (size_t k = 0; k < longest; ++k) {
    best << k + 1;
    for (const std::string& p : proposers) {
      std::vector<double> at;
      for (const std::vector<double>& c : curves[p]) {
        if (k < c.size()) at.push_back(c[k]);
      }
      const Stat s = stat_of(at);
      if (s.n == 0) {
        best << " NaN NaN NaN";
      } else {
        best << " " << csv_number(s.mean) << " " << csv_number(s.min) << " " << csv_number(s.max);
      }
    }
    best << "\n";
  }
  write_atomically(out_dir + "/best_so_far.dat", best.str());
  // Rewards per batch: one block per run (blank-line separated, gnuplot's index).
  std::ostringstream rewards;
  rewards << "# batch reward, one block per run (gnuplot index i = run i)\n";
  for (const RunData& r : runs) {
    rewards << "# " << r.dir << " (" << r.proposer << ")\n";
    for (const search::Evaluation& e : r.rows) rewards << e.batch << " " << csv_number(e.reward) << "\n";
    rewards << "\n\n";
  }
  write_atomically(out_dir + "/rewards.dat", rewards.str());
  const std::string funnel = funnel_data(runs);
  std::string script = plot_script(proposers, curves, runs);
  if (!funnel.empty()) {
    write_atomically(out_dir + "/funnel.dat", funnel);
    script += funnel_script(runs);
  }
  write_atomically(out_dir + "/plots.gp", script);
  if (gnuplot.empty()) return {"gnuplot is not installed: the data and plots.gp are written, the PNGs are not"};
  const std::string command =
      "cd " + shell_quote(out_dir) + " && " + shell_quote(gnuplot) + " plots.gp > gnuplot.log 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) {
    return {"gnuplot failed (exit status " + std::to_string(status) + "): see " + out_dir + "/gnuplot.log"};
  }
  return {};
}

}  // namespace nos::experiments
