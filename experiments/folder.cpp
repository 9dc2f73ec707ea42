// A report folder's config.yaml (written once, then checked) and sessions.csv (one line per training session).
#include "experiments/folder.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "search/store.h"

namespace nos::experiments {

namespace {

// The config a report folder records: the rows spelled out (so the file reads back to the same rows), no runtime
// keys.
CompareConfig recorded_config(const CompareConfig& config, const std::vector<CompareRow>& rows) {
  CompareConfig c = config;
  c.rules.clear();
  for (const CompareRow& row : rows) c.rules.push_back(row.rule);
  c.native_references = false;
  c.jobs = CompareConfig{}.jobs;
  c.out.clear();
  return c;
}

}  // namespace

void check_or_record_config(const CompareConfig& config, const std::vector<CompareRow>& rows) {
  const std::string path = config.out + "/" + kCompareConfig;
  const CompareConfig now = recorded_config(config, rows);
  if (!exists(path)) {
    write_atomically(path, "# The comparison this folder holds (rules expanded). Resume it (trains only what is missing):\n"
                     "#   nos compare --config " + path + " --out " + config.out + "\n"
                     "# or run it from scratch into a fresh folder: --out runs/NAME\n" + to_yaml(now, false));
    return;
  }
  const std::string diffs = config_differences(parse_recorded_compare_config(read_text(path), path), now);
  if (!diffs.empty()) {
    throw UserError("the report folder '" + config.out + "' holds a comparison with another config (" + path +
                    "); its finished runs would not match. Use another --out, or the folder's settings. Differences:" +
                    diffs);
  }
}

void log_session(const CompareConfig& config, double seconds, int64_t executed, bool interrupted) {
  const std::string sessions = config.out + "/" + kCompareSessions;
  const bool fresh = !exists(sessions);
  std::ofstream log(sessions, std::ios::app);
  if (fresh) log << "finished_utc,wall_seconds,runs_executed,jobs,interrupted\n";
  log << search::utc_now() << "," << csv_number(seconds) << "," << executed << "," << config.jobs << ","
      << (interrupted ? "true" : "false") << "\n";
}

std::string wall_time_text(const std::string& out, double session_seconds) {
  const std::string path = out + "/" + kCompareSessions;
  double total = 0;
  int sessions = 0;
  if (exists(path)) {
    std::stringstream text(read_text(path));
    std::string line;
    std::getline(text, line);  // header
    while (std::getline(text, line)) {
      const size_t a = line.find(',');
      const size_t b = a == std::string::npos ? a : line.find(',', a + 1);
      if (b == std::string::npos) continue;
      double seconds = 0;
      const char* begin = line.data() + a + 1;
      auto [ptr, ec] = std::from_chars(begin, line.data() + b, seconds);
      if (ec != std::errc()) continue;
      total += seconds;
      ++sessions;
    }
  }
  if (sessions == 0) return fixed(session_seconds / 60, 1, "–") + " min";
  return fixed(total / 60, 1, "–") + " min (" + std::to_string(sessions) + " session" + (sessions == 1 ? "" : "s") +
         " that trained runs; see sessions.csv)";
}

}  // namespace nos::experiments
