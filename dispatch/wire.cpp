// One-line JSON for jobs and records: a small writer and reader (objects, arrays, strings, numbers, booleans, null).
#include "common/text.h"
#include "dispatch/wire.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/json_text.h"

namespace nos::dispatch {

namespace {


// ---------------------------------------------------------------------------------------------------------------
// writing (escaping and numbers: search/json_text.h)

class Writer {
 public:
  Writer& str(const char* key, const std::string& v) { return raw(key, json_string(v)); }
  Writer& num(const char* key, double v) { return raw(key, json_number(v)); }
  Writer& integer(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
  Writer& uinteger(const char* key, uint64_t v) { return raw(key, std::to_string(v)); }
  Writer& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  Writer& numbers(const char* key, const std::vector<double>& v) {
    std::string a = "[";
    for (size_t i = 0; i < v.size(); ++i) a += (i ? "," : "") + json_number(v[i]);
    return raw(key, a + "]");
  }
  Writer& raw(const char* key, const std::string& json) {
    body_ += (body_.empty() ? "" : ",") + json_string(key) + ":" + json;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

// A JSON array of objects, one per item, each written by write(Writer&, item).
template <typename T, typename F>
std::string objects(const std::vector<T>& items, F write) {
  std::string a = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    Writer w;
    write(w, items[i]);
    a += (i ? "," : "") + w.str();
  }
  return a + "]";
}

// ---------------------------------------------------------------------------------------------------------------
// reading

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number's text as written (integers are read from it exactly)
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;

  const Json* get(const std::string& key) const {
    for (const auto& f : fields) {
      if (f.first == key) return &f.second;
    }
    return nullptr;
  }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InternalError("worker protocol: bad JSON at byte " + std::to_string(i_) + " (" + what + "): " +
                        s_.substr(0, 200));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool take(const char* word) {
    const size_t n = std::char_traits<char>::length(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }

  Json value(int depth) {
    if (depth > 32) fail("nested too deeply");
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Kind::kObject;
      ++i_;
      skip_space();
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a key");
        std::string key = string();
        skip_space();
        if (i_ >= s_.size() || s_[i_] != ':') fail("expected ':'");
        ++i_;
        v.fields.emplace_back(std::move(key), value(depth + 1));
        skip_space();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
        } else if (i_ < s_.size() && s_[i_] == '}') {
          ++i_;
          return v;
        } else {
          fail("expected ',' or '}'");
        }
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::kArray;
      ++i_;
      skip_space();
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.items.push_back(value(depth + 1));
        skip_space();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
        } else if (i_ < s_.size() && s_[i_] == ']') {
          ++i_;
          return v;
        } else {
          fail("expected ',' or ']'");
        }
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::kString;
      v.text = string();
      return v;
    }
    if (take("null")) return v;
    if (take("true")) {
      v.kind = Json::Kind::kBool;
      v.boolean = true;
      return v;
    }
    if (take("false")) {
      v.kind = Json::Kind::kBool;
      return v;
    }
    const size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '+' ||
                              s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
    }
    if (i_ == start) fail("unexpected character");
    v.kind = Json::Kind::kNumber;
    v.text = s_.substr(start, i_ - start);
    return v;
  }

  static void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    uint32_t code = 0;
    auto [ptr, ec] = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, code, 16);
    if (ec != std::errc() || ptr != s_.data() + i_ + 4) fail("bad \\u escape");
    i_ += 4;
    return code;
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unfinished escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t code = hex4();
          if (code >= 0xd800 && code < 0xdc00 && s_.compare(i_, 2, "\\u") == 0) {
            i_ += 2;
            const uint32_t low = hex4();
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, code);
          break;
        }
        default: fail("unknown escape");
      }
    }
    if (i_ >= s_.size()) fail("unfinished string");
    ++i_;
    return out;
  }

  const std::string& s_;
  size_t i_ = 0;
};

// A number value (null: NaN, how non-finite numbers travel).
double to_double(const Json& v, const char* key) {
  if (v.kind == Json::Kind::kNull) return kNaN;
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  if (v.kind != Json::Kind::kNumber || ec != std::errc() || ptr != v.text.data() + v.text.size()) {
    throw InternalError(std::string("worker protocol: bad number for '") + key + "'");
  }
  return out;
}

// Typed reads of optional fields: a missing key leaves the target as it is.
void read(const Json& o, const char* key, std::string& out) {
  if (const Json* v = o.get(key); v && v->kind == Json::Kind::kString) out = v->text;
}
void read(const Json& o, const char* key, double& out) {
  if (const Json* v = o.get(key)) out = to_double(*v, key);
}
template <typename Int>
void read_int(const Json& o, const char* key, Int& out) {
  const Json* v = o.get(key);
  if (v == nullptr) return;
  auto [ptr, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), out);
  if (v->kind != Json::Kind::kNumber || ec != std::errc() || ptr != v->text.data() + v->text.size()) {
    throw InternalError(std::string("worker protocol: bad integer for '") + key + "'");
  }
}
void read(const Json& o, const char* key, bool& out) {
  if (const Json* v = o.get(key); v && v->kind == Json::Kind::kBool) out = v->boolean;
}
void read(const Json& o, const char* key, std::vector<double>& out) {
  const Json* v = o.get(key);
  if (v == nullptr || v->kind != Json::Kind::kArray) return;
  out.clear();
  for (const Json& item : v->items) out.push_back(to_double(item, key));
}

Json parse_object(const std::string& line) {
  Json root = Parser(line).document();
  if (root.kind != Json::Kind::kObject) throw InternalError("worker protocol: a line is not a JSON object: " + line);
  return root;
}

}  // namespace

namespace {

void write_request(Writer& w, const tasks::EvalRequest& r) {
  w.str("rule", r.rule)
      .str("task", r.task)
      .integer("epochs", r.epochs)
      .integer("steps", r.steps)
      .integer("batch_size", r.batch_size)
      .num("lr", r.lr)
      .integer("horizon_epochs", r.horizon_epochs)
      .numbers("lr_grid", r.lr_grid)
      .str("lr_search", r.lr_search)
      .num("hurdle", r.hurdle)
      .str("recipe", tasks::recipe_text(r.recipe))
      .uinteger("seed", r.seed)
      .str("device", r.device)
      .str("dtype", r.dtype)
      .integer("validation_size", r.validation_size)
      .integer("train_size", r.train_size)
      .boolean("augment", r.augment)
      .boolean("test_every_epoch", r.test_every_epoch)
      .boolean("measure_test", r.measure_test)
      .num("time_limit_seconds", r.time_limit_seconds);
}

void read_request(const Json& o, tasks::EvalRequest& r) {
  read(o, "rule", r.rule);
  read(o, "task", r.task);
  read_int(o, "epochs", r.epochs);
  read_int(o, "steps", r.steps);
  read_int(o, "batch_size", r.batch_size);
  read(o, "lr", r.lr);
  read_int(o, "horizon_epochs", r.horizon_epochs);
  read(o, "lr_grid", r.lr_grid);
  read(o, "lr_search", r.lr_search);
  read(o, "hurdle", r.hurdle);
  std::string recipe;
  read(o, "recipe", recipe);
  r.recipe = tasks::parse_recipe_text(recipe, "worker protocol: recipe");
  read_int(o, "seed", r.seed);
  read(o, "device", r.device);
  read(o, "dtype", r.dtype);
  read_int(o, "validation_size", r.validation_size);
  read_int(o, "train_size", r.train_size);
  read(o, "augment", r.augment);
  read(o, "test_every_epoch", r.test_every_epoch);
  read(o, "measure_test", r.measure_test);
  read(o, "time_limit_seconds", r.time_limit_seconds);
}

void write_record(Writer& w, const tasks::EvalRecord& r) {
  const std::string grid = objects(r.grid, [](Writer& t, const tasks::GridTrial& g) {
    t.num("lr", g.lr).str("status", g.status).integer("steps", g.steps).num("train_loss", g.train_loss)
        .num("val_acc", g.val_acc).num("seconds", g.seconds);
  });
  const std::string epochs = objects(r.epochs, [](Writer& t, const tasks::EpochMetrics& e) {
    t.integer("epoch", e.epoch).integer("steps", e.steps).num("train_loss", e.train_loss).num("val_acc", e.val_acc)
        .num("test_acc", e.test_acc).num("seconds", e.seconds).num("lr", e.lr);
  });
  w.str("rule", r.rule)
      .str("canonical", r.canonical)
      .str("task", r.task)
      .str("status", r.status)
      .str("message", r.message)
      .num("reward", r.reward)
      .num("hurdle_acc", r.hurdle_acc)
      .num("val_acc", r.val_acc)
      .num("test_acc", r.test_acc)
      .num("lr", r.lr)
      .integer("total_steps", r.total_steps)
      .integer("steps_done", r.steps_done)
      .integer("steps_per_epoch", r.steps_per_epoch)
      .uinteger("seed", r.seed)
      .raw("grid", grid)
      .raw("epochs", epochs)
      .num("final_loss", r.final_loss)
      .num("seconds", r.seconds)
      .str("data", r.data);
}

void read_record(const Json& o, tasks::EvalRecord& r) {
  read(o, "rule", r.rule);
  read(o, "canonical", r.canonical);
  read(o, "task", r.task);
  read(o, "status", r.status);
  read(o, "message", r.message);
  read(o, "reward", r.reward);
  read(o, "hurdle_acc", r.hurdle_acc);
  read(o, "val_acc", r.val_acc);
  read(o, "test_acc", r.test_acc);
  read(o, "lr", r.lr);
  read_int(o, "total_steps", r.total_steps);
  read_int(o, "steps_done", r.steps_done);
  read_int(o, "steps_per_epoch", r.steps_per_epoch);
  read_int(o, "seed", r.seed);
  if (const Json* grid = o.get("grid"); grid && grid->kind == Json::Kind::kArray) {
    for (const Json& g : grid->items) {
      tasks::GridTrial t;
      read(g, "lr", t.lr);
      read(g, "status", t.status);
      read_int(g, "steps", t.steps);
      read(g, "train_loss", t.train_loss);
      read(g, "val_acc", t.val_acc);
      read(g, "seconds", t.seconds);
      r.grid.push_back(t);
    }
  }
  if (const Json* epochs = o.get("epochs"); epochs && epochs->kind == Json::Kind::kArray) {
    for (const Json& e : epochs->items) {
      tasks::EpochMetrics m;
      read_int(e, "epoch", m.epoch);
      read_int(e, "steps", m.steps);
      read(e, "train_loss", m.train_loss);
      read(e, "val_acc", m.val_acc);
      read(e, "test_acc", m.test_acc);
      read(e, "seconds", m.seconds);
      read(e, "lr", m.lr);
      r.epochs.push_back(m);
    }
  }
  read(o, "final_loss", r.final_loss);
  read(o, "seconds", r.seconds);
  read(o, "data", r.data);
}

// The "population" array of a line: one object per member.
const std::vector<Json>* population_of(const Json& o) {
  const Json* v = o.get("population");
  if (v == nullptr) return nullptr;
  if (v->kind != Json::Kind::kArray) throw InternalError("worker protocol: 'population' is not an array");
  return &v->items;
}

}  // namespace

std::string encode_job(const Job& job) {
  Writer w;
  w.integer("job", job.id);
  write_request(w, job.request);
  if (!job.debug.empty()) w.str("debug", job.debug);
  if (!job.population.empty()) w.raw("population", objects(job.population, write_request));
  return w.str();
}

Job decode_job(const std::string& line) {
  const Json o = parse_object(line);
  Job job;
  read_int(o, "job", job.id);
  read_request(o, job.request);
  read(o, "debug", job.debug);
  if (const std::vector<Json>* members = population_of(o)) {
    for (const Json& m : *members) read_request(m, job.population.emplace_back());
  }
  return job;
}

std::string encode_result(int64_t job_id, const tasks::EvalRecord& record) {
  Writer w;
  w.integer("job", job_id);
  write_record(w, record);
  return w.str();
}

std::string encode_result(const JobResult& result) {
  Writer w;
  w.integer("job", result.id);
  write_record(w, result.record);
  if (!result.population.empty()) w.raw("population", objects(result.population, write_record));
  return w.str();
}

JobResult decode_result(const std::string& line) {
  const Json o = parse_object(line);
  JobResult result;
  read_int(o, "job", result.id);
  read_record(o, result.record);
  if (const std::vector<Json>* members = population_of(o)) {
    for (const Json& m : *members) read_record(m, result.population.emplace_back());
  }
  return result;
}

}  // namespace nos::dispatch
