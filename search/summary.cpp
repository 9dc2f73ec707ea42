// A run folder's summary and leaderboard, read from its store (read-only, so it works while the search writes).
#include "search/summary.h"

#include <algorithm>
#include <limits>
#include <set>

#include "search/config.h"
#include "search/run.h"

namespace nos::search {

RunSummary summarize_run(const std::string& run_dir) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  RunSummary s;
  s.run_dir = run_dir;
  const SearchConfig config =
      parse_config(store.meta("config").value_or(""), store_path(run_dir) + " (recorded config)");
  s.proposer = config.proposer;
  s.task = config.task.task;
  s.budget = config.budget;
  const StoreCounts counts = store.counts();
  s.children = counts.total;
  s.cache_hits = counts.cached;
  s.by_status = counts.by_status;
  const std::vector<Evaluation> rows = store.all();
  // Rewards normalised by a fitness baseline may all be negative.
  if (!rows.empty()) s.best_reward = -std::numeric_limits<double>::infinity();
  for (const Evaluation& e : rows) {
    s.best_reward = std::max(s.best_reward, e.reward);
    if (e.cached && e.message.rfind(kSameUpdatesPrefix, 0) == 0) ++s.equivalence_hits;
  }
  // Quarters of the children in proposal order: does the proposer get better as it learns?
  const size_t quarter = rows.size() / 4;
  if (quarter > 0) {
    double first = 0, last = 0;
    for (size_t i = 0; i < quarter; ++i) {
      first += rows[i].reward;
      last += rows[rows.size() - quarter + i].reward;
    }
    s.first_quarter_mean = first / static_cast<double>(quarter);
    s.last_quarter_mean = last / static_cast<double>(quarter);
  }
  s.repeats_by_batch = repeats_by_batch(rows);
  std::set<std::string> seen;
  int64_t late = 0, late_repeats = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const bool repeat = note_repeat(seen, rows[i]);
    s.repeats += repeat;
    if (i >= rows.size() / 2) {
      ++late;
      late_repeats += repeat;
    }
  }
  if (rows.size() >= 2) s.second_half_repeats = static_cast<double>(late_repeats) / static_cast<double>(late);
  return s;
}

bool note_repeat(std::set<std::string>& seen, const Evaluation& e) {
  return !e.canonical.empty() && !seen.insert(e.canonical).second;
}

std::vector<std::pair<int64_t, int64_t>> repeats_by_batch(const std::vector<Evaluation>& rows) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::set<std::string> seen;
  for (const Evaluation& e : rows) {
    if (out.empty() || out.back().first != e.batch) out.emplace_back(e.batch, 0);
    out.back().second += note_repeat(seen, e);
  }
  return out;
}

std::vector<Leader> leaderboard(const std::string& run_dir, int n) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  return store.leaderboard(n);
}

std::vector<FunnelRow> funnel_rows(const std::string& run_dir) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  return store.funnel();
}

}  // namespace nos::search
