// Looking up rules by what they compute: candidates by fingerprint key, then a whole-fingerprint comparison.
#include "search/equivalence.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "search/sqlite_statement.h"
#include "search/store.h"

namespace nos::search {

std::string EquivalenceIndex::find(const dsl::Fingerprint& f) const {
  auto found = by_key_.find(f.key);
  if (found == by_key_.end()) return "";
  for (const auto& [fingerprint, hash] : found->second) {
    if (dsl::same_function(fingerprint, f)) return hash;
  }
  return "";
}

void EquivalenceIndex::add(dsl::Fingerprint f, std::string hash) {
  const uint64_t key = f.key;
  by_key_[key].emplace_back(std::move(f), std::move(hash));
  ++size_;
}

namespace {

constexpr const char* kFormat = "nos functional-equivalence cache 1";

constexpr const char* kCacheSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fec (
  id INTEGER PRIMARY KEY,
  key INTEGER NOT NULL,
  task TEXT NOT NULL,
  version INTEGER NOT NULL,
  fingerprint BLOB NOT NULL,
  canonical TEXT NOT NULL,
  reward REAL, val_acc REAL, test_acc REAL, lr REAL,
  status TEXT NOT NULL,
  time TEXT NOT NULL,
  hurdle_acc REAL
);
CREATE INDEX IF NOT EXISTS fec_lookup ON fec (key, version, task);
)sql";

std::string bytes_of(const dsl::Fingerprint& f) {
  std::string bytes(f.directions.size() * sizeof(double), '\0');
  std::memcpy(bytes.data(), f.directions.data(), bytes.size());
  return bytes;
}

std::vector<double> directions_of(const std::string& bytes) {
  std::vector<double> d(bytes.size() / sizeof(double));
  std::memcpy(d.data(), bytes.data(), d.size() * sizeof(double));
  return d;
}

}  // namespace

std::string fec_task_key(const TaskSettings& task) {
  TaskSettings t = task;
  t.cache_dir.clear();
  t.kill_grace = 0;
  t.population = 1;  // results are those of solo children
  t.test_accuracy = false;  // the reward is the validation accuracy either way
  SearchConfig c;
  c.task = t;
  // The task section of config.yaml's text, from "task:" to the next section.
  const std::string yaml = to_yaml(c);
  const size_t begin = yaml.find("\ntask:\n");
  const size_t end = yaml.find("\nprefilter:\n");
  NOS_CHECK(begin != std::string::npos && end != std::string::npos, "config.yaml without a task section");
  return yaml.substr(begin + 1, end - begin);
}

namespace {

// The names of the tables in `db`.
std::vector<std::string> table_names(sqlite3* db) {
  Statement s(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  while (s.step()) names.push_back(s.text(0));
  return names;
}

// Why a row read from the cache cannot be a result nos stored ("" when it can): a damaged or hand-edited file.
std::string damage_of(const Evaluation& e) {
  auto fraction = [](double x) { return std::isnan(x) || (x >= 0 && x <= 1); };
  if (e.status != tasks::Status::kOk && e.status != tasks::Status::kDiverged) return std::string("status '") + tasks::status_text(e.status) + "'";
  // Rewards are accuracies or 1/(1 + f − f*) in [0, 1], or such differences against a fitness baseline.
  if (!std::isfinite(e.reward) || e.reward < -1 || e.reward > 1) return "reward " + format_number(e.reward);
  if (!fraction(e.val_acc) || !fraction(e.test_acc)) return "an accuracy outside [0, 1]";
  if (!fraction(e.hurdle_acc)) return "a hurdle accuracy outside [0, 1]";
  if (!std::isnan(e.lr) && !(e.lr >= 0 && std::isfinite(e.lr))) return "lr " + format_number(e.lr);
  if (e.canonical.empty()) return "no rule";
  return "";
}

// A cache written under an older canonical form (none recorded: version 1) has its rules' texts brought up to date
// (they only name the rule a reuse came from: the key is the fingerprint), inside the opening transaction.
void upgrade_canonical_form(sqlite3* db) {
  int version = 1;
  {
    Statement v(db, "SELECT value FROM meta WHERE key = ?");
    v.bind(1, std::string(kCanonicalVersionKey));
    if (v.step()) version = std::atoi(v.text(0).c_str());
  }
  if (version >= dsl::kCanonicalVersion) return;
  recanonicalize_rows(db, "fec", false);
  Statement mark(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  mark.bind(1, std::string(kCanonicalVersionKey)).bind(2, std::to_string(dsl::kCanonicalVersion)).step();
}

}  // namespace

SharedEquivalenceCache::SharedEquivalenceCache(const std::string& path, std::string task_key)
    : path_(path), task_(std::move(task_key)) {
  const std::string advice = "; delete it (a new one is made) or set fec_cache: run";
  // Nothing is written to a file before it is known to be a cache (or new): pointed at another run's search.db, nos
  // once added its table to that store.
  db_ = open_database(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 30000, "",
                      {"equivalence cache (fec_cache)", "equivalence cache", "not a usable equivalence cache", advice},
                      [&](sqlite3* db) {
                        auto exec = [&](const std::string& sql) {
                          char* error = nullptr;
                          if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
                            const std::string why = error ? error : "unknown error";
                            sqlite3_free(error);
                            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
                            throw UserError(path + ": the equivalence cache cannot be written (" + why + ")" + advice);
                          }
                        };
                        // One transaction: runs creating a new cache at once see it empty or whole, never half made.
                        exec("BEGIN IMMEDIATE");
                        const std::vector<std::string> tables = table_names(db);
                        if (tables.empty()) {
                          exec(kCacheSchema);
                          Statement mark(db, "INSERT INTO meta (key, value) VALUES ('format', ?)");
                          mark.bind(1, std::string(kFormat)).step();
                          Statement version(db, "INSERT INTO meta (key, value) VALUES (?, ?)");
                          version.bind(1, std::string(kCanonicalVersionKey))
                              .bind(2, std::to_string(dsl::kCanonicalVersion))
                              .step();
                        } else {
                          std::string format;
                          if (std::find(tables.begin(), tables.end(), "meta") != tables.end()) {
                            Statement f(db, "SELECT value FROM meta WHERE key = 'format'");
                            if (f.step()) format = f.text(0);
                          }
                          if (format != kFormat) {
                            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
                            throw UserError(path + ": not a nos equivalence cache (" +
                                            (format.empty() ? "its tables: " + joined(tables)
                                                            : "format '" + format + "'") +
                                            "; a search's search.db is not one); nothing was written to it. Give "
                                            "another file (a new one is made), or set fec_cache: run");
                          }
                          // Caches written before hurdle accuracies were kept: their rows read NULL for it.
                          Statement column(db, "SELECT count(*) FROM pragma_table_info('fec') WHERE name = "
                                               "'hurdle_acc'");
                          if (column.step() && column.integer(0) == 0) {
                            exec("ALTER TABLE fec ADD COLUMN hurdle_acc REAL");
                          }
                          upgrade_canonical_form(db);
                        }
                        exec("COMMIT");
                        exec("PRAGMA journal_mode=WAL");  // a cache's own setting (no change once set)
                      });
}

SharedEquivalenceCache::~SharedEquivalenceCache() { sqlite3_close(db_); }

std::optional<Evaluation> SharedEquivalenceCache::find(const dsl::Fingerprint& f) const {
  Statement s(db_,
              "SELECT fingerprint, canonical, reward, val_acc, test_acc, lr, status, hurdle_acc, id FROM fec "
              "WHERE key = ? AND version = ? AND task = ? ORDER BY id");
  s.bind(1, static_cast<int64_t>(f.key)).bind(2, static_cast<int64_t>(kFecNumericsVersion)).bind(3, task_);
  try {
    while (s.step()) {
      dsl::Fingerprint stored;
      stored.directions = directions_of(s.blob(0));
      stored.key = f.key;
      if (!dsl::same_function(stored, f)) continue;
      Evaluation e;
      e.canonical = s.text(1);
      e.reward = s.real(2);
      e.val_acc = s.real(3);
      e.test_acc = s.real(4);
      e.lr = s.real(5);
      const std::string status = s.text(6);
      const std::optional<tasks::Status> known = tasks::find_status(status);
      e.status = known.value_or(tasks::Status::kError);
      e.hurdle_acc = s.real(7);
      const std::string damage = known ? damage_of(e) : "status '" + status + "'";
      if (!damage.empty()) {
        throw UserError("row " + std::to_string(s.integer(8)) + " holds " + damage +
                        ", which no nos writes (a damaged or edited file); delete the file (a new one is made) or "
                        "set fec_cache: run");
      }
      return e;
    }
  } catch (const UserError& e) {
    throw UserError(path_ + ": the equivalence cache cannot be read: " + e.what());
  }
  return std::nullopt;
}

void SharedEquivalenceCache::put(const dsl::Fingerprint& f, const Evaluation& row) {
  if (row.status != tasks::Status::kOk && row.status != tasks::Status::kDiverged) return;
  if (find(f)) return;
  Statement s(db_,
              "INSERT INTO fec (key, task, version, fingerprint, canonical, reward, val_acc, test_acc, lr, status, "
              "time, hurdle_acc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, static_cast<int64_t>(f.key)).bind(2, task_).bind(3, static_cast<int64_t>(kFecNumericsVersion))
      .bind_blob(4, bytes_of(f)).bind(5, row.canonical).bind(6, row.reward).bind(7, row.val_acc)
      .bind(8, row.test_acc).bind(9, row.lr).bind(10, tasks::status_text(row.status)).bind(11, utc_now()).bind(12, row.hurdle_acc);
  try {
    s.step();
  } catch (const UserError& e) {
    throw UserError(std::string("the equivalence cache (fec_cache) cannot be written: ") + e.what() +
                    " (every child stored in the run is kept; fec_cache: run continues without it)");
  }
}

int64_t SharedEquivalenceCache::size() const {
  Statement s(db_, "SELECT count(*) FROM fec");
  return s.step() ? s.integer(0) : 0;
}

}  // namespace nos::search
