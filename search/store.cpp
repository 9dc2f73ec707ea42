// The SQLite store: schema, prepared statements, committed inserts, leaderboard and summary queries.
#include "search/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <ctime>
#include <limits>

#include "common/error.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dsl/parse.h"
#include "search/sqlite_statement.h"

namespace nos::search {

namespace {


constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
  id INTEGER PRIMARY KEY,
  batch INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  proposer TEXT NOT NULL,
  tokens TEXT NOT NULL,
  rule TEXT NOT NULL,
  canonical TEXT NOT NULL,
  hash TEXT NOT NULL,
  reward REAL NOT NULL,
  val_acc REAL,
  hurdle_acc REAL,
  test_acc REAL,
  lr REAL,
  status TEXT NOT NULL,
  message TEXT NOT NULL,
  cached INTEGER NOT NULL,
  seconds REAL NOT NULL,
  worker INTEGER NOT NULL,
  time TEXT NOT NULL,
  UNIQUE (batch, slot)
);
CREATE INDEX IF NOT EXISTS evaluations_hash ON evaluations (hash);
CREATE TABLE IF NOT EXISTS funnel (
  stage INTEGER NOT NULL,
  stage_name TEXT NOT NULL,
  position INTEGER NOT NULL,
  rule TEXT NOT NULL,
  baseline INTEGER NOT NULL,
  val_mean REAL,
  val_std REAL,
  test_mean REAL,
  test_std REAL,
  lr REAL,
  seeds_ok INTEGER NOT NULL,
  threshold REAL,
  passed INTEGER NOT NULL,
  promoted INTEGER NOT NULL,
  PRIMARY KEY (stage, position)
);
CREATE TABLE IF NOT EXISTS batches (
  batch INTEGER PRIMARY KEY,
  children INTEGER NOT NULL,
  mean_reward REAL NOT NULL,
  best_so_far REAL NOT NULL,
  cache_hits INTEGER NOT NULL,
  seconds REAL NOT NULL
);
)sql";

constexpr const char* kColumns =
    "id, batch, slot, proposer, tokens, rule, canonical, hash, reward, val_acc, test_acc, lr, status, message, "
    "cached, seconds, worker, time, hurdle_acc";


Evaluation read_row(const Statement& s) {
  Evaluation e;
  e.id = s.integer(0);
  e.batch = s.integer(1);
  e.slot = s.integer(2);
  e.proposer = s.text(3);
  e.tokens = s.text(4);
  e.rule = s.text(5);
  e.canonical = s.text(6);
  e.hash = s.text(7);
  e.reward = s.real(8);
  e.val_acc = s.real(9);
  e.test_acc = s.real(10);
  e.lr = s.real(11);
  e.status = tasks::stored_status(s.text(12), "evaluation " + std::to_string(e.id));
  e.message = s.text(13);
  e.cached = s.integer(14) != 0;
  e.seconds = s.real(15);
  e.worker = static_cast<int>(s.integer(16));
  e.time = s.text(17);
  e.hurdle_acc = s.real(18);
  return e;
}

}  // namespace

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

Store::Store(const std::string& path, Mode mode) : path_(path), columns_(kColumns) {
  struct stat st{};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (mode == Mode::kCreate && exists) throw UserError(path + ": a search database already exists here");
  if (mode != Mode::kCreate && !exists) throw UserError(path + ": no search database here (is this a run folder?)");
  // A reader opens the file read-write with every statement refused (query_only): SQLite then removes the -wal and
  // -shm files it needs for reading when it closes (a read-only connection leaves them behind, e.g. in a committed
  // run folder). It changes nothing in the database. A file it may not write falls back to a read-only connection.
  const int flags = mode == Mode::kReadOnly ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  // WAL lets `nos top` read while the search writes; FULL sync makes each committed row survive power loss. A
  // reader and the writing search may touch the file at once: they wait for each other rather than fail.
  const std::string setup = mode == Mode::kReadOnly
                                ? std::string("PRAGMA query_only=ON;")
                                : std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;") + kSchema;
  const DatabaseNames names{"search database", "search database", "not a nos search database", ""};
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const bool writable =
      mode != Mode::kReadOnly || (::access(path.c_str(), W_OK) == 0 && ::access(folder.c_str(), W_OK) == 0);
  db_ = open_database(path, writable ? flags : SQLITE_OPEN_READONLY, 10000, setup, names, [&](sqlite3* db) {
    Statement check(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'evaluations'");
    if (!check.step() || check.integer(0) != 1) throw UserError(path + ": not a nos search database");
    // Stores written before hurdles lack their column: a writer adds it, a reader reads NULL for it.
    Statement column(db, "SELECT count(*) FROM pragma_table_info('evaluations') WHERE name = 'hurdle_acc'");
    if (column.step() && column.integer(0) == 0) {
      if (mode == Mode::kReadOnly) {
        columns_ = std::string(kColumns, std::strlen(kColumns) - std::strlen("hurdle_acc")) + "NULL";
      } else {
        Statement(db, "ALTER TABLE evaluations ADD COLUMN hurdle_acc REAL").step();
      }
    }
  });
}

Store::~Store() { sqlite3_close(db_); }

void Store::set_meta(const std::string& key, const std::string& value) {
  Statement s(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  s.bind(1, key).bind(2, value).step();
}

std::optional<std::string> Store::meta(const std::string& key) const {
  Statement s(db_, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

void Store::insert(Evaluation& e) {
  if (e.time.empty()) e.time = utc_now();
  Statement s(db_,
              "INSERT INTO evaluations (batch, slot, proposer, tokens, rule, canonical, hash, reward, val_acc, "
              "test_acc, lr, status, message, cached, seconds, worker, time, hurdle_acc) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, e.batch).bind(2, e.slot).bind(3, e.proposer).bind(4, e.tokens).bind(5, e.rule).bind(6, e.canonical)
      .bind(7, e.hash).bind(8, e.reward).bind(9, e.val_acc).bind(10, e.test_acc).bind(11, e.lr).bind(12, tasks::status_text(e.status))
      .bind(13, e.message).bind(14, static_cast<int64_t>(e.cached)).bind(15, e.seconds)
      .bind(16, static_cast<int64_t>(e.worker)).bind(17, e.time).bind(18, e.hurdle_acc);
  try {
    s.step();
  } catch (const UserError& err) {
    write_failed("storing batch " + std::to_string(e.batch) + " slot " + std::to_string(e.slot),
                 InternalError("storing batch " + std::to_string(e.batch) + " slot " + std::to_string(e.slot) + ": " +
                               err.what()));
  }
  e.id = sqlite3_last_insert_rowid(db_);
}

void Store::write_failed(const std::string& what, const std::exception& other) const {
  const bool full = sqlite3_errcode(db_) == SQLITE_FULL || sqlite3_system_errno(db_) == ENOSPC;
  if (!full) {
    if (const auto* internal = dynamic_cast<const InternalError*>(&other)) throw *internal;
    throw UserError(other.what());
  }
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  throw UserError(path_ + ": " + what + ": the disk is full (SQLite: " + sqlite3_errmsg(db_) +
                  "). Every child stored before this one is kept; free space on the disk holding " + dir +
                  ", then continue with: nos search --resume " + shell_quote(dir));
}

void Store::limit_size_for_testing() {
  char* error = nullptr;
  // max_page_count cannot go below the present size: asking for 1 pins it there.
  const int rc = sqlite3_exec(db_, "PRAGMA max_page_count = 1", nullptr, nullptr, &error);
  const std::string why = error ? error : "";
  sqlite3_free(error);
  NOS_CHECK(rc == SQLITE_OK, "PRAGMA max_page_count: " << why);
}

std::map<int64_t, Evaluation> Store::batch(int64_t batch) const {
  Statement s(db_, ("SELECT " + columns_ + " FROM evaluations WHERE batch = ? ORDER BY slot").c_str());
  s.bind(1, batch);
  std::map<int64_t, Evaluation> out;
  while (s.step()) {
    Evaluation e = read_row(s);
    out.emplace(e.slot, std::move(e));
  }
  return out;
}

std::optional<Evaluation> Store::find_hash(const std::string& hash) const {
  Statement s(db_, ("SELECT " + columns_ +
                    " FROM evaluations WHERE hash = ? AND cached = 0 ORDER BY batch, slot LIMIT 1").c_str());
  s.bind(1, hash);
  if (!s.step()) return std::nullopt;
  return read_row(s);
}

std::vector<double> Store::hurdle_accuracies(int64_t batch) const {
  // Children trained in this run, and those a shared equivalence cache answered for (which carry the accuracy their
  // training had); a rule reused within the run carries none, so it is not counted twice.
  Statement s(db_, "SELECT hurdle_acc FROM evaluations WHERE batch < ? AND hurdle_acc IS NOT NULL "
                   "ORDER BY batch, slot");
  s.bind(1, batch);
  std::vector<double> out;
  while (s.step()) out.push_back(s.real(0));
  return out;
}

std::vector<Evaluation> Store::all() const {
  Statement s(db_, ("SELECT " + columns_ + " FROM evaluations ORDER BY batch, slot").c_str());
  std::vector<Evaluation> out;
  while (s.step()) out.push_back(read_row(s));
  return out;
}

void Store::put_batch(const BatchSummary& b) {
  Statement s(db_,
              "INSERT OR IGNORE INTO batches (batch, children, mean_reward, best_so_far, cache_hits, seconds) "
              "VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, b.batch).bind(2, b.children).bind(3, b.mean_reward).bind(4, b.best_so_far).bind(5, b.cache_hits)
      .bind(6, b.seconds);
  try {
    s.step();
  } catch (const UserError& err) {
    write_failed("storing the summary of batch " + std::to_string(b.batch), err);
  }
}

std::vector<BatchSummary> Store::batches() const {
  Statement s(db_, "SELECT batch, children, mean_reward, best_so_far, cache_hits, seconds FROM batches ORDER BY batch");
  std::vector<BatchSummary> out;
  while (s.step()) {
    BatchSummary b;
    b.batch = s.integer(0);
    b.children = s.integer(1);
    b.mean_reward = s.real(2);
    b.best_so_far = s.real(3);
    b.cache_hits = s.integer(4);
    b.seconds = s.real(5);
    out.push_back(b);
  }
  return out;
}

namespace {

// Runs SQL without results; a failure is a UserError naming the search database.
void exec_sql(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw UserError(std::string("the search database: ") + message);
  }
}

}  // namespace

int64_t recanonicalize_rows(sqlite3* db, const std::string& table, bool with_hash) {
  std::vector<std::string> texts;
  {
    Statement distinct(db, ("SELECT DISTINCT canonical FROM " + table + " WHERE canonical != ''").c_str());
    while (distinct.step()) texts.push_back(distinct.text(0));
  }
  int64_t changed = 0;
  for (const std::string& old : texts) {
    const std::string now = dsl::recanonicalized(old);
    if (now == old) continue;
    // The hash is the canonical text's (dsl::rule_hash): the row now shares its key with the rule it equals.
    Statement update(db, ("UPDATE " + table + " SET canonical = ?" + (with_hash ? ", hash = ?" : "") +
                          " WHERE canonical = ?").c_str());
    update.bind(1, now);
    if (with_hash) update.bind(2, dsl::hash_hex(dsl::rule_hash(dsl::parse(now))));
    update.bind(with_hash ? 3 : 2, old).step();
    changed += sqlite3_changes(db);
  }
  return changed;
}

int64_t Store::upgrade_canonical_form() {
  const std::optional<std::string> recorded = meta(kCanonicalVersionKey);
  const int version = recorded ? std::atoi(recorded->c_str()) : 1;  // stores before issue 36 record none
  if (version >= dsl::kCanonicalVersion) return 0;
  int64_t changed = 0;
  try {
    exec_sql(db_, "BEGIN IMMEDIATE");
    changed = recanonicalize_rows(db_, "evaluations", true);
    set_meta(kCanonicalVersionKey, std::to_string(dsl::kCanonicalVersion));
    exec_sql(db_, "COMMIT");
  } catch (const UserError& err) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    write_failed("bringing the canonical forms up to date", err);
  }
  return changed;
}

void Store::put_funnel_stage(int64_t stage, const std::vector<FunnelRow>& rows) {
  try {
    exec_sql(db_, "BEGIN IMMEDIATE");
    Statement erase(db_, "DELETE FROM funnel WHERE stage = ?");
    erase.bind(1, stage).step();
    for (const FunnelRow& r : rows) {
      Statement s(db_,
                  "INSERT INTO funnel (stage, stage_name, position, rule, baseline, val_mean, val_std, test_mean, "
                  "test_std, lr, seeds_ok, threshold, passed, promoted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, stage).bind(2, r.stage_name).bind(3, r.position).bind(4, r.rule)
          .bind(5, static_cast<int64_t>(r.baseline)).bind(6, r.val_mean).bind(7, r.val_std).bind(8, r.test_mean)
          .bind(9, r.test_std).bind(10, r.lr).bind(11, r.seeds_ok).bind(12, r.threshold)
          .bind(13, static_cast<int64_t>(r.passed)).bind(14, static_cast<int64_t>(r.promoted));
      s.step();
    }
    exec_sql(db_, "COMMIT");
  } catch (const UserError& err) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    write_failed("storing funnel stage " + std::to_string(stage), err);
  }
}

std::vector<FunnelRow> Store::funnel() const {
  Statement table(db_, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'funnel'");
  if (!table.step() || table.integer(0) == 0) return {};
  Statement s(db_,
              "SELECT stage, stage_name, position, rule, baseline, val_mean, val_std, test_mean, test_std, lr, "
              "seeds_ok, threshold, passed, promoted FROM funnel ORDER BY stage, position");
  std::vector<FunnelRow> out;
  while (s.step()) {
    FunnelRow r;
    r.stage = s.integer(0);
    r.stage_name = s.text(1);
    r.position = s.integer(2);
    r.rule = s.text(3);
    r.baseline = s.integer(4) != 0;
    r.val_mean = s.real(5);
    r.val_std = s.real(6);
    r.test_mean = s.real(7);
    r.test_std = s.real(8);
    r.lr = s.real(9);
    r.seeds_ok = s.integer(10);
    r.threshold = s.real(11);
    r.passed = s.integer(12) != 0;
    r.promoted = s.integer(13) != 0;
    out.push_back(r);
  }
  return out;
}

std::vector<Leader> Store::leaderboard(int n) const {
  // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum: the best evaluation.
  Statement s(db_,
              "SELECT canonical, hash, MAX(reward) AS best, COUNT(*), status, val_acc, test_acc, lr, tokens "
              "FROM evaluations WHERE hash != '' GROUP BY hash ORDER BY best DESC, canonical LIMIT ?");
  s.bind(1, static_cast<int64_t>(n));
  std::vector<Leader> out;
  while (s.step()) {
    Leader l;
    l.canonical = s.text(0);
    l.hash = s.text(1);
    l.best_reward = s.real(2);
    l.count = s.integer(3);
    l.status = tasks::stored_status(s.text(4), "the evaluations of " + l.canonical);
    l.val_acc = s.real(5);
    l.test_acc = s.real(6);
    l.lr = s.real(7);
    l.tokens = s.text(8);
    out.push_back(std::move(l));
  }
  return out;
}

StoreCounts Store::counts() const {
  StoreCounts c;
  Statement s(db_, "SELECT status, COUNT(*), SUM(cached) FROM evaluations GROUP BY status ORDER BY status");
  while (s.step()) {
    c.by_status[s.text(0)] = s.integer(1);
    c.total += s.integer(1);
    c.cached += s.integer(2);
  }
  return c;
}

}  // namespace nos::search
