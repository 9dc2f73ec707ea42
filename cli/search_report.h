// What `nos top` and the end of `nos search` print about a run folder: its summary and leaderboard.
#pragma once

#include <ostream>
#include <vector>

#include "search/summary.h"

namespace nos::cli {

void print_run_summary(const search::RunSummary& summary, std::ostream& out);
// The leaders as a table (rank, reward, test accuracy, lr, count, status, rule).
void print_leaderboard(const std::vector<search::Leader>& leaders, std::ostream& out);
// The funnel's stages (nothing when there are none): per stage each rule's mean ± sd validation and test accuracy
// over its ok seeds, its lr, the gate's threshold and verdict, and whether it went on; the baseline last.
void print_funnel(const std::vector<search::FunnelRow>& rows, std::ostream& out);

}  // namespace nos::cli
