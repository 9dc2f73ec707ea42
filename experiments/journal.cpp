// The journal (runs.jsonl): one JSON line per finished run, written and read only here.
#include "experiments/journal.h"

#include <charconv>

#include "common/error.h"
#include "experiments/files.h"
#include "dispatch/wire.h"

namespace nos::experiments {

// The record is the worker protocol's (dispatch::encode_result); the reader takes the line apart by its fixed prefix
// and hands the record to the wire decoder.
std::string journal_line(const CompareRun& run) {
  return "{\"phase\":\"" + run.phase + "\",\"epochs\":" + std::to_string(run.epochs) +
         ",\"record\":" + dispatch::encode_result(0, run.record) + "}";
}

bool parse_journal_line(const std::string& line, CompareRun& run) {
  const std::string p1 = "{\"phase\":\"";
  if (line.rfind(p1, 0) != 0 || line.size() < 2 || line.back() != '}') return false;
  const size_t q = line.find('"', p1.size());
  if (q == std::string::npos) return false;
  run.phase = line.substr(p1.size(), q - p1.size());
  if (run.phase != "tune" && run.phase != "final") return false;
  const std::string p2 = "\",\"epochs\":";
  if (line.compare(q, p2.size(), p2) != 0) return false;
  const char* begin = line.data() + q + p2.size();
  auto [ptr, ec] = std::from_chars(begin, line.data() + line.size(), run.epochs);
  if (ec != std::errc() || run.epochs < 1) return false;
  const std::string p3 = ",\"record\":";
  const size_t at = static_cast<size_t>(ptr - line.data());
  if (line.compare(at, p3.size(), p3) != 0) return false;
  try {
    run.record = dispatch::decode_result(line.substr(at + p3.size(), line.size() - 1 - at - p3.size())).record;
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
