// `nos compare`: the config schema, rule rows, the tune-then-seeds protocol over a worker pool, and the journal.
#include "common/text.h"
#include "search/compare.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <tuple>

#include "dsl/ast.h"
#include "common/error.h"
#include "optimizers/optimizers.h"
#include "search/store.h"
#include "search/wire.h"
#include "common/yaml_reader.h"

namespace nos::search {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;

const std::map<std::string, std::vector<std::string>>& compare_sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"rules", "native_references", "task", "epochs", "seeds", "lr_grid", "tune_epochs", "batch_size",
            "train_size", "validation_size", "augment", "device", "dtype", "data_dir", "threads", "jobs", "out"}},
  };
  return table;
}

std::string exact(double x) {
  if (!std::isfinite(x)) return "";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return std::string(buffer, end);
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// The identity of a run: rule, budget in epochs, lr, seed. A tuning run at the chosen lr with seed 0 is the same run
// as the first seed when tune_epochs == epochs, and is then used once for both.
using RunKey = std::tuple<std::string, int64_t, double, uint64_t>;

RunKey key_of(const std::string& rule, int64_t epochs, double lr, uint64_t seed) { return {rule, epochs, lr, seed}; }

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void make_directories(const std::string& path) {
  std::string partial;
  std::stringstream parts(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (!is_directory(partial) && ::mkdir(partial.c_str(), 0777) != 0 && !is_directory(partial)) {
      throw UserError("cannot create the folder '" + partial + "' (for the report folder '" + path + "')");
    }
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw UserError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw UserError("cannot replace " + path);
}

// Holds an exclusive lock on DIR/.lock for the lifetime of one comparison: two processes appending to one journal
// would train the same runs twice.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir) {
    const std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) throw UserError("cannot create " + path);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw UserError("another nos compare is running in the report folder '" + dir +
                      "' (it holds " + path + "); wait for it, or use another --out");
    }
  }
  ~FolderLock() { ::close(fd_); }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// config

const std::vector<std::string>& compare_config_keys() { return compare_sections().at(""); }

CompareConfig parse_compare_config(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  CompareConfig c;
  if (root.IsNull()) {
    validate(c, source);
    return c;
  }
  const YamlReader r(source, compare_sections());
  constexpr int64_t kBig = int64_t{1} << 40;
  r.each_key(root, "", [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "rules") {
      c.rules = v.IsNull() ? std::vector<std::string>{} : r.strings(v, path);
    } else if (key == "native_references") {
      c.native_references = r.boolean(v, path);
    } else if (key == "task") {
      c.task = r.scalar(v, path);
      try {
        const tasks::TaskSpec spec = tasks::parse_task_name(c.task);
        if (spec.analytic) r.fail(v, path, "'" + c.task + "' is an analytic objective; compare trains classifiers "
                                           "(<dataset>-<model>, e.g. fmnist-convnet)");
      } catch (const UserError& e) {
        if (std::string(e.what()).rfind(source, 0) == 0) throw;
        r.fail(v, path, e.what());
      }
    } else if (key == "epochs") {
      c.epochs = r.integer<int64_t>(v, path, 1, kBig);
    } else if (key == "seeds") {
      c.seeds = r.integer<int>(v, path, 1, 1000);
    } else if (key == "lr_grid") {
      c.lr_grid = r.positive_numbers(v, path);
    } else if (key == "tune_epochs") {
      c.tune_epochs = r.integer<int64_t>(v, path, 1, kBig);
    } else if (key == "batch_size") {
      c.batch_size = r.integer<int64_t>(v, path, 1, kBig);
    } else if (key == "train_size") {
      c.train_size = r.integer<int64_t>(v, path, -1, kBig);
      if (c.train_size == 0) r.fail(v, path, "expected -1 (all) or a count >= 1, got 0");
    } else if (key == "validation_size") {
      c.validation_size = r.integer<int64_t>(v, path, -1, kBig);
      if (c.validation_size == 0) r.fail(v, path, "expected -1 (the default) or a count >= 1: lr tuning needs it");
    } else if (key == "augment") {
      c.augment = r.boolean(v, path);
    } else if (key == "device") {
      c.device = r.scalar(v, path);
      const bool cuda = c.device == "cuda" || c.device.rfind("cuda:", 0) == 0;
      if (c.device != "cpu" && !cuda) r.fail(v, path, "expected cpu, cuda or cuda:N, got '" + c.device + "'");
    } else if (key == "dtype") {
      c.dtype = r.choice(v, path, {"float32", "float64"});
    } else if (key == "data_dir") {
      c.data_dir = v.IsNull() ? std::string() : r.scalar(v, path);
    } else if (key == "threads") {
      c.threads = r.integer<int>(v, path, 1, 1024);
    } else if (key == "jobs") {
      c.jobs = r.integer<int>(v, path, 1, 1024);
    } else if (key == "out") {
      c.out = v.IsNull() ? std::string() : r.scalar(v, path);
    }
  });
  validate(c, source);
  return c;
}

CompareConfig load_compare_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  return parse_compare_config(text.str(), path);
}

void validate(const CompareConfig& c, const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& message) {
    throw UserError(source + ": key '" + key + "': " + message);
  };
  const tasks::TaskSpec spec = tasks::parse_task_name(c.task);
  if (spec.analytic) fail("task", "'" + c.task + "' is an analytic objective; compare trains classifiers");
  if (c.epochs < 1) fail("epochs", "must be >= 1");
  if (c.seeds < 1) fail("seeds", "must be >= 1");
  if (c.lr_grid.empty()) fail("lr_grid", "is empty: give the learning rates to tune over");
  std::set<double> seen;
  for (double lr : c.lr_grid) {
    if (!(lr > 0) || !std::isfinite(lr)) fail("lr_grid", "holds " + nos::format_number(lr) + "; each lr must be > 0");
    if (!seen.insert(lr).second) fail("lr_grid", "holds " + nos::format_number(lr) + " twice");
  }
  if (c.tune_epochs < 1) fail("tune_epochs", "must be >= 1");
  if (c.tune_epochs > c.epochs) {
    fail("tune_epochs", "is " + std::to_string(c.tune_epochs) + ", more than epochs (" + std::to_string(c.epochs) +
                            "): tuning would cost more than the runs it tunes");
  }
  if (c.batch_size < 1) fail("batch_size", "must be >= 1");
  if (c.threads < 1) fail("threads", "must be >= 1");
  if (c.jobs < 1) fail("jobs", "must be >= 1");
  if (c.validation_size == 0) fail("validation_size", "must not be 0: lr tuning reads the validation accuracy");
}

std::string to_yaml(const CompareConfig& c, bool with_runtime) {
  std::ostringstream y;
  y << "rules: " << yaml_list(c.rules) << "\n"
    << "native_references: " << (c.native_references ? "true" : "false") << "\n"
    << "task: " << yaml_quoted(c.task) << "\n"
    << "epochs: " << c.epochs << "\n"
    << "seeds: " << c.seeds << "\n"
    << "lr_grid: " << yaml_list(c.lr_grid) << "\n"
    << "tune_epochs: " << c.tune_epochs << "\n"
    << "batch_size: " << c.batch_size << "\n"
    << "train_size: " << c.train_size << "\n"
    << "validation_size: " << c.validation_size << "\n"
    << "augment: " << (c.augment ? "true" : "false") << "\n"
    << "device: " << yaml_quoted(c.device) << "\n";
  if (!c.dtype.empty()) y << "dtype: " << c.dtype << "\n";
  y << "data_dir: " << yaml_quoted(c.data_dir) << "\n"
    << "threads: " << c.threads << "\n";
  if (with_runtime) {
    y << "jobs: " << c.jobs << "\n"
      << "out: " << yaml_quoted(c.out) << "\n";
  }
  return y.str();
}

std::vector<std::string> split_rule_list(const std::string& text) {
  std::vector<std::string> items;
  std::string current;
  int depth = 0;
  char quote = 0;
  auto finish = [&](bool last) {
    const std::string item = trim(current);
    if (item.empty()) {
      if (last && items.empty()) throw UserError("--rules: no rule given");
      throw UserError("--rules: empty item at position " + std::to_string(items.size() + 1) + " of '" + text +
                      "' (two commas in a row, or a comma at an end?)");
    }
    items.push_back(item);
    current.clear();
  };
  for (char ch : text) {
    if (quote) {
      if (ch == quote) quote = 0;
      current += ch;
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
      current += ch;
    } else if (ch == '(') {
      ++depth;
      current += ch;
    } else if (ch == ')') {
      depth = std::max(0, depth - 1);
      current += ch;
    } else if (ch == ',' && depth == 0) {
      finish(false);
    } else {
      current += ch;
    }
  }
  finish(true);
  return items;
}

// ---------------------------------------------------------------------------------------------------------------
// rows

namespace {

// "@RUN_DIR:topN" → (RUN_DIR, N); throws a UserError for anything else starting with '@'.
std::pair<std::string, int> parse_run_spec(const std::string& spec, const std::string& where) {
  const size_t colon = spec.rfind(':');
  auto bad = [&](const std::string& why) {
    throw UserError(where + ": '" + spec + "': " + why + " (expected @RUN_DIR:topN, e.g. @runs/demo:top3)");
  };
  if (colon == std::string::npos || colon == 1) bad("no RUN_DIR:topN");
  const std::string dir = spec.substr(1, colon - 1);
  const std::string top = spec.substr(colon + 1);
  if (top.rfind("top", 0) != 0) bad("'" + top + "' is not topN");
  int n = 0;
  const char* begin = top.data() + 3;
  const char* end = top.data() + top.size();
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (begin == end || ec != std::errc() || ptr != end || n < 1 || n > 1000) bad("N must be a whole number >= 1");
  return {dir, n};
}

}  // namespace

std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source) {
  if (config.rules.empty()) throw UserError(source + ": key 'rules': no rules to compare (e.g. rules: [adam, powersign])");
  std::vector<CompareRow> rows;
  auto add = [&](CompareRow row) {
    for (const CompareRow& r : rows) {
      if (r.kind == row.kind && r.canonical == row.canonical) {
        throw UserError(source + ": " + row.origin + " ('" + row.label + "') is the same rule as " + r.origin +
                        " ('" + r.label + "'): canonical form '" + row.canonical + "'; list each rule once");
      }
    }
    rows.push_back(std::move(row));
  };
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const std::string& entry = config.rules[i];
    const std::string where = source + ": rules[" + std::to_string(i) + "]";
    if (!entry.empty() && entry[0] == '@') {
      const auto [dir, n] = parse_run_spec(entry, where);
      const std::string db = dir + "/search.db";
      if (!exists(db)) throw UserError(where + ": '" + entry + "': no search run in '" + dir + "' (" + db + " is missing)");
      std::vector<Leader> leaders;
      try {
        Store store(db, Store::Mode::kReadOnly);
        leaders = store.leaderboard(std::max(n * 4, n + 50));
      } catch (const UserError& e) {
        throw UserError(where + ": '" + entry + "': " + e.what());
      }
      int taken = 0;
      for (const Leader& leader : leaders) {
        if (taken == n) break;
        if (leader.status != "ok" || leader.canonical.empty()) continue;
        ++taken;
        CompareRow row;
        row.rule = leader.canonical;
        row.label = leader.canonical;
        row.canonical = optimizers::canonical_text(optimizers::resolve_rule(leader.canonical));
        row.kind = "dsl";
        row.origin = entry + " #" + std::to_string(taken) + " (search reward " + exact(leader.best_reward) + ")";
        add(row);
      }
      if (taken == 0) throw UserError(where + ": '" + entry + "': the search run in '" + dir + "' has no rule with status ok yet");
      continue;
    }
    optimizers::ResolvedRule resolved;
    try {
      resolved = optimizers::resolve_rule(entry);
    } catch (const UserError& e) {
      throw UserError(where + ": '" + entry + "' is not a named rule (see 'nos rules') nor valid rule text:\n" +
                      e.what());
    }
    CompareRow row;
    row.rule = entry;
    row.label = entry;
    row.canonical = optimizers::canonical_text(resolved);
    row.kind = resolved.native ? "native" : "dsl";
    row.origin = "rules[" + std::to_string(i) + "]";
    add(row);
  }
  if (config.native_references) {
    std::vector<CompareRow> with_references;
    for (const CompareRow& row : rows) {
      with_references.push_back(row);
      const optimizers::NativeRule* native = row.kind == "dsl" ? optimizers::find_native_twin(row.rule) : nullptr;
      if (native == nullptr) continue;
      bool listed = false;
      for (const CompareRow& r : rows) listed = listed || r.rule == native->name;
      if (listed) continue;
      CompareRow ref;
      ref.rule = native->name;
      ref.label = native->name;
      ref.canonical = native->text;
      ref.kind = "native";
      ref.origin = "reference for " + row.label;
      with_references.push_back(ref);
    }
    rows = std::move(with_references);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// protocol

double choose_lr(const std::vector<TuneOutcome>& runs) {
  double best_lr = kNaN;
  double best_val = -1;
  for (const TuneOutcome& r : runs) {
    if (r.status != "ok" || !std::isfinite(r.val_acc)) continue;
    if (r.val_acc > best_val || (r.val_acc == best_val && r.lr < best_lr)) {
      best_val = r.val_acc;
      best_lr = r.lr;
    }
  }
  return best_lr;
}

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (s.n == 0 || v < s.min) s.min = v;
    if (s.n == 0 || v > s.max) s.max = v;
    sum += v;
    ++s.n;
  }
  if (s.n == 0) return s;
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double sq = 0;
    for (double v : values) {
      if (std::isfinite(v)) sq += (v - s.mean) * (v - s.mean);
    }
    s.std = std::sqrt(sq / (s.n - 1));
  }
  return s;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------------------------
// journal

namespace {

// A journal line: {"phase":"tune","epochs":1,"record":{...the worker protocol's record...}}. Written and read only
// here, so the reader takes it apart by its fixed prefix and hands the record to the wire decoder.
std::string journal_line(const CompareRun& run) {
  return "{\"phase\":\"" + run.phase + "\",\"epochs\":" + std::to_string(run.epochs) +
         ",\"record\":" + encode_result(0, run.record) + "}";
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
    run.record = decode_result(line.substr(at + p3.size(), line.size() - 1 - at - p3.size())).record;
  } catch (const std::exception&) {
    return false;
  }
  return !run.record.rule.empty();
}

// Reads DIR/runs.jsonl. A last line cut short by an interruption (no newline at the end) is dropped and the file
// rewritten without it; any other bad line is a UserError.
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
    if (trim(line).empty()) continue;
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
  if (kept.size() != text.size()) write_text(path, kept);
  return runs;
}

// Top-level "key: value" lines of a config text (comments dropped).
std::map<std::string, std::string> yaml_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream s(text);
  std::string line;
  while (std::getline(s, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = trim(line.substr(colon + 1));
  }
  return out;
}

// The config a report folder records: the rows spelled out (rules expanded, native references listed, so the file
// reads back to the same rows) and no runtime keys.
std::string recorded_config(const CompareConfig& config, const std::vector<CompareRow>& rows) {
  CompareConfig c = config;
  c.rules.clear();
  for (const CompareRow& row : rows) c.rules.push_back(row.rule);
  c.native_references = false;
  return to_yaml(c, false);
}

void check_or_record_config(const CompareConfig& config, const std::vector<CompareRow>& rows) {
  const std::string path = config.out + "/" + kCompareConfig;
  const std::string now = recorded_config(config, rows);
  if (!exists(path)) {
    write_text(path, "# The comparison this folder holds (rules expanded). Rerun or resume it with:\n"
                     "#   nos compare --config " + path + " --out " + config.out + "\n" + now);
    return;
  }
  const std::map<std::string, std::string> before = yaml_lines(read_text(path));
  const std::map<std::string, std::string> after = yaml_lines(now);
  std::string diffs;
  for (const auto& [key, value] : after) {
    auto found = before.find(key);
    const std::string old = found == before.end() ? "(absent)" : found->second;
    if (old != value) diffs += "\n  " + key + ": " + old + " in the folder, " + value + " now";
  }
  for (const auto& [key, value] : before) {
    if (!after.count(key)) diffs += "\n  " + key + ": " + value + " in the folder, (absent) now";
  }
  if (!diffs.empty()) {
    throw UserError("the report folder '" + config.out + "' holds a comparison with another config (" + path +
                    "); its finished runs would not match. Use another --out, or the folder's settings. Differences:" +
                    diffs);
  }
}

tasks::EvalRequest request_for(const CompareConfig& c, const std::string& rule, int64_t epochs, double lr,
                               uint64_t seed) {
  tasks::EvalRequest r;
  r.rule = rule;
  r.task = c.task;
  r.epochs = epochs;
  r.steps = 0;
  r.batch_size = c.batch_size;
  r.lr = lr;
  r.seed = seed;
  r.device = c.device;
  r.dtype = c.dtype;
  r.validation_size = c.validation_size;
  r.train_size = c.train_size;
  r.augment = c.augment;
  r.test_every_epoch = true;
  return r;
}

// The journal's runs by key (a later line for the same key wins; there is none unless edited by hand).
std::map<RunKey, const CompareRun*> index_runs(const std::vector<CompareRun>& runs) {
  std::map<RunKey, const CompareRun*> index;
  for (const CompareRun& run : runs) {
    index[key_of(run.record.rule, run.epochs, run.record.lr, run.record.seed)] = &run;
  }
  return index;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// running

CompareResult run_compare(const CompareConfig& config, const std::vector<CompareRow>& rows,
                          const CompareRuntime& runtime) {
  NOS_CHECK(runtime.pool != nullptr, "run_compare needs an evaluator pool");
  NOS_CHECK(!rows.empty(), "run_compare needs rows (resolve_rows refuses an empty list)");
  if (config.out.empty()) throw UserError("no report folder: give --out DIR (or the config key out)");
  validate(config, "compare config");
  const Clock::time_point started = Clock::now();
  make_directories(config.out);
  const FolderLock lock(config.out);
  check_or_record_config(config, rows);
  const std::string journal_path = config.out + "/" + kCompareJournal;
  std::vector<CompareRun> journal = read_journal(journal_path);

  CompareResult result;
  const bool shared_seed0 = config.tune_epochs == config.epochs;
  const int64_t grid = static_cast<int64_t>(config.lr_grid.size());
  result.total = static_cast<int64_t>(rows.size()) * (grid + config.seeds - (shared_seed0 ? 1 : 0));
  const int64_t total_units =
      static_cast<int64_t>(rows.size()) * (grid * config.tune_epochs + config.seeds * config.epochs -
                                           (shared_seed0 ? config.epochs : 0));

  std::map<RunKey, tasks::EvalRecord> done;
  for (const CompareRun& run : journal) {
    done[key_of(run.record.rule, run.epochs, run.record.lr, run.record.seed)] = run.record;
  }
  struct Pending {
    RunKey key;
    std::string phase;
    int64_t epochs;
    std::string label;
  };
  std::map<int64_t, Pending> in_flight;
  std::set<RunKey> queued, failed;
  int64_t next_id = 1;
  int64_t done_planned = 0, done_units = 0, session_units = 0;

  // The runs of the plan, in order; `visit(phase, row, epochs, lr, seed)` for each one whose inputs are known.
  auto for_each_planned = [&](const auto& visit) {
    for (const CompareRow& row : rows) {
      std::vector<TuneOutcome> tuning;
      bool tuned = true;
      for (double lr : config.lr_grid) {
        visit("tune", row, config.tune_epochs, lr, uint64_t{0});
        auto found = done.find(key_of(row.rule, config.tune_epochs, lr, 0));
        if (found == done.end()) {
          tuned = false;
        } else {
          tuning.push_back({lr, found->second.status, found->second.val_acc});
        }
      }
      if (!tuned) continue;
      const double lr = choose_lr(tuning);
      if (std::isnan(lr)) continue;
      for (int seed = 0; seed < config.seeds; ++seed) {
        if (shared_seed0 && seed == 0) continue;  // the tuning run at this lr
        visit("final", row, config.epochs, lr, static_cast<uint64_t>(seed));
      }
    }
  };
  auto count_done = [&]() {
    done_planned = 0;
    done_units = 0;
    for_each_planned([&](const char*, const CompareRow& row, int64_t epochs, double lr, uint64_t seed) {
      if (done.count(key_of(row.rule, epochs, lr, seed))) {
        ++done_planned;
        done_units += epochs;
      }
    });
  };
  // Rows whose every lr diverged have no seeds: their planned seeds count as done for the progress.
  auto skipped_for_divergence = [&]() {
    int64_t runs = 0, units = 0;
    for (const CompareRow& row : rows) {
      std::vector<TuneOutcome> tuning;
      for (double lr : config.lr_grid) {
        auto found = done.find(key_of(row.rule, config.tune_epochs, lr, 0));
        if (found == done.end()) return std::pair<int64_t, int64_t>{runs, units};
        tuning.push_back({lr, found->second.status, found->second.val_acc});
      }
      if (std::isnan(choose_lr(tuning))) {
        const int64_t seeds = config.seeds - (shared_seed0 ? 1 : 0);
        runs += seeds;
        units += seeds * config.epochs;
      }
    }
    return std::pair<int64_t, int64_t>{runs, units};
  };
  auto report = [&](const std::string& last) {
    if (!runtime.on_progress) return;
    count_done();
    const auto [skip_runs, skip_units] = skipped_for_divergence();
    CompareProgress p;
    p.done = done_planned + skip_runs;
    p.total = result.total;
    p.skipped = result.skipped;
    p.running = std::min<int64_t>(static_cast<int64_t>(in_flight.size()), runtime.pool->size());
    p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const int64_t remaining = total_units - done_units - skip_units;
    p.eta_seconds = session_units > 0 ? p.elapsed_seconds / static_cast<double>(session_units) *
                                            static_cast<double>(std::max<int64_t>(0, remaining))
                                      : 0;
    p.last = last;
    runtime.on_progress(p);
  };
  auto schedule = [&]() {
    for_each_planned([&](const char* phase, const CompareRow& row, int64_t epochs, double lr, uint64_t seed) {
      const RunKey key = key_of(row.rule, epochs, lr, seed);
      if (done.count(key) || queued.count(key) || failed.count(key)) return;
      Job job;
      job.id = next_id++;
      job.request = request_for(config, row.rule, epochs, lr, seed);
      queued.insert(key);
      in_flight[job.id] = {key, phase, epochs, row.label};
      runtime.pool->submit(job);
    });
  };

  count_done();
  result.skipped = done_planned;
  std::ofstream journal_out(journal_path, std::ios::app | std::ios::binary);
  if (!journal_out) throw UserError("cannot write the journal " + journal_path);
  schedule();
  report("");
  while (!in_flight.empty()) {
    if (runtime.stop != nullptr && runtime.stop->load()) {
      runtime.pool->shutdown();
      result.interrupted = true;
      break;
    }
    for (JobResult& r : runtime.pool->wait(0.25)) {
      auto found = in_flight.find(r.id);
      NOS_CHECK(found != in_flight.end(), "the pool returned job " << r.id << ", which compare did not submit");
      const Pending pending = found->second;
      in_flight.erase(found);
      queued.erase(pending.key);
      const std::string what = pending.label + " " +
                               (pending.phase == "tune" ? "lr " + nos::format_number(std::get<2>(pending.key))
                                                        : "seed " + std::to_string(std::get<3>(pending.key)));
      if (r.record.status == "error") {
        runtime.pool->shutdown();
        throw UserError("run " + what + ": " + r.record.message);
      }
      // A worker that died (or was killed past a time limit) leaves no result: not journaled, so a rerun retries it.
      if (r.record.status == "crashed" || r.record.status == "timeout") {
        failed.insert(pending.key);
        ++result.failed;
        report(what + ": " + r.record.status + " (" + r.record.message + ")");
        continue;
      }
      CompareRun run{pending.phase, pending.epochs, r.record};
      // The journal's key is the planned run's, whatever the record holds (an invalid run reports no lr).
      run.record.rule = std::get<0>(pending.key);
      run.record.lr = std::get<2>(pending.key);
      run.record.seed = std::get<3>(pending.key);
      journal_out << journal_line(run) << "\n" << std::flush;
      if (!journal_out) throw UserError("cannot append to the journal " + journal_path);
      journal.push_back(run);
      done[pending.key] = run.record;
      ++result.executed;
      session_units += pending.epochs;
      report(what + ": " + r.record.status + ", val " + fixed(r.record.val_acc, 4, "–"));
    }
    schedule();
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (result.executed > 0 || result.interrupted) {
    // One line per session that trained something: the report sums them into the comparison's wall time.
    const std::string sessions = config.out + "/" + kCompareSessions;
    const bool fresh = !exists(sessions);
    std::ofstream log(sessions, std::ios::app);
    if (fresh) log << "finished_utc,wall_seconds,runs_executed,jobs,interrupted\n";
    log << utc_now() << "," << exact(result.seconds) << "," << result.executed << "," << config.jobs << ","
        << (result.interrupted ? "true" : "false") << "\n";
  }
  ReportFiles files = write_compare_report(config, rows, journal, runtime.context, result.seconds);
  result.summary = std::move(files.summary);
  result.notes = std::move(files.notes);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// the report

namespace {

// The data of one row, taken from the journal.
struct RowData {
  std::vector<std::pair<double, const tasks::EvalRecord*>> tuning;  // per lr of the grid (nullptr: not run yet)
  double lr = kNaN;
  std::string tuning_state;
  std::vector<std::pair<uint64_t, const tasks::EvalRecord*>> seeds;  // per seed (nullptr: not run yet)
};

RowData row_data(const CompareConfig& config, const CompareRow& row,
                 const std::map<RunKey, const CompareRun*>& index) {
  RowData d;
  std::vector<TuneOutcome> outcomes;
  bool complete = true;
  for (double lr : config.lr_grid) {
    auto found = index.find(key_of(row.rule, config.tune_epochs, lr, 0));
    const tasks::EvalRecord* record = found == index.end() ? nullptr : &found->second->record;
    d.tuning.push_back({lr, record});
    if (record == nullptr) {
      complete = false;
    } else {
      outcomes.push_back({lr, record->status, record->val_acc});
    }
  }
  if (!complete) {
    d.tuning_state = "tuning incomplete";
    return d;
  }
  d.lr = choose_lr(outcomes);
  d.tuning_state = std::isnan(d.lr) ? "every lr diverged" : "chosen";
  if (std::isnan(d.lr)) return d;
  for (int seed = 0; seed < config.seeds; ++seed) {
    auto found = index.find(key_of(row.rule, config.epochs, d.lr, static_cast<uint64_t>(seed)));
    d.seeds.push_back({static_cast<uint64_t>(seed), found == index.end() ? nullptr : &found->second->record});
  }
  return d;
}

RowSummary summarize(const CompareConfig& config, const CompareRow& row, const RowData& d) {
  RowSummary s;
  s.row = row;
  s.lr = d.lr;
  s.tuning = d.tuning_state;
  s.seeds_planned = config.seeds;
  std::vector<double> final_val, best_val, final_test, best_test, loss, seconds;
  std::map<std::string, int> statuses;
  for (const auto& [seed, record] : d.seeds) {
    if (record == nullptr) {
      ++statuses["missing"];
      continue;
    }
    ++s.seeds_done;
    ++statuses[record->status];
    for (const tasks::EpochMetrics& m : record->epochs) seconds.push_back(m.seconds);
    if (record->status != "ok" || record->epochs.empty()) continue;
    ++s.seeds_ok;
    final_val.push_back(record->epochs.back().val_acc);
    final_test.push_back(record->epochs.back().test_acc);
    loss.push_back(record->epochs.back().train_loss);
    double bv = -1, bt = -1;
    for (const tasks::EpochMetrics& m : record->epochs) {
      if (std::isfinite(m.val_acc)) bv = std::max(bv, m.val_acc);
      if (std::isfinite(m.test_acc)) bt = std::max(bt, m.test_acc);
    }
    best_val.push_back(bv >= 0 ? bv : kNaN);
    best_test.push_back(bt >= 0 ? bt : kNaN);
  }
  s.final_val = stat_of(final_val);
  s.best_val = stat_of(best_val);
  s.final_test = stat_of(final_test);
  s.best_test = stat_of(best_test);
  s.final_train_loss = stat_of(loss);
  s.seconds_per_epoch = stat_of(seconds).mean;
  if (d.seeds.empty()) {
    s.statuses = d.tuning_state == "chosen" ? "" : d.tuning_state;
  } else {
    for (const char* status : {"ok", "diverged", "timeout", "invalid", "missing"}) {
      auto found = statuses.find(status);
      if (found == statuses.end()) continue;
      s.statuses += (s.statuses.empty() ? "" : ", ") + std::to_string(found->second) + " " + status;
      statuses.erase(found);
    }
    for (const auto& [status, n] : statuses) s.statuses += ", " + std::to_string(n) + " " + status;
  }
  return s;
}

std::string mean_std(const Stat& s, int digits) {
  if (s.n == 0) return "–";
  std::string text = fixed(s.mean, digits, "–");
  if (s.n >= 2) text += " ± " + fixed(s.std, digits, "–");
  return text;
}

std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '*' || c == '_' || c == '`') out += std::string("\\") + c;
    else out += c;
  }
  return out;
}

std::string lr_text(double lr) { return std::isfinite(lr) ? nos::format_number(lr) : "–"; }

// A gnuplot string literal (double quotes; backslash and quote escaped).
std::string gp_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

// Writes plots/row-N.dat (epoch; test accuracy mean, min, max; train loss mean, min, max over the ok seeds) and
// plots/plots.gp; runs gnuplot when given. Returns notes.
std::vector<std::string> write_plots(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                     const std::vector<RowData>& data, const ReportContext& context) {
  std::vector<std::string> notes;
  const std::string dir = config.out + "/plots";
  make_directories(dir);
  std::vector<int> plotted;
  std::map<std::string, int> color_of;  // a native row takes its twin's colour, dashed
  int next_color = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::ostringstream dat;
    dat << "# " << rows[i].label << "\n# epoch test_mean test_min test_max loss_mean loss_min loss_max seeds\n";
    int lines = 0;
    for (int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
      std::vector<double> test, loss;
      for (const auto& [seed, record] : data[i].seeds) {
        if (record == nullptr || record->status != "ok") continue;
        for (const tasks::EpochMetrics& m : record->epochs) {
          if (m.epoch != epoch) continue;
          test.push_back(m.test_acc);
          loss.push_back(m.train_loss);
        }
      }
      const Stat t = stat_of(test), l = stat_of(loss);
      if (t.n == 0 && l.n == 0) continue;
      dat << epoch << " " << exact(t.mean) << " " << exact(t.min) << " " << exact(t.max) << " " << exact(l.mean)
          << " " << exact(l.min) << " " << exact(l.max) << " " << t.n << "\n";
      ++lines;
    }
    write_text(dir + "/row-" + std::to_string(i + 1) + ".dat", dat.str());
    if (lines > 0) plotted.push_back(static_cast<int>(i));
  }
  for (int i : plotted) {
    const CompareRow& row = rows[static_cast<size_t>(i)];
    const optimizers::NativeRule* native = optimizers::find_native_rule(row.rule);
    const std::string family = row.kind == "native" && native != nullptr ? native->twin : row.rule;
    if (!color_of.count(family)) color_of[family] = next_color++;
  }
  std::ostringstream gp;
  gp << "# Made by nos compare: test accuracy and training loss per epoch, one line per rule (mean over the seeds\n"
     << "# with status ok), the band from the lowest to the highest seed. Run from the report folder: gnuplot "
        "plots/plots.gp\n"
     << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
     << "  set terminal pngcairo size 1000,640 noenhanced font \",11\"\n"
     << "} else {\n"
     << "  set terminal png size 1000,640 noenhanced\n"
     << "}\n"
     << "set key outside right top\nset grid\nset xlabel \"epoch\"\nset xtics 1\n"
     << "set xrange [" << (config.epochs > 1 ? "1" : "0.5") << ":" << config.epochs + (config.epochs > 1 ? 0 : 0.5)
     << "]\nset style fill transparent solid 0.15 noborder\n";
  auto plot = [&](const std::string& file, const std::string& title, const std::string& ylabel, int mean_col) {
    gp << "set output \"" << file << "\"\nset title " << gp_string(title) << "\nset ylabel \"" << ylabel << "\"\n";
    if (plotted.empty()) {
      gp << "set label 1 \"no finished seeds yet\" at graph 0.5, graph 0.5 center\n"
         << "plot [1:2] [0:1] NaN notitle\nunset label 1\n";
      return;
    }
    gp << "plot \\\n";
    for (size_t k = 0; k < plotted.size(); ++k) {
      const int i = plotted[k];
      const CompareRow& row = rows[static_cast<size_t>(i)];
      const optimizers::NativeRule* native = optimizers::find_native_rule(row.rule);
      const std::string family = row.kind == "native" && native != nullptr ? native->twin : row.rule;
      const std::string color = kColors[color_of[family] % 10];
      const std::string data_file = "\"plots/row-" + std::to_string(i + 1) + ".dat\"";
      const int dash = row.kind == "native" ? 2 : 1;
      gp << "  " << data_file << " using 1:" << mean_col + 1 << ":" << mean_col + 2
         << " with filledcurves lc rgb \"" << color << "\" notitle, \\\n"
         << "  " << data_file << " using 1:" << mean_col << " with linespoints lw 2 pt 7 ps 0.6 dt " << dash
         << " lc rgb \"" << color << "\" title " << gp_string(row.label) << (k + 1 < plotted.size() ? ", \\\n" : "\n");
    }
  };
  const std::string subtitle = config.task + ", " + std::to_string(config.seeds) + " seeds (band: min..max)";
  plot("test_acc.png", "test accuracy per epoch: " + subtitle, "test accuracy", 2);
  plot("train_loss.png", "training loss per epoch: " + subtitle, "mean training loss", 5);
  write_text(dir + "/plots.gp", gp.str());
  if (context.gnuplot.empty()) {
    notes.push_back("gnuplot was not found: no PNG plots (the data and script are in plots/; install gnuplot and "
                    "run 'gnuplot plots/plots.gp' in the report folder)");
    return notes;
  }
  const std::string command = "cd " + shell_quote(config.out) + " && " + shell_quote(context.gnuplot) +
                              " plots/plots.gp > plots/gnuplot.log 2>&1";
  const int status = std::system(command.c_str());
  if (status != 0) {
    notes.push_back("gnuplot failed (exit status " + std::to_string(status) + "): see " + dir + "/gnuplot.log");
  }
  return notes;
}

std::string csv_number(double x) { return exact(x); }

// The wall time of the sessions that trained runs (DIR/sessions.csv), or of this call when there are none.
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

}  // namespace

ReportFiles write_compare_report(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                 const std::vector<CompareRun>& journal, const ReportContext& context,
                                 double session_seconds) {
  make_directories(config.out);
  const std::map<RunKey, const CompareRun*> index = index_runs(journal);
  std::vector<RowData> data;
  ReportFiles files;
  for (const CompareRow& row : rows) {
    data.push_back(row_data(config, row, index));
    files.summary.push_back(summarize(config, row, data.back()));
  }

  // results.csv: one line per rule × seed × epoch (a run that stopped before its first epoch: one line, epoch 0).
  std::ostringstream results;
  results << "rule,canonical,kind,lr,seed,epoch,steps,train_loss,val_acc,test_acc,seconds,status\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& row = rows[i];
    const std::string head = csv_field(row.label) + "," + csv_field(row.canonical) + "," + row.kind + ",";
    for (const auto& [seed, record] : data[i].seeds) {
      if (record == nullptr) continue;
      if (record->epochs.empty()) {
        results << head << csv_number(data[i].lr) << "," << seed << ",0,0,,,,," << record->status << "\n";
      }
      for (const tasks::EpochMetrics& m : record->epochs) {
        results << head << csv_number(data[i].lr) << "," << seed << "," << m.epoch << "," << m.steps << ","
                << csv_number(m.train_loss) << "," << csv_number(m.val_acc) << "," << csv_number(m.test_acc) << ","
                << csv_number(m.seconds) << "," << record->status << "\n";
      }
    }
  }
  write_text(config.out + "/results.csv", results.str());

  // tuning.csv: one line per rule × lr of the grid.
  std::ostringstream tuning;
  tuning << "rule,canonical,kind,lr,seed,epochs,val_acc,train_loss,seconds,status,chosen\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& row = rows[i];
    for (const auto& [lr, record] : data[i].tuning) {
      if (record == nullptr) continue;
      tuning << csv_field(row.label) << "," << csv_field(row.canonical) << "," << row.kind << "," << csv_number(lr)
             << ",0," << config.tune_epochs << "," << csv_number(record->status == "ok" ? record->val_acc : kNaN)
             << "," << csv_number(record->final_loss) << "," << csv_number(record->seconds) << "," << record->status
             << "," << (lr == data[i].lr ? "true" : "false") << "\n";
    }
  }
  write_text(config.out + "/tuning.csv", tuning.str());

  // summary.csv: one line per rule.
  std::ostringstream summary;
  summary << "rule,canonical,kind,lr,seeds,seeds_ok,final_val_mean,final_val_std,best_val_mean,best_val_std,"
             "final_test_mean,final_test_std,best_test_mean,best_test_std,final_train_loss_mean,"
             "final_train_loss_std,seconds_per_epoch,tuning,statuses\n";
  for (const RowSummary& s : files.summary) {
    summary << csv_field(s.row.label) << "," << csv_field(s.row.canonical) << "," << s.row.kind << ","
            << csv_number(s.lr) << "," << s.seeds_planned << "," << s.seeds_ok << "," << csv_number(s.final_val.mean)
            << "," << csv_number(s.final_val.std) << "," << csv_number(s.best_val.mean) << ","
            << csv_number(s.best_val.std) << "," << csv_number(s.final_test.mean) << ","
            << csv_number(s.final_test.std) << "," << csv_number(s.best_test.mean) << ","
            << csv_number(s.best_test.std) << "," << csv_number(s.final_train_loss.mean) << ","
            << csv_number(s.final_train_loss.std) << "," << csv_number(s.seconds_per_epoch) << ","
            << csv_field(s.tuning) << "," << csv_field(s.statuses) << "\n";
  }
  write_text(config.out + "/summary.csv", summary.str());

  files.notes = write_plots(config, rows, data, context);

  // report.md
  std::string provenance;
  int64_t runs = 0;
  double run_seconds = 0;
  for (const CompareRun& run : journal) {
    if (provenance.empty()) provenance = run.record.data;
    ++runs;
    run_seconds += run.record.seconds;
  }
  int64_t planned = 0, finished = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (const auto& [lr, record] : data[i].tuning) {
      ++planned;
      finished += record != nullptr;
    }
    for (const auto& [seed, record] : data[i].seeds) {
      if (seed == 0 && config.tune_epochs == config.epochs) continue;
      ++planned;
      finished += record != nullptr;
    }
  }
  const bool complete = [&] {
    for (const RowData& d : data) {
      if (d.tuning_state == "tuning incomplete") return false;
      for (const auto& [seed, record] : d.seeds) {
        if (record == nullptr) return false;
      }
    }
    return true;
  }();
  std::ostringstream md;
  md << "# nos compare: " << config.task << "\n\n";
  if (!complete) {
    md << "**Incomplete:** " << finished << " of the runs planned so far are finished; rerun the same command to "
          "complete it (finished runs are kept).\n\n";
  }
  md << "Each rule's learning rate was tuned on the validation split (seed 0, " << config.tune_epochs << " epoch"
     << (config.tune_epochs == 1 ? "" : "s") << " per lr), then " << config.seeds << " seed"
     << (config.seeds == 1 ? "" : "s") << " trained for " << config.epochs << " epoch" << (config.epochs == 1 ? "" : "s")
     << " at the chosen lr. Accuracies are fractions, mean ± sample standard deviation over the seeds with status ok "
        "(final: after the last epoch; best: the best epoch of each seed — best test accuracy is optimistic, since "
        "it picks an epoch by the test set: read the final columns).\n\n";
  md << "| rule | kind | lr | final val | best val | final test | best test | final train loss | s/epoch | seeds |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RowSummary& s : files.summary) {
    md << "| " << md_cell(s.row.label) << " | " << s.row.kind << " | " << lr_text(s.lr) << " | "
       << mean_std(s.final_val, 4) << " | " << mean_std(s.best_val, 4) << " | " << mean_std(s.final_test, 4) << " | "
       << mean_std(s.best_test, 4) << " | " << mean_std(s.final_train_loss, 4) << " | "
       << fixed(s.seconds_per_epoch, 1, "–") << " | " << md_cell(s.statuses.empty() ? s.tuning : s.statuses) << " |\n";
  }
  md << "\ns/epoch: wall time of one epoch of one run, validation and test passes included; it depends on the "
        "machine's load (the parallel runs share its cores).\n\n";
  const bool have_png = exists(config.out + "/test_acc.png") && !context.gnuplot.empty();
  if (have_png) {
    md << "![test accuracy per epoch](test_acc.png)\n\n![training loss per epoch](train_loss.png)\n\n"
       << "Lines: mean over the seeds; bands: lowest to highest seed. A native LibTorch row is dashed, in its twin's "
          "colour.\n\n";
  }
  for (const std::string& note : files.notes) md << "*Note:* " << note << "\n\n";

  md << "## Learning-rate tuning\n\nValidation accuracy after " << config.tune_epochs << " epoch"
     << (config.tune_epochs == 1 ? "" : "s") << " with seed 0 (**bold**: chosen; – : diverged or not run).\n\n| rule |";
  for (double lr : config.lr_grid) md << " " << nos::format_number(lr) << " |";
  md << " chosen |\n|---|";
  for (size_t k = 0; k < config.lr_grid.size(); ++k) md << "---|";
  md << "---|\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    md << "| " << md_cell(rows[i].label) << " |";
    for (const auto& [lr, record] : data[i].tuning) {
      std::string cell = record == nullptr ? "not run"
                         : record->status == "ok" ? fixed(record->val_acc, 4, "–")
                                                  : record->status;
      if (lr == data[i].lr) cell = "**" + cell + "**";
      md << " " << cell << " |";
    }
    md << " " << (std::isfinite(data[i].lr) ? nos::format_number(data[i].lr) : data[i].tuning_state) << " |\n";
  }

  md << "\n## Rules\n\n| rule | kind | canonical form | from |\n|---|---|---|---|\n";
  for (const CompareRow& row : rows) {
    md << "| " << md_cell(row.label) << " | " << row.kind << " | `" << row.canonical << "` | " << md_cell(row.origin)
       << " |\n";
  }
  md << "\nA *native* row is LibTorch's own optimizer class (`torch::optim`), trained by the same loop as its "
        "compiled twin: their rows should agree within the seed-to-seed spread.\n";

  md << "\n## Protocol\n\n"
     << "1. **Tuning.** For each rule, one run per learning rate of the grid (" ;
  for (size_t k = 0; k < config.lr_grid.size(); ++k) md << (k ? ", " : "") << nos::format_number(config.lr_grid[k]);
  md << ") with seed 0 and a budget of " << config.tune_epochs << " epoch" << (config.tune_epochs == 1 ? "" : "s")
     << ", from the same initialisation. The lr with the best validation accuracy after that budget is chosen; a "
        "run that diverged (non-finite loss, or a loss far above its start) counts as worst; ties go to the smaller "
        "lr. A rule whose every lr diverged gets no seeds.\n"
     << "2. **Seeds.** At the chosen lr, seeds 0 … " << config.seeds - 1 << " each train a fresh model for "
     << config.epochs << " epoch" << (config.epochs == 1 ? "" : "s")
     << " (the seed sets the initialisation, batch order and the rule's noise); validation and test accuracy are "
        "measured after every epoch."
     << (config.tune_epochs == config.epochs ? " As the tuning budget equals the full budget, seed 0 is the tuning "
                                               "run at the chosen lr (the same run, not repeated)."
                                             : "")
     << "\n3. **Aggregation.** Mean and sample standard deviation (n − 1) over the seeds with status ok; diverged "
        "seeds are counted in the last column. Test accuracy plays no part in any choice.\n"
     << "\nThe decays of powersign/addsign variants (ld, cd, rd) use T = the run's total step count, so a tuning run "
        "sees the first part of a decay over its own, shorter budget.\n";

  md << "\n## Settings\n\n| setting | value |\n|---|---|\n"
     << "| task | " << config.task << " |\n"
     << "| data | " << md_cell(provenance.empty() ? "(no run finished yet)" : provenance) << " |\n"
     << "| epochs per seed | " << config.epochs << " |\n"
     << "| seeds | " << config.seeds << " |\n"
     << "| tuning | seed 0, " << config.tune_epochs << " epoch(s) per lr |\n"
     << "| batch size | " << config.batch_size << " |\n"
     << "| training images | " << (config.train_size < 0 ? std::string("all not held out") : std::to_string(config.train_size)) << " |\n"
     << "| validation images | " << (config.validation_size < 0 ? std::string("the data set's default") : std::to_string(config.validation_size)) << " |\n"
     << "| augmentation | " << (config.augment ? "random crop (pad 4) and horizontal flip" : "none") << " |\n"
     << "| device, dtype | " << config.device << ", " << (config.dtype.empty() ? "float32" : config.dtype) << " |\n"
     << "| threads per run × parallel runs | " << config.threads << " × " << config.jobs << " |\n";
  if (provenance.find("JPEG") != std::string::npos) {
    md << "\nCIFAR-10 came from the JPEG copy: its pixels differ slightly from the official binary release, so "
          "accuracies are close to, not identical with, those on the official data.\n";
  }

  md << "\n## Machine and versions\n\n| | |\n|---|---|\n"
     << "| command | `" << context.command << "` |\n"
     << "| machine | " << md_cell(context.machine.empty() ? "unknown" : context.machine) << ", " << context.cores
     << " cores |\n"
     << "| nos | " << md_cell(context.nos_version)
     << (context.git_commit.empty() ? std::string() : " (git " + context.git_commit + ")") << " |\n"
     << "| LibTorch | " << md_cell(context.libtorch_version) << " |\n"
     << "| report written | " << utc_now() << " |\n"
     << "| wall time | " << wall_time_text(config.out, session_seconds) << " |\n"
     << "| runs finished | " << runs << " (training time summed over runs: " << fixed(run_seconds / 60, 1, "–")
     << " min) |\n";

  md << "\n## Files\n\n"
     << "- `results.csv`: one line per rule × seed × epoch (rule, canonical, kind, lr, seed, epoch, steps, "
        "train_loss, val_acc, test_acc, seconds, status)\n"
     << "- `tuning.csv`: one line per rule × lr of the grid (val_acc is empty for a run that diverged)\n"
     << "- `summary.csv`: one line per rule (means, sample standard deviations, statuses)\n"
     << "- `runs.jsonl`: every finished run, as it finished (the journal a rerun resumes from)\n"
     << "- `config.yaml`: the comparison's settings; `sessions.csv`: wall time of each session that trained runs\n"
     << "- `plots/`: the plots' data (`row-N.dat`, the rules in table order) and gnuplot script (`plots.gp`)\n";
  write_text(config.out + "/report.md", md.str());
  return files;
}

}  // namespace nos::search
