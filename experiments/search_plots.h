// `nos top --plot DIR RUN...`: PNGs of search runs (gnuplot) with their data and script, for reading discovery.
#pragma once

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
std::vector<std::string> write_search_plots(const std::vector<PlottedRun>& runs, const std::string& out_dir,
                                            const std::string& gnuplot);

}  // namespace nos::experiments
