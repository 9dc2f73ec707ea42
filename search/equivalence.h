// The run's functional-equivalence cache: the probe fingerprint (dsl/probe.h) of every rule evaluated so far, so
// that a rule computing the same updates under another text reuses that rule's reward instead of training.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dsl/probe.h"
#include "search/config.h"
#include "search/store.h"

struct sqlite3;

namespace nos::search {

class EquivalenceIndex {
 public:
  // The canonical hash of an earlier rule whose fingerprint agrees with `f` (dsl::same_function), or "".
  std::string find(const dsl::Fingerprint& f) const;
  // Remembers that the rule with canonical hash `hash` has fingerprint `f`.
  void add(dsl::Fingerprint f, std::string hash);
  size_t size() const { return size_; }

 private:
  std::unordered_map<uint64_t, std::vector<std::pair<dsl::Fingerprint, std::string>>> by_key_;
  size_t size_ = 0;
};

// Bumped whenever a change to nos can change a child's reward (training, data, models, the probe): a shared
// cache never reuses a reward recorded under another value.
// 2: the probe has dead coordinates (fingerprints changed).
inline constexpr int kFecNumericsVersion = 2;

// What decides a reward besides the rule: the task section as config.yaml writes it, without the keys that only say
// where caches live or how long to wait for a killed worker (cache_dir, kill_grace).
std::string fec_task_key(const TaskSettings& task);

// The functional-equivalence cache shared by runs (`fec_cache: PATH`): an SQLite file with one row per evaluated
// rule — its fingerprint, canonical text and result — looked up by (fingerprint key, task key, kFecNumericsVersion)
// and then by the whole fingerprint. Searches with the same task settings share it, also at the same time (WAL,
// waits for each other's writes; each row is one transaction, so no reader sees half of one). Only results that
// the rule alone decides go in: status ok or diverged (not timeouts, crashes or rejections).
class SharedEquivalenceCache {
 public:
  // Opens or creates the file; a file that is not a nos equivalence cache (or not SQLite at all) is a UserError
  // naming it and what to do (delete it, or set fec_cache: run).
  SharedEquivalenceCache(const std::string& path, std::string task_key);
  ~SharedEquivalenceCache();
  SharedEquivalenceCache(const SharedEquivalenceCache&) = delete;
  SharedEquivalenceCache& operator=(const SharedEquivalenceCache&) = delete;

  const std::string& path() const { return path_; }
  // The earlier result of a rule with the same function under the same task settings, or nullopt.
  std::optional<Evaluation> find(const dsl::Fingerprint& f) const;
  // Records a finished child (ignored unless its status is ok or diverged).
  void put(const dsl::Fingerprint& f, const Evaluation& row);
  int64_t size() const;

 private:
  std::string path_;
  std::string task_;
  sqlite3* db_ = nullptr;
};

}  // namespace nos::search
