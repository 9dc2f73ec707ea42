// A report folder's bookkeeping: its file names, the config it records, and the log of sessions that trained runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/rows.h"

namespace nos::experiments {

// The files of a report folder.
inline constexpr const char* kCompareJournal = "runs.jsonl";
inline constexpr const char* kCompareConfig = "config.yaml";
inline constexpr const char* kCompareSessions = "sessions.csv";

// Writes DIR/config.yaml — the config with the rows spelled out (rules expanded, native references listed) and no
// runtime keys — or, when the folder has one, checks that it holds the same comparison: a different one is a
// UserError naming the keys that differ. The folder's file is read as a config, so a key it lacks reads as its
// default (a key added to the schema later does not set old folders apart).
void check_or_record_config(const CompareConfig& config, const std::vector<CompareRow>& rows);

// Appends one line to DIR/sessions.csv (a session that trained runs or was interrupted).
void log_session(const CompareConfig& config, double seconds, int64_t executed, bool interrupted);

// The wall time of the sessions in DIR/sessions.csv, as the report states it, or of this call when there are none.
std::string wall_time_text(const std::string& out, double session_seconds);

}  // namespace nos::experiments
