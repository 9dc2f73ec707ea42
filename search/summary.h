// A search run's summary and leaderboard, read from its run folder's store (works while the search runs).
#pragma once

#include <cstdint>
#include <limits>
#include <utility>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "search/store.h"

namespace nos::search {

struct RunSummary {
  std::string run_dir;
  std::string proposer;
  std::string task;
  int64_t budget = 0;
  int64_t children = 0;
  int64_t cache_hits = 0;
  int64_t equivalence_hits = 0;  // of the cache hits, those by probe fingerprint (another canonical text)
  std::map<std::string, int64_t> by_status;
  double best_reward = 0;
  // Mean reward over the first and the last quarter of the children in proposal order (NaN below 4 children).
  double first_quarter_mean = std::numeric_limits<double>::quiet_NaN();
  double last_quarter_mean = std::numeric_limits<double>::quiet_NaN();
  // Repeats: proposals whose canonical rule was proposed earlier in the run (for the controller with resampling,
  // each is a forced repeat: resampling and its escape found no new rule). Per batch in batch order, in total, and
  // the share of the second half of the proposals (NaN below 2 children).
  std::vector<std::pair<int64_t, int64_t>> repeats_by_batch;
  int64_t repeats = 0;
  double second_half_repeats = std::numeric_limits<double>::quiet_NaN();
};

// Whether row `e` repeats a proposal: its canonical rule is in `seen` (the rules of the rows before it, in proposal
// order); an invalid proposal, with no canonical rule, is none. Adds its rule to `seen`.
bool note_repeat(std::set<std::string>& seen, const Evaluation& e);

// Each batch's repeats (note_repeat), from the store's rows in proposal order: (batch, count) for every batch with
// rows.
std::vector<std::pair<int64_t, int64_t>> repeats_by_batch(const std::vector<Evaluation>& rows);

// Reads the run's store (read-only, so it works while the search writes). Throws UserError when there is none.
RunSummary summarize_run(const std::string& run_dir);

// The `n` best canonical rules of the run.
std::vector<Leader> leaderboard(const std::string& run_dir, int n);

// The run's funnel stages finished so far (Store::funnel), in (stage, position) order.
std::vector<FunnelRow> funnel_rows(const std::string& run_dir);

}  // namespace nos::search
