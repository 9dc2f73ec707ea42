// `nos top --plot DIR RUN...`: PNGs of search runs (gnuplot) with their data and script, for reading discovery.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nos::experiments {

// A run folder and the group its curve belongs to ("" groups it by its proposer).
struct PlottedRun {
  std::string group;
  std::string dir;
};

// Writes into out_dir, for the run folders given:
//   best_so_far.dat / best_so_far.png — the best reward among the first k proposals, k = 1..n, per group: the
//     mean over the group's runs with a band from the lowest to the highest run (one run: its curve);
//   rewards.dat / rewards.png — every child's reward against its batch, one colour per run;
//   funnel.dat / funnel.png — when a run has funnel stages: each stage's rules, mean validation accuracy with one
//     seed sd as a bar, the baseline as a square;
//   plots.gp — the gnuplot script (run from out_dir: gnuplot plots.gp).
// gnuplot is run when `gnuplot` is not empty. Returns notes (no gnuplot, gnuplot failed); a run folder that is
// not a search run is a UserError.
// The best-so-far plot's y range: the curves' values from the 25% point of the longest on, padded by 5% (the
// first proposals' low bests would otherwise stretch the axis to 0 and flatten where the proposers differ).
// valid is false when no value is finite.
struct PlotRange {
  bool valid = false;
  double lo = 0, hi = 0;
};
PlotRange best_so_far_range(const std::vector<std::vector<double>>& curves);

// The step of whole-number ticks from 0 to `largest` (1, 2, 5, 10, 20, 50 ...): at most 10 intervals.
int64_t whole_tick_step(int64_t largest);

std::vector<std::string> write_search_plots(const std::vector<PlottedRun>& runs, const std::string& out_dir,
                                            const std::string& gnuplot);

}  // namespace nos::experiments
