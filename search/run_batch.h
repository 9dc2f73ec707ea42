// Inside a search job (not public): a batch in flight, and what the files of the search loop share.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "dsl/probe.h"
#include "search/run.h"

namespace nos::search {

// How often the loop wakes to notice a stop request while children run.
constexpr double kPollSeconds = 0.2;

// Whether `path` names anything (POSIX: a PyTorch wheel's libtorch may carry its own std::filesystem).
bool path_exists(const std::string& path);

struct Search::Batch {
  int64_t index = 0;
  std::vector<Proposal> proposals;
  std::vector<double> rewards;
  std::vector<bool> done;
  std::vector<Evaluation> rows;            // what each slot will store (filled as far as known)
  std::map<std::string, int> pending;      // hash → the slot evaluating it in the pool
  std::map<int, std::vector<int>> waiting;  // that slot → later slots of the same rule (or of the same function)
  std::set<int> equivalent;                 // waiting slots whose rule only computes the same updates
  std::map<int, dsl::Fingerprint> fingerprints;  // slots in the pool, for the shared cache (when there is one)
  std::map<int, std::vector<tasks::EvalRecord>> seeds;  // slots in the pool: their seeds' records so far (fitness)
  std::map<int, int> arrived;                           // how many of those records have come back
  double hurdle = 0;                        // the hurdle of this batch's children (0: none)
};

}  // namespace nos::search
