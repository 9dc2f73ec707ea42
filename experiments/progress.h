// Where a running comparison stands: runs done of the total, the ETA, and the one-line text the CLI prints.
#pragma once

#include <cstdint>
#include <string>

namespace nos::experiments {

// Where the comparison stands; sent after every finished run (and once at the start).
struct CompareProgress {
  int64_t done = 0;           // runs finished, earlier sessions included
  int64_t total = 0;          // runs of the whole comparison
  int64_t skipped = 0;        // found in the journal at the start
  int64_t running = 0;
  double elapsed_seconds = 0;  // this session
  double eta_seconds = 0;      // 0 when unknown
  std::string last;            // the run just finished ("adam seed 1: val 0.9012")
};

// The time left at this session's pace: elapsed / epochs trained so far × epochs left; 0 (unknown) before this
// session has trained an epoch.
double eta_seconds(double elapsed_seconds, int64_t session_epochs, int64_t epochs_left);

// "[compare] 5/14 runs (3 from the journal), 2 running, 1m04s, ETA 3m10s | adam seed 1: ok, val 0.8100".
std::string progress_line(const CompareProgress& p);

}  // namespace nos::experiments
