// The journal (runs.jsonl): one JSON line per finished run, written and read only here.
#include "experiments/journal.h"

#include <charconv>

#include "common/error.h"
#include "common/json.h"
#include "experiments/files.h"
#include "dispatch/wire.h"

namespace nos::experiments {

// {"phase":…,"epochs":…,"record":…}: the record is the worker protocol's (dispatch::encode_result), read back by
// its decoder.
std::string journal_line(const CompareRun& run) {
  return JsonObject()
      .add_string("phase", run.phase)
      .add_int("epochs", run.epochs)
      .add_raw("record", dispatch::encode_result(0, run.record))
      .str();
}

bool parse_journal_line(const std::string& line, CompareRun& run) {
  try {
    const JsonValue o = parse_json(line, "journal");
    const JsonValue* phase = o.get("phase");
    const JsonValue* epochs = o.get("epochs");
    const JsonValue* record = o.get("record");
    if (phase == nullptr || phase->kind != JsonValue::Kind::kString || epochs == nullptr ||
        epochs->kind != JsonValue::Kind::kNumber || record == nullptr) {
      return false;
    }
    run.phase = phase->text;
    if (run.phase != "tune" && run.phase != "final") return false;
    auto [ptr, ec] = std::from_chars(epochs->text.data(), epochs->text.data() + epochs->text.size(), run.epochs);
    if (ec != std::errc() || ptr != epochs->text.data() + epochs->text.size() || run.epochs < 1) return false;
    run.record = dispatch::decode_result(*record).record;
  } catch (const std::exception&) {
    return false;
  }
  return !run.record.rule.empty();
}

std::vector<CompareRun> read_journal(const std::string& path) {
  std::vector<CompareRun> runs;
  if (!exists(path)) return runs;
  const std::string text = read_text(path);
  std::string kept;
  size_t start = 0;
  int line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const bool complete = end != std::string::npos;
    if (!complete) end = text.size();
    const std::string line = text.substr(start, end - start);
    ++line_number;
    start = end + 1;
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    CompareRun run;
    if (!parse_journal_line(line, run)) {
      if (!complete) break;  // the tail of an interrupted write
      throw UserError(path + ":" + std::to_string(line_number) +
                      ": not a run of nos compare; the journal is damaged (remove that line to run it again)");
    }
    if (!complete) break;
    runs.push_back(run);
    kept += line + "\n";
  }
  if (kept.size() != text.size()) write_atomically(path, kept);
  return runs;
}

FinishedRuns finished_runs(const std::vector<CompareRun>& journal) {
  FinishedRuns finished;
  for (const CompareRun& run : journal) {
    finished[key_of(rule_key(run.record), run.epochs, run.record.lr, run.record.seed)] = run.record;
  }
  return finished;
}

JournalWriter::JournalWriter(std::string path) : path_(std::move(path)), out_(path_, std::ios::app | std::ios::binary) {
  if (!out_) throw UserError("cannot write the journal " + path_);
}

void JournalWriter::append(const CompareRun& run) {
  out_ << journal_line(run) << "\n" << std::flush;
  if (!out_) throw UserError("cannot append to the journal " + path_);
}

}  // namespace nos::experiments
