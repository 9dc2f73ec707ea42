// One-line JSON for jobs and records, written and read through common/json.h.
#include "dispatch/wire.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/json.h"
#include "common/text.h"

namespace nos::dispatch {

namespace {


// ---------------------------------------------------------------------------------------------------------------
// writing

// One object per item, each written by write(JsonObject&, item): an array for JsonObject::add_objects.
template <typename T, typename F>
std::vector<JsonObject> objects(const std::vector<T>& items, F write) {
  std::vector<JsonObject> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) write(out[i], items[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// reading

// A number value (null: NaN, how non-finite numbers travel).
double to_double(const JsonValue& v, const char* key) {
  if (v.kind == JsonValue::Kind::kNull) return kNaN;
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  if (v.kind != JsonValue::Kind::kNumber || ec != std::errc() || ptr != v.text.data() + v.text.size()) {
    throw InternalError(std::string("worker protocol: bad number for '") + key + "'");
  }
  return out;
}

// Typed reads of optional fields: a missing key leaves the target as it is.
void read(const JsonValue& o, const char* key, std::string& out) {
  if (const JsonValue* v = o.get(key); v && v->kind == JsonValue::Kind::kString) out = v->text;
}
void read(const JsonValue& o, const char* key, double& out) {
  if (const JsonValue* v = o.get(key)) out = to_double(*v, key);
}
template <typename Int>
void read_int(const JsonValue& o, const char* key, Int& out) {
  const JsonValue* v = o.get(key);
  if (v == nullptr) return;
  auto [ptr, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), out);
  if (v->kind != JsonValue::Kind::kNumber || ec != std::errc() || ptr != v->text.data() + v->text.size()) {
    throw InternalError(std::string("worker protocol: bad integer for '") + key + "'");
  }
}
void read(const JsonValue& o, const char* key, tasks::Status& out) {
  if (const JsonValue* v = o.get(key); v && v->kind == JsonValue::Kind::kString) out = tasks::parse_status(v->text);
}
void read(const JsonValue& o, const char* key, bool& out) {
  if (const JsonValue* v = o.get(key); v && v->kind == JsonValue::Kind::kBool) out = v->boolean;
}

JsonValue parse_object(const std::string& line) {
  JsonValue root = parse_json(line, "worker protocol");
  if (root.kind != JsonValue::Kind::kObject) throw InternalError("worker protocol: a line is not a JSON object: " + line);
  return root;
}

}  // namespace

namespace {

// A request's training settings go through their field table (tasks/settings.h): a new setting travels with no
// edit here. A setting written only when set is left out at its default.
void write_request(JsonObject& w, const tasks::EvalRequest& r) {
  w.add_string("rule", r.rule)
      .add_int("horizon_epochs", r.horizon_epochs)
      .add_number("hurdle", r.hurdle)
      .add_bool("test_every_epoch", r.test_every_epoch);
  for (const tasks::SettingField& f : tasks::setting_fields()) {
    const std::string text = f.text(r);
    if (!f.on_wire || (f.when_set && text.empty())) continue;
    if (f.text_json) {
      w.add_string(f.key, text);
    } else {
      w.add_raw(f.key, text);
    }
  }
}

// A JSON value as the text a setting's parser reads.
std::string setting_text(const JsonValue& v, const char* key) {
  switch (v.kind) {
    case JsonValue::Kind::kString:
    case JsonValue::Kind::kNumber:
      return v.text;
    case JsonValue::Kind::kBool:
      return v.boolean ? "true" : "false";
    case JsonValue::Kind::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < v.items.size(); ++i) out += (i ? ", " : "") + v.items[i].text;
      return out + "]";
    }
    default:
      throw InternalError(std::string("worker protocol: bad value for '") + key + "'");
  }
}

void read_request(const JsonValue& o, tasks::EvalRequest& r) {
  read(o, "rule", r.rule);
  read_int(o, "horizon_epochs", r.horizon_epochs);
  read(o, "hurdle", r.hurdle);
  read(o, "test_every_epoch", r.test_every_epoch);
  for (const tasks::SettingField& f : tasks::setting_fields()) {
    const JsonValue* v = f.on_wire ? o.get(f.key) : nullptr;
    if (v == nullptr) continue;
    try {
      f.set(r, setting_text(*v, f.key));
    } catch (const UserError& e) {
      throw InternalError(std::string("worker protocol: '") + f.key + "': " + e.what());
    }
  }
}

void write_record(JsonObject& w, const tasks::EvalRecord& r) {
  const std::vector<JsonObject> grid = objects(r.grid, [](JsonObject& t, const tasks::GridTrial& g) {
    t.add_number("lr", g.lr)
        .add_string("status", tasks::status_text(g.status))
        .add_int("steps", g.steps)
        .add_number("train_loss", g.train_loss)
        .add_number("val_acc", g.val_acc)
        .add_number("seconds", g.seconds);
  });
  const std::vector<JsonObject> epochs = objects(r.epochs, [](JsonObject& t, const tasks::EpochMetrics& e) {
    t.add_int("epoch", e.epoch)
        .add_int("steps", e.steps)
        .add_number("train_loss", e.train_loss)
        .add_number("val_acc", e.val_acc)
        .add_number("test_acc", e.test_acc)
        .add_number("seconds", e.seconds)
        .add_number("lr", e.lr);
  });
  w.add_string("rule", r.rule)
      .add_string("canonical", r.canonical)
      .add_string("task", r.task)
      .add_string("status", tasks::status_text(r.status))
      .add_string("message", r.message)
      .add_number("reward", r.reward)
      .add_number("hurdle_acc", r.hurdle_acc)
      .add_number("val_acc", r.val_acc)
      .add_number("test_acc", r.test_acc)
      .add_number("lr", r.lr)
      .add_int("total_steps", r.total_steps)
      .add_int("steps_done", r.steps_done)
      .add_int("steps_per_epoch", r.steps_per_epoch)
      .add_uint("seed", r.seed)
      .add_objects("grid", grid)
      .add_objects("epochs", epochs)
      .add_number("final_loss", r.final_loss)
      .add_number("seconds", r.seconds)
      .add_string("data", r.data);
}

void read_record(const JsonValue& o, tasks::EvalRecord& r) {
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
  if (const JsonValue* grid = o.get("grid"); grid && grid->kind == JsonValue::Kind::kArray) {
    for (const JsonValue& g : grid->items) {
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
  if (const JsonValue* epochs = o.get("epochs"); epochs && epochs->kind == JsonValue::Kind::kArray) {
    for (const JsonValue& e : epochs->items) {
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
const std::vector<JsonValue>* population_of(const JsonValue& o) {
  const JsonValue* v = o.get("population");
  if (v == nullptr) return nullptr;
  if (v->kind != JsonValue::Kind::kArray) throw InternalError("worker protocol: 'population' is not an array");
  return &v->items;
}

}  // namespace

std::string encode_job(const Job& job) {
  JsonObject w;
  w.add_int("job", job.id);
  write_request(w, job.request);
  if (!job.debug.empty()) w.add_string("debug", job.debug);
  if (!job.population.empty()) w.add_objects("population", objects(job.population, write_request));
  if (job.measure_population) w.add_bool("measure_population", true);
  return w.str();
}

Job decode_job(const std::string& line) {
  const JsonValue o = parse_object(line);
  Job job;
  read_int(o, "job", job.id);
  read_request(o, job.request);
  read(o, "debug", job.debug);
  if (const std::vector<JsonValue>* members = population_of(o)) {
    for (const JsonValue& m : *members) read_request(m, job.population.emplace_back());
  }
  read(o, "measure_population", job.measure_population);
  return job;
}

std::string encode_result(int64_t job_id, const tasks::EvalRecord& record) {
  JsonObject w;
  w.add_int("job", job_id);
  write_record(w, record);
  return w.str();
}

std::string encode_result(const JobResult& result) {
  JsonObject w;
  w.add_int("job", result.id);
  write_record(w, result.record);
  if (!result.population.empty()) w.add_objects("population", objects(result.population, write_record));
  if (result.population_k != 0) w.add_int("population_k", result.population_k);
  return w.str();
}

JobResult decode_result(const std::string& line) { return decode_result(parse_object(line)); }

JobResult decode_result(const JsonValue& o) {
  if (o.kind != JsonValue::Kind::kObject) throw InternalError("worker protocol: a record is not a JSON object");
  JobResult result;
  read_int(o, "job", result.id);
  read_record(o, result.record);
  if (const std::vector<JsonValue>* members = population_of(o)) {
    for (const JsonValue& m : *members) read_record(m, result.population.emplace_back());
  }
  read_int(o, "population_k", result.population_k);
  return result;
}

}  // namespace nos::dispatch
