// What `nos top` and the end of `nos search` print about a run folder: its summary and leaderboard.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <ostream>
#include <string>

namespace nos::cli {

struct RunSummary {
  std::string run_dir;
  std::string proposer;
  std::string task;
  int64_t budget = 0;
  int64_t children = 0;
  int64_t cache_hits = 0;
  std::map<std::string, int64_t> by_status;
  double best_reward = 0;
  // Mean reward over the first and the last quarter of the children in proposal order (NaN below 4 children).
  double first_quarter_mean = std::numeric_limits<double>::quiet_NaN();
  double last_quarter_mean = std::numeric_limits<double>::quiet_NaN();
};

// Reads the run's store (read-only, so it works while the search writes). Throws UserError when there is none.
RunSummary summarize_run(const std::string& run_dir);
void print_run_summary(const RunSummary& summary, std::ostream& out);
// The `n` best canonical rules as a table.
void print_leaderboard(const std::string& run_dir, int n, std::ostream& out);

}  // namespace nos::cli
