// What `nos top` and the end of `nos search` print about a run folder: its summary and leaderboard.
#pragma once

#include <ostream>
#include <vector>

#include "search/summary.h"

namespace nos::cli {

void print_run_summary(const search::RunSummary& summary, std::ostream& out);
// The leaders as a table (rank, reward, test accuracy, lr, count, status, rule).
void print_leaderboard(const std::vector<search::Leader>& leaders, std::ostream& out);

}  // namespace nos::cli
