// Helpers for tests that hold an update path to the reference path: ulp distances, gradients with exact zeros,
// a rule for every primitive and way of using it, and the comparison of a path with the reference over a few steps.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "dsl/dsl.h"
#include "dsl/update.h"

namespace nos::dsl::agreement {

// Distance in units in the last place between a and b (0 when both are NaN or equal; huge when one is NaN).
template <typename T, typename I>
inline int64_t ulp_distance(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : std::numeric_limits<int64_t>::max();
  if (a == b) return 0;
  auto ordered = [](T x) {
    I i;
    std::memcpy(&i, &x, sizeof x);
    return i < 0 ? std::numeric_limits<I>::min() - i : i;
  };
  const I ia = ordered(a), ib = ordered(b);
  const double d = std::fabs(static_cast<double>(ia) - static_cast<double>(ib));
  return d > 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(d);
}

// Largest ulp distance between two tensors of one dtype and shape.
inline int64_t max_ulp(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  EXPECT_EQ(a.scalar_type(), b.scalar_type());
  at::Tensor x = a.contiguous(), y = b.contiguous();
  int64_t worst = 0;
  if (x.scalar_type() == at::kFloat) {
    const float *px = x.data_ptr<float>(), *py = y.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, ulp_distance<float, int32_t>(px[i], py[i]));
  } else {
    const double *px = x.data_ptr<double>(), *py = y.data_ptr<double>();
    for (int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, ulp_distance<double, int64_t>(px[i], py[i]));
  }
  return worst;
}

// An update path under test: fused_update, reference_update or a generated kernel.
using Path = std::function<void(const Program&, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                                const StepContext&, const UpdateArgs&)>;

// A rule's state run by one path: the parameter, its averages and a generator.
struct PathRun {
  Program program;
  at::Tensor w;
  std::vector<at::Tensor> averages;
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();

  PathRun(const Program& p, const at::Tensor& w0, uint64_t seed) : program(p), w(w0.clone()) {
    averages = program.zero_averages(w);
    gen.set_current_seed(seed);
  }
  void step(const at::Tensor& g, int64_t t, const UpdateArgs& args, const Path& path) {
    StepContext ctx{t, /*total_steps=*/20, /*bias_correction=*/true, &gen};
    path(program, w, g, averages, ctx, args);
  }
};

// Gradients with some exact zeros (sign(0), log|0|) and a range of magnitudes; made once per shape, dtype and seed.
inline at::Tensor gradient(at::IntArrayRef sizes, at::ScalarType dtype, uint64_t seed) {
  static std::map<std::tuple<std::vector<int64_t>, int, uint64_t>, at::Tensor> made;
  const auto key = std::make_tuple(sizes.vec(), static_cast<int>(dtype), seed);
  auto found = made.find(key);
  if (found != made.end()) return found->second.clone();
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  gen.set_current_seed(seed);
  at::Tensor g = at::randn(sizes, gen, at::TensorOptions().dtype(at::kDouble));
  g = g * at::exp(at::randn(sizes, gen, at::TensorOptions().dtype(at::kDouble)));
  g.masked_fill_(at::rand(sizes, gen, at::TensorOptions().dtype(at::kDouble)) < 0.05, 0.0);
  made[key] = g.to(dtype);
  return made[key].clone();
}

// Every primitive of the table in a rule: operands alone and times g, unary functions of a tensor and of a
// scalar, binary functions tensor∘tensor, tensor∘scalar and scalar∘tensor.
inline std::vector<std::string> rules_for_every_primitive() {
  std::vector<std::string> rules;
  auto number = [](double x) { return format_number(x); };
  for (const Primitive& p : primitives()) {
    switch (p.role) {
      case Role::kOperand: {
        const std::string name = p.prim == Prim::kConst ? "2" : std::string(p.name);
        rules.push_back(name);
        rules.push_back(name + "*g");
        break;
      }
      case Role::kUnary: {
        if (p.prim == Prim::kIdentity) continue;  // token form only
        if (p.prim == Prim::kNeg) {
          rules.insert(rules.end(), {"-g", "-m*ld", "-(ld)*g"});
          continue;
        }
        const std::string extra =
            p.param.kind == ParamSpec::Kind::kRequired ? ", " + number(p.vocabulary.back()) : std::string();
        const std::string f(p.name);
        rules.push_back(f + "(g" + extra + ")");
        rules.push_back(f + "(m" + extra + ")*g");
        rules.push_back(f + "(ld" + extra + ")*g");
        rules.push_back(f + "(w*v" + extra + ")");
        break;
      }
      case Role::kBinary: {
        auto apply = [&](const std::string& x, const std::string& y) {
          return p.symbol.empty() ? std::string(p.name) + "(" + x + ", " + y + ")" : "(" + x + ")" +
                                                                                       std::string(p.symbol) + "(" +
                                                                                       y + ")";
        };
        rules.push_back(apply("g", "m"));
        rules.push_back(apply("g", "cd"));
        rules.push_back(apply("rd", "m"));
        rules.push_back(apply("g", "1.5"));
        rules.push_back(apply("y", "g"));
        if (p.prim == Prim::kPow) {
          // at::pow's special exponents.
          for (const char* e : {"0.5", "2", "3", "-0.5", "-1", "-2"}) rules.push_back(apply("v", e));
          rules.push_back(apply("1", "g"));
        }
        break;
      }
    }
  }
  // The named rules' shapes and compositions with several live values.
  for (const char* r : {"exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "exp(cd*sign(g)*sign(m))*g",
                        "adam", "10*m", "g/sqrt(v(0.99))", "m(0.5)+m(0.8)*v(0.9)-y(0.5)/m",
                        "drop(g,0.3)+drop(m,0.5)*noise", "clip(adam,0.001)*exp(log(g)+sqrt(w))",
                        "keep(g,m)*2", "(g+m)*(g+m)-(g-m)"}) {
    rules.push_back(r);
  }
  // Selects (functions of sign(x)·sign(y) chosen from three values): every way into and out of one, including
  // products whose zeros carry a sign (−0 where the other factor is negative), which only some functions may
  // absorb (pow(±0, −1) = ±inf: the planner must keep that product as a tensor).
  for (const char* r : {"sign(g)*sign(g)", "-sign(g)*sign(m)", "sign(-sign(g)*sign(m))", "(sign(g)*sign(m))-0",
                        "0-sign(g)*sign(m)", "(sign(g)*sign(m))^(-1)", "log(sign(g)*sign(m))*g",
                        "sqrt(2*sign(g)*sign(m))*g", "(1-ld*sign(g)*sign(m))*g", "exp(sign(g))*exp(sign(m))*g",
                        "clip(sign(g)*sign(m)*3, 2)*g", "keep(sign(g)*sign(m), g)*g", "sign(m)*sign(v)/g",
                        "sign(g)*sign(m)*sign(w)", "exp(sign(g)*sign(m))+exp(sign(g)*sign(m))*g",
                        "2^(sign(g)*sign(m))*g", "(sign(g)*sign(m))/(2)", "sign(w)*sign(g)*w", "-(sign(m)*ld)*g",
                        "(sign(g)*sign(m)+1)*(1-sign(g)*sign(m))", "sign(drop(g, 0.5))*sign(m)*g"}) {
    rules.push_back(r);
  }
  // Issue 16's state: Lion, vmax beside its v, mp beside m of the same β, selects of mp, ε parameters, t and T.
  for (const char* r : {"sign(0.9*mp + 0.1*g)", "mp(0.5) + m(0.5)", "sign(mp)*sign(g)*g", "vmax(0.99) + v(0.99)",
                        "amsgrad(1e-6) + adam(0.001)", "adagrad + s*g", "rmsprop(0.01)", "g/sqrt(t)", "t/T*g",
                        "max(abs(g), vmax)", "mp*mp - mp(0.9)", "amsgrad*adagrad(1e-3)", "nadam(0.001)*sign(m)",
                        "radam + nadam", "radam(1e-6)*g"}) {
    rules.push_back(r);
  }
  // Reductions (the fused CPU kernel's stages): LARS's and LAMB's shapes, several at one level, nested ones (three
  // and four stages), one read only through trust, reductions beside mp (updated after the rule) and beside
  // selects, and one whose value is dropped by keep.
  for (const char* r : {"norm(g)*g", "trust(adam)", "trust(adam(1e-6) + 0.01*w)", "norm(w)/norm(g)*g",
                        "nadam*norm(g)", "radam + norm(mp)", "norm(norm(g)*m)*g", "trust(norm(v)*m + g)",
                        "norm(trust(norm(g)*g))*sign(m)", "trust(sign(g)*sign(m))", "exp(sign(g)*sign(m))*trust(g)",
                        "keep(g, norm(m))", "norm(ld*g)*cd", "sign(mp)*trust(m) + norm(mp)"}) {
    rules.push_back(r);
  }
  return rules;
}

// Whether the generated CUDA kernel has a form for the rule: every rule but those with a reduction.
inline bool elementwise(const std::string& rule) { return !compile(parse(rule)).has_reduction(); }

struct Compared {
  int64_t direction_ulp = 0;  // after one step from w = 0 with lr = 1: w = −direction
  int64_t state_ulp = 0;      // after three steps from a random w: w and the averages
  double normwise = 0;        // largest max|a − b| / max|b| over the same tensors (finite elements)
  bool same_nonfinite = true;  // NaN and ±inf in the same places
};

inline void add_normwise(Compared& c, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  const at::Tensor finite = at::isfinite(x) & at::isfinite(y);
  c.same_nonfinite = c.same_nonfinite && at::equal(at::isnan(x), at::isnan(y)) &&
                     at::equal(at::isposinf(x), at::isposinf(y)) && at::equal(at::isneginf(x), at::isneginf(y));
  if (!finite.any().item<bool>()) return;
  const double scale = y.masked_select(finite).abs().max().item<double>();
  const double diff = (x - y).masked_select(finite).abs().max().item<double>();
  if (scale > 0) c.normwise = std::max(c.normwise, diff / scale);
}

// The CPU fused path, checked to be the one that runs.
inline void fused_path(const Program& program, const at::Tensor& w, const at::Tensor& g,
                       std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
  ASSERT_EQ(fused_unsupported_reason(w, g, averages), "");
  fused_update(program, w, g, averages, ctx, args);
}

// One step from w = 0 (direction and averages), then `steps` steps from a random w (parameter and averages), by
// `path` and by the reference path.
inline Compared compare(const std::string& rule, at::ScalarType dtype, const at::Tensor& w0_like,
                        double weight_decay = 0, int64_t steps = 3, const Path& path = fused_path) {
  const Program program = compile(parse(rule));
  Compared out;
  {
    at::Tensor zero = at::zeros_like(w0_like);
    PathRun fused(program, zero, 7), reference(program, zero, 7);
    at::Tensor g = gradient(w0_like.sizes(), dtype, 1).contiguous(w0_like.suggest_memory_format());
    fused.step(g, 0, {1.0, weight_decay}, path);
    reference.step(g, 0, {1.0, weight_decay}, reference_update);
    out.direction_ulp = max_ulp(fused.w, reference.w);
    add_normwise(out, fused.w, reference.w);
    for (size_t i = 0; i < fused.averages.size(); ++i) {
      out.direction_ulp = std::max(out.direction_ulp, max_ulp(fused.averages[i], reference.averages[i]));
      add_normwise(out, fused.averages[i], reference.averages[i]);
    }
  }
  if (steps == 0) return out;
  at::Tensor w0 = gradient(w0_like.sizes(), dtype, 99);
  at::Tensor w = w0_like.clone().copy_(w0);
  PathRun fused(program, w, 11), reference(program, w, 11);
  for (int64_t t = 0; t < steps; ++t) {
    at::Tensor g = gradient(w.sizes(), dtype, 100 + t);
    fused.step(g, t, {0.01, weight_decay}, path);
    reference.step(g, t, {0.01, weight_decay}, reference_update);
  }
  out.state_ulp = max_ulp(fused.w, reference.w);
  add_normwise(out, fused.w, reference.w);
  for (size_t i = 0; i < fused.averages.size(); ++i) {
    out.state_ulp = std::max(out.state_ulp, max_ulp(fused.averages[i], reference.averages[i]));
    add_normwise(out, fused.averages[i], reference.averages[i]);
  }
  return out;
}

// A rule run in place on views of their own storage (a transposed matrix: dense, not in the default order; every
// other row: not dense; channels-last) by `path` and by the reference path, three steps each.
struct ViewRun {
  at::Tensor by_path, by_reference, start;
};
inline std::vector<ViewRun> run_on_views(const Program& program, const Path& path) {
  using Make = at::Tensor (*)();
  const Make cases[] = {
      [] { return gradient({64, 35}, at::kFloat, 5).t(); },
      [] { return gradient({64, 35}, at::kFloat, 5).slice(0, 0, 64, 2); },
      [] { return gradient({4, 3, 5, 7}, at::kFloat, 6).contiguous(at::MemoryFormat::ChannelsLast); },
  };
  std::vector<ViewRun> runs;
  for (Make make : cases) {
    at::Tensor wp = make(), wr = make();
    const at::Tensor start = wp.clone();
    PathRun by_path(program, wp, 1), reference(program, wr, 1);
    by_path.w = wp;  // the views themselves, not copies
    reference.w = wr;
    by_path.averages = program.zero_averages(wp);
    reference.averages = program.zero_averages(wr);
    for (int64_t t = 0; t < 3; ++t) {
      at::Tensor g = gradient(wp.sizes(), at::kFloat, 40 + t);
      by_path.step(g, t, {0.1, 0.0}, path);
      reference.step(g, t, {0.1, 0.0}, reference_update);
    }
    runs.push_back({wp, wr, start});
  }
  return runs;
}

// One step of `path` on the middle slice of a stacked parameter: only that slice may change.
inline void expect_only_the_slice_changes(const Program& program, const Path& path) {
  at::Tensor stacked = gradient({3, 100}, at::kFloat, 8);
  const at::Tensor before = stacked.clone();
  at::Tensor slice = stacked[1];
  std::vector<at::Tensor> averages = program.zero_averages(slice);
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  path(program, slice, gradient({100}, at::kFloat, 9), averages, {0, 20, true, &gen}, {0.1, 0.0});
  EXPECT_TRUE(at::equal(stacked[0], before[0]));
  EXPECT_TRUE(at::equal(stacked[2], before[2]));
  EXPECT_FALSE(at::equal(stacked[1], before[1]));
}

}  // namespace nos::dsl::agreement
