// Learning-rate schedules (schedule.h): parsing, checks and the factor of every step.
#include "tasks/schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <sstream>

#include "common/error.h"
#include "common/text.h"

namespace nos::tasks {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLongestRun = 1099511627776.0;  // 2^40 steps: what recipe checks take for a run of unknown length

// A numeric key: its name, its field, and the schedules that take it ("" : every schedule).
struct Key {
  const char* name;
  double Schedule::*field;
  std::vector<std::string> schedules;
};

const std::vector<Key>& keys() {
  static const std::vector<Key> table = {
      {"warmup", &Schedule::warmup, {}},
      {"warmup_start", &Schedule::warmup_start, {}},
      {"step_size", &Schedule::step_size, {"step"}},
      {"gamma", &Schedule::gamma, {"step", "exponential"}},
      {"t0", &Schedule::t0, {"cosine"}},
      {"t_mult", &Schedule::t_mult, {"cosine"}},
      {"eta_min", &Schedule::eta_min, {"cosine"}},
      {"num_periods", &Schedule::num_periods, {"linear_cosine", "noisy_linear_cosine"}},
      {"alpha", &Schedule::alpha, {"linear_cosine", "noisy_linear_cosine"}},
      {"beta", &Schedule::beta, {"linear_cosine", "noisy_linear_cosine"}},
      {"initial_variance", &Schedule::initial_variance, {"noisy_linear_cosine"}},
      {"variance_decay", &Schedule::variance_decay, {"noisy_linear_cosine"}},
  };
  return table;
}

bool takes(const std::vector<std::string>& schedules, const std::string& name) {
  return schedules.empty() || std::find(schedules.begin(), schedules.end(), name) != schedules.end();
}

bool counts_epochs(const std::string& name) { return name == "step" || name == "exponential" || name == "cosine"; }

// A length: below 1 a fraction of `whole` (rounded, at least 1 when the fraction is positive), else a count.
// Counts beyond any run (1e19, 1e300) saturate instead of overflowing int64_t: check_schedule refuses them as longer
// than the run.
int64_t length_of(double x, int64_t whole) {
  if (x <= 0) return 0;
  if (x < 1) return std::max<int64_t>(1, std::llround(x * static_cast<double>(whole)));
  constexpr double kMost = 9.0e18;  // below 2^63
  return x >= kMost ? static_cast<int64_t>(kMost) : static_cast<int64_t>(x);
}

// The schedule's own factor at position s (a step, or an epoch with per_epoch) of a run of `units` positions.
double main_factor(const Schedule& sc, int64_t s, int64_t units) {
  if (sc.name == "step") {
    const double gamma = sc.gamma < 0 ? 0.1 : sc.gamma;
    return std::pow(gamma, static_cast<double>(s / length_of(sc.step_size, units)));
  }
  if (sc.name == "exponential") return std::pow(sc.gamma, static_cast<double>(s));
  if (sc.name == "cosine") {
    // SGDR as torch.optim.lr_scheduler.CosineAnnealingWarmRestarts: the position within the current period.
    int64_t period = sc.t0 == 0 ? units : length_of(sc.t0, units);
    int64_t within = s;
    while (within >= period) {
      within -= period;
      // A period longer than the run is the last one: capped there, so a large t_mult cannot overflow.
      period = static_cast<double>(period) * sc.t_mult > static_cast<double>(units)
                   ? units + 1
                   : period * static_cast<int64_t>(sc.t_mult);
    }
    return sc.eta_min + (1 - sc.eta_min) * (1 + std::cos(kPi * static_cast<double>(within) /
                                                              static_cast<double>(period))) / 2;
  }
  return 1;
}

}  // namespace

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = {"constant", "step", "exponential", "cosine", "linear_cosine",
                                                 "noisy_linear_cosine"};
  return names;
}

Schedule parse_schedule(const std::string& text, const std::string& where) {
  Schedule s;
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(trim(part));
  if (parts.empty() || parts[0].empty()) {
    throw UserError(where + ": expected NAME[,KEY=VALUE...] with NAME one of " + joined(schedule_names()));
  }
  s.name = parts[0];
  const std::vector<std::string>& names = schedule_names();
  if (std::find(names.begin(), names.end(), s.name) == names.end()) {
    throw UserError(where + ": unknown schedule '" + s.name + "' (expected one of " + joined(names) + ")");
  }
  std::vector<std::string> seen;
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    if (eq == std::string::npos) throw UserError(where + ": expected KEY=VALUE, got '" + parts[i] + "'");
    const std::string key = trim(parts[i].substr(0, eq)), value = trim(parts[i].substr(eq + 1));
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      throw UserError(where + ": key '" + key + "' is given twice; give each key once");
    }
    seen.push_back(key);
    if (key == "per_epoch") {
      if (!counts_epochs(s.name)) throw UserError(where + ": schedule " + s.name + " takes no key 'per_epoch'");
      if (value != "true" && value != "false") throw UserError(where + ": per_epoch: expected true or false");
      s.per_epoch = value == "true";
      continue;
    }
    auto found = std::find_if(keys().begin(), keys().end(), [&](const Key& k) { return key == k.name; });
    if (found == keys().end()) throw UserError(where + ": unknown key '" + key + "'");
    if (!takes(found->schedules, s.name)) {
      throw UserError(where + ": schedule " + s.name + " takes no key '" + key + "'");
    }
    double x = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), x);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(x)) {
      throw UserError(where + ": " + key + ": expected a number, got '" + value + "'");
    }
    // Lengths (and t_mult) beyond any run are refused here, naming the flag or key; the run's own length is checked
    // when it starts (check_schedule).
    const bool length = key == "warmup" || key == "step_size" || key == "t0" || key == "t_mult";
    if (length && x > kLongestRun) {
      throw UserError(where + ": " + key + ": " + value + " is longer than any run (at most " +
                      std::to_string(static_cast<int64_t>(kLongestRun)) + " steps)");
    }
    s.*(found->field) = x;
  }
  return s;
}

std::string schedule_text(const Schedule& s) {
  const Schedule defaults;
  std::string text = s.name;
  for (const Key& k : keys()) {
    if (takes(k.schedules, s.name) && s.*(k.field) != defaults.*(k.field)) {
      text += std::string(",") + k.name + "=" + format_number(s.*(k.field));
    }
  }
  if (s.per_epoch) text += ",per_epoch=true";
  return text;
}

void check_schedule(const Schedule& s, int64_t total_steps, int64_t steps_per_epoch, const std::string& where) {
  auto fail = [&](const std::string& key, const std::string& why) {
    throw UserError(where + ": " + key + ": " + why + " (schedule " + schedule_text(s) + ")");
  };
  const std::vector<std::string>& names = schedule_names();
  if (std::find(names.begin(), names.end(), s.name) == names.end()) fail("name", "unknown schedule '" + s.name + "'");
  const int64_t epochs = (total_steps + steps_per_epoch - 1) / std::max<int64_t>(1, steps_per_epoch);
  const int64_t units = s.per_epoch ? epochs : total_steps;
  const char* unit = s.per_epoch ? " epochs" : " steps";
  for (const Key& k : keys()) {
    if (takes(k.schedules, s.name) && s.*(k.field) < 0 && std::string(k.name) != "gamma") fail(k.name, "must be >= 0");
  }
  auto whole_or_fraction = [&](const char* key, double x) {
    if (x >= 1 && x != std::floor(x)) fail(key, "a length of 1 or more is a whole number of steps");
  };
  // Lengths are compared as given, before any conversion: 9.3e18 or 1e300 steps is longer than any run.
  auto longer = [](double x, int64_t whole) { return x >= 1 ? x > static_cast<double>(whole) : false; };
  whole_or_fraction("warmup", s.warmup);
  if (longer(s.warmup, total_steps)) fail("warmup", "longer than the run (" + std::to_string(total_steps) + " steps)");
  if (s.warmup_start > 1) fail("warmup_start", "must be in [0, 1]");
  if (s.name == "step") {
    whole_or_fraction("step_size", s.step_size);
    if (s.step_size <= 0) fail("step_size", "is required (> 0)");
    if (longer(s.step_size, units)) fail("step_size", "longer than the run (" + std::to_string(units) + unit + ")");
  }
  if ((s.name == "step" && s.gamma >= 0 && (s.gamma == 0 || s.gamma > 1)) ||
      (s.name == "exponential" && (s.gamma <= 0 || s.gamma > 1))) {
    fail("gamma", s.name == "exponential" && s.gamma < 0 ? "is required (in (0, 1])" : "must be in (0, 1]");
  }
  if (s.name == "cosine") {
    whole_or_fraction("t0", s.t0);
    if (longer(s.t0, units)) fail("t0", "longer than the run (" + std::to_string(units) + unit + ")");
    if (s.t_mult < 1 || s.t_mult != std::floor(s.t_mult)) fail("t_mult", "must be a whole number >= 1");
    if (s.t_mult > static_cast<double>(std::max<int64_t>(units, 1))) {
      fail("t_mult", "must be at most the run's length (" + std::to_string(units) + unit +
                         "): a later period would never end within the run, whatever its length");
    }
    if (s.eta_min > 1) fail("eta_min", "must be in [0, 1] (a fraction of the peak lr)");
  }
  if (s.name == "linear_cosine" || s.name == "noisy_linear_cosine") {
    if (s.num_periods <= 0) fail("num_periods", "must be > 0");
  }
}

std::vector<double> schedule_factors(const Schedule& s, int64_t total_steps, int64_t steps_per_epoch, uint64_t seed) {
  const int64_t spe = std::max<int64_t>(1, steps_per_epoch);
  const int64_t units = s.per_epoch ? (total_steps + spe - 1) / spe : total_steps;
  const int64_t warmup = length_of(s.warmup, total_steps);
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, total_steps)));
  for (int64_t t = 0; t < total_steps; ++t) {
    double f = 1;
    if (s.name == "linear_cosine" || s.name == "noisy_linear_cosine") {
      // TensorFlow's linear_cosine_decay and noisy_linear_cosine_decay with decay_steps = the run's steps.
      const double d = static_cast<double>(total_steps);
      const double step = std::min(static_cast<double>(t), d);
      double linear = (d - step) / d;
      if (s.name == "noisy_linear_cosine") {
        const double variance = s.initial_variance / std::pow(1.0 + static_cast<double>(t), s.variance_decay);
        linear += std::sqrt(variance) * normal(generator);
      }
      const double cosine = 0.5 * (1.0 + std::cos(kPi * 2.0 * s.num_periods * step / d));
      f = (s.alpha + linear) * cosine + s.beta;
    } else {
      f = main_factor(s, s.per_epoch ? t / spe : t, units);
    }
    if (warmup > 0) {
      f *= s.warmup_start + (1 - s.warmup_start) * static_cast<double>(std::min(t, warmup)) / static_cast<double>(warmup);
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace nos::tasks
