// The search's store: every evaluation, per-batch summaries and the run's metadata in RUN_DIR/search.db (SQLite).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tasks/status.h"

struct sqlite3;

namespace nos::search {

// One row of `evaluations`: one slot of one batch.
struct Evaluation {
  int64_t id = 0;        // assigned by insert()
  int64_t batch = 0;
  int64_t slot = 0;      // position in the batch
  std::string proposer;  // "controller", "random", "evolution" (and the proposal's origin after a colon)
  std::string tokens;
  std::string rule;       // infix of the tokens as proposed ("" when invalid)
  std::string canonical;  // canonical text ("" when invalid)
  std::string hash;       // dsl::hash_hex of the canonical rule ("" when invalid)
  double reward = 0;      // what the proposer was given
  double hurdle_acc = std::numeric_limits<double>::quiet_NaN();  // tasks::EvalRecord::hurdle_acc (NULL: none)
  double val_acc = 0;     // NaN (NULL) when not measured
  double test_acc = 0;
  double lr = 0;
  tasks::Status status = tasks::Status::kOk;  // ok, hurdle, diverged, timeout, crashed, invalid, rejected
  std::string message;
  bool cached = false;  // the reward was reused from an earlier evaluation of the same canonical rule
  double seconds = 0;
  int worker = -1;      // the worker that evaluated it; -1 when none did (cached, invalid, rejected)
  std::string time;     // UTC, ISO 8601, when it was stored
};

// One row of `batches`, written when a batch's feedback has been given.
struct BatchSummary {
  int64_t batch = 0;
  int64_t children = 0;     // children done by the end of this batch, in total
  double mean_reward = 0;   // over this batch
  double best_so_far = 0;
  int64_t cache_hits = 0;   // in this batch
  double seconds = 0;       // wall time of this batch
};

// A leaderboard line: one canonical rule.
struct Leader {
  std::string canonical;
  std::string hash;
  double best_reward = 0;
  int64_t count = 0;     // times proposed (cache hits included)
  tasks::Status status = tasks::Status::kOk;  // of its best evaluation
  double val_acc = 0, test_acc = 0, lr = 0;
  std::string tokens;    // of its best evaluation
};

// One row of `funnel`: one rule in one stage of funnel selection (experiments/funnel.h), written when the stage
// ends. Accuracies are over the seeds with status ok (NaN when none).
struct FunnelRow {
  int64_t stage = 0;       // from 0, in the config's order
  std::string stage_name;
  int64_t position = 0;    // 0 = the best by mean validation accuracy; the baseline comes after the candidates
  std::string rule;        // what ran: a candidate's canonical text, or the baseline as configured
  bool baseline = false;
  double val_mean = std::numeric_limits<double>::quiet_NaN();
  double val_std = std::numeric_limits<double>::quiet_NaN();
  double test_mean = std::numeric_limits<double>::quiet_NaN();
  double test_std = std::numeric_limits<double>::quiet_NaN();
  double lr = std::numeric_limits<double>::quiet_NaN();
  int64_t seeds_ok = 0;
  double threshold = std::numeric_limits<double>::quiet_NaN();  // the gate: beat this mean (NaN: no gate)
  bool passed = false;
  bool promoted = false;   // entered the next stage
};

// Counts over the whole store.
struct StoreCounts {
  int64_t total = 0;
  int64_t cached = 0;
  std::map<std::string, int64_t> by_status;
};

// Opens or creates the database (WAL journal, so readers such as `nos top` work while a search writes). Every write
// is its own committed transaction. Throws nos::UserError for a file that cannot be opened or is not a nos store.
class Store {
 public:
  enum class Mode { kCreate, kOpen, kReadOnly };  // kCreate fails if the file exists; kOpen if it does not
  Store(const std::string& path, Mode mode);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }

  void set_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key) const;

  // Inserts a row and sets its id; a second row for the same (batch, slot) is a bug (InternalError). A full disk
  // is a UserError saying what to do (free space, then resume); the rows stored before it stay.
  void insert(Evaluation& e);
  // For tests: the database may not grow beyond its present size (SQLite's max_page_count), as on a full disk.
  void limit_size_for_testing();
  // The rows of one batch, by slot.
  std::map<int64_t, Evaluation> batch(int64_t batch) const;
  // The first evaluation (not a cache hit) of a canonical hash.
  std::optional<Evaluation> find_hash(const std::string& hash) const;
  // Every row in (batch, slot) order.
  std::vector<Evaluation> all() const;
  // The hurdle accuracies of the children in batches before `batch` that carry one: those trained in this run and
  // those a shared equivalence cache answered for (a rule reused within the run carries none): what its hurdle is
  // taken from.
  std::vector<double> hurdle_accuracies(int64_t batch) const;

  // Keeps the first summary written for a batch (a resumed run replays a finished batch's feedback).
  void put_batch(const BatchSummary& b);
  std::vector<BatchSummary> batches() const;

  std::vector<Leader> leaderboard(int n) const;

  // Brings the rows' canonical text and hash to dsl::kCanonicalVersion when the store records an older one (a store
  // from before issue 36 records none: version 1), in one transaction, and records the version. The rows' rule and
  // tokens (what was proposed) are untouched. Returns the number of rows changed. A resumed search calls it.
  int64_t upgrade_canonical_form();

  // Replaces the rows of one funnel stage, in one transaction.
  void put_funnel_stage(int64_t stage, const std::vector<FunnelRow>& rows);
  // Every funnel row in (stage, position) order; none in a store written before funnels existed.
  std::vector<FunnelRow> funnel() const;
  StoreCounts counts() const;

 private:
  // Rethrows a failed write: a full disk as the UserError insert() describes, anything else as `other`.
  [[noreturn]] void write_failed(const std::string& what, const std::exception& other) const;

  std::string path_;
  std::string columns_;  // the columns read_row reads, as a SELECT list
  sqlite3* db_ = nullptr;
};

// Brings the canonical texts of `table` (a column canonical; with_hash: and its hash column) to today's canonical
// form (dsl::recanonicalized), inside the caller's transaction; returns the rows changed. The store and the shared
// equivalence cache use it on files written under an older dsl::kCanonicalVersion.
int64_t recanonicalize_rows(sqlite3* db, const std::string& table, bool with_hash);

// The meta key holding the canonical form's version (dsl::kCanonicalVersion) the rows were written under.
inline constexpr const char* kCanonicalVersionKey = "canonical_version";

// How a cached row's message begins when it reuses the reward of a rule with another text and the same probe
// fingerprint (search/equivalence.h); a row reusing the same canonical rule says "same rule as batch B slot S".
inline constexpr const char* kSameUpdatesPrefix = "same updates as ";

// The current time, UTC, ISO 8601 with seconds ("2024-05-01T12:34:56Z").
std::string utc_now();

}  // namespace nos::search
