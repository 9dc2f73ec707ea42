// The journal of a report folder (runs.jsonl): one line per finished run, appended as it finishes, read to resume.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "experiments/plan.h"
#include "tasks/evaluator.h"

namespace nos::experiments {

// One finished run as the journal holds it.
struct CompareRun {
  std::string phase;  // "tune" (seed 0, one lr of the grid) or "final" (one seed at the chosen lr)
  int64_t epochs = 0; // its budget
  tasks::EvalRecord record;  // rule, lr and seed identify the run
};

// A journal line: {"phase":"tune","epochs":1,"record":{...the worker protocol's record...}} (no newline).
std::string journal_line(const CompareRun& run);

// Reads one journal line into `run`; false when it is not one.
bool parse_journal_line(const std::string& line, CompareRun& run);

// Reads a journal (none: no runs). A last line cut short by an interruption (no newline at the end) is dropped and
// the file rewritten without it; any other bad line is a UserError naming the file and line.
std::vector<CompareRun> read_journal(const std::string& path);

// The journal's runs by key (a later line for the same key wins; there is none unless edited by hand).
FinishedRuns finished_runs(const std::vector<CompareRun>& journal);

// Appends runs to a journal, each flushed at once: a run is journaled the moment it finishes.
class JournalWriter {
 public:
  explicit JournalWriter(std::string path);
  void append(const CompareRun& run);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace nos::experiments
