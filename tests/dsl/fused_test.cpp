// The fused kernel against the reference path: every primitive, float32 and float64, odd sizes, strided and
// channels-last parameters, weight decay, reproducible randomness.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "dsl/dsl.h"
#include "dsl/fused.h"

namespace nos::dsl {
namespace {

// Distance in units in the last place between a and b (0 when both are NaN or equal; huge when one is NaN).
template <typename T, typename I>
int64_t ulp_distance(T a, T b) {
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
int64_t max_ulp(const at::Tensor& a, const at::Tensor& b) {
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
  void step(const at::Tensor& g, int64_t t, const UpdateArgs& args, bool fused) {
    StepContext ctx{t, /*total_steps=*/20, /*bias_correction=*/true, &gen};
    if (fused) {
      ASSERT_EQ(fused_unsupported_reason(w, g, averages), "");
      fused_update(program, w, g, averages, ctx, args);
    } else {
      reference_update(program, w, g, averages, ctx, args);
    }
  }
};

// Gradients with some exact zeros (sign(0), log|0|) and a range of magnitudes; made once per shape, dtype and seed.
at::Tensor gradient(at::IntArrayRef sizes, at::ScalarType dtype, uint64_t seed) {
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
std::vector<std::string> rules_for_every_primitive() {
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
  return rules;
}

struct Compared {
  int64_t direction_ulp = 0;  // after one step from w = 0 with lr = 1: w = −direction
  int64_t state_ulp = 0;      // after three steps from a random w: w and the averages
  double normwise = 0;        // largest max|a − b| / max|b| over the same tensors (finite elements)
  bool same_nonfinite = true;  // NaN and ±inf in the same places
};

void add_normwise(Compared& c, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  const at::Tensor finite = at::isfinite(x) & at::isfinite(y);
  c.same_nonfinite = c.same_nonfinite && at::equal(at::isnan(x), at::isnan(y)) &&
                     at::equal(at::isposinf(x), at::isposinf(y)) && at::equal(at::isneginf(x), at::isneginf(y));
  if (!finite.any().item<bool>()) return;
  const double scale = y.masked_select(finite).abs().max().item<double>();
  const double diff = (x - y).masked_select(finite).abs().max().item<double>();
  if (scale > 0) c.normwise = std::max(c.normwise, diff / scale);
}

// One step from w = 0 (direction and averages), then `steps` steps from a random w (parameter and averages).
Compared compare(const std::string& rule, at::ScalarType dtype, const at::Tensor& w0_like, double weight_decay = 0,
                 int64_t steps = 3) {
  const Program program = compile(parse(rule));
  Compared out;
  {
    at::Tensor zero = at::zeros_like(w0_like);
    PathRun fused(program, zero, 7), reference(program, zero, 7);
    at::Tensor g = gradient(w0_like.sizes(), dtype, 1).contiguous(w0_like.suggest_memory_format());
    fused.step(g, 0, {1.0, weight_decay}, true);
    reference.step(g, 0, {1.0, weight_decay}, false);
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
    fused.step(g, t, {0.01, weight_decay}, true);
    reference.step(g, t, {0.01, weight_decay}, false);
  }
  out.state_ulp = max_ulp(fused.w, reference.w);
  add_normwise(out, fused.w, reference.w);
  for (size_t i = 0; i < fused.averages.size(); ++i) {
    out.state_ulp = std::max(out.state_ulp, max_ulp(fused.averages[i], reference.averages[i]));
    add_normwise(out, fused.averages[i], reference.averages[i]);
  }
  return out;
}

// The bound the fused path keeps to: ATen computes the tail of a tensor (numel mod 8 elements) with scalar code
// (std::exp rather than SLEEF, no FMA), so an element there may differ by an ulp or two, and a rule can compound
// a few such differences.
constexpr int64_t kMaxUlp = 4;

class FusedEveryPrimitive : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(FusedEveryPrimitive, AgreesWithTheReferenceAtOddSizes) {
  const at::ScalarType dtype = GetParam();
  const std::vector<std::string> rules = rules_for_every_primitive();
  ASSERT_GT(rules.size(), 90u);
  int64_t worst = 0;
  std::string worst_rule;
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, int64_t{(1 << 20) + 3}}) {
    at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
    for (const std::string& rule : rules) {
      SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n));
      // The large size takes one step (the kernel's blocks and threads are what it adds); the others three.
      const Compared c = compare(rule, dtype, like, 0.0, n > 100000 ? 0 : 3);
      EXPECT_LE(c.direction_ulp, kMaxUlp);
      EXPECT_LE(c.state_ulp, kMaxUlp);
      if (std::max(c.direction_ulp, c.state_ulp) > worst) {
        worst = std::max(c.direction_ulp, c.state_ulp);
        worst_rule = rule + " at size " + std::to_string(n);
      }
    }
  }
  std::cout << rules.size() << " rules, 4 sizes: largest difference " << worst << " ulp (" << worst_rule << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedEveryPrimitive, ::testing::Values(at::kFloat, at::kDouble),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

// The AVX2 build (auto takes AVX-512 where the CPU has it; elsewhere this runs the AVX2 build again): the same
// bound.
TEST(Fused, Avx2KernelAgreesToo) {
  set_fused_capability("avx2");
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {int64_t{7}, int64_t{1029}, int64_t{65541}}) {
      at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
      for (const std::string& rule : rules_for_every_primitive()) {
        SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n) + ", kernel " + fused_capability());
        const Compared c = compare(rule, dtype, like);
        EXPECT_LE(c.direction_ulp, kMaxUlp);
        EXPECT_LE(c.state_ulp, kMaxUlp);
      }
    }
  }
  set_fused_capability("auto");
}

// The baseline build of the kernel (what a CPU without AVX2 runs). Against ATen's baseline kernels (ctest runs this
// test a second time with ATEN_CPU_CAPABILITY=default) it keeps the ulp bound. Against ATen's AVX2 kernels, which
// fuse multiply-adds the baseline cannot, roundings differ and cancellations (m ← 0.9m + 0.1g near 0) magnify
// them in ulps, so there the test bounds the error relative to each tensor's scale.
TEST(Fused, BaselineKernelAgreesToo) {
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const bool strict = aten != nullptr && std::string(aten) == "default";
  set_fused_capability("default");
  EXPECT_EQ(fused_capability(), "default");
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {int64_t{7}, int64_t{1029}}) {
      at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
      for (const std::string& rule : rules_for_every_primitive()) {
        SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n));
        const Compared c = compare(rule, dtype, like);
        if (strict) {
          EXPECT_LE(c.direction_ulp, kMaxUlp);
          EXPECT_LE(c.state_ulp, kMaxUlp);
        } else {
          EXPECT_TRUE(c.same_nonfinite);
          EXPECT_LT(c.normwise, dtype == at::kFloat ? 1e-5 : 1e-12);
        }
      }
    }
  }
  set_fused_capability("auto");
  EXPECT_THROW(set_fused_capability("avx1024"), UserError);
  EXPECT_EQ(fused_capability(), "avx2" == fused_capability() ? "avx2" : fused_capability());
}

TEST(Fused, ExactWhereATenHasNoScalarTail) {
  // A multiple of the vector width: ATen's kernels run vectorised throughout, with the same SLEEF calls and FMAs
  // as the kernel's AVX2 build (ATen 1.13 runs AVX2 kernels).
  set_fused_capability("avx2");
  at::Tensor like = at::empty({4096}, at::TensorOptions().dtype(at::kFloat));
  for (const char* rule : {"adam", "exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "10*m", "g/sqrt(v(0.99))"}) {
    SCOPED_TRACE(rule);
    const Compared c = compare(rule, at::kFloat, like, /*weight_decay=*/1e-4);
    EXPECT_EQ(c.direction_ulp, 0);
    EXPECT_EQ(c.state_ulp, 0);
  }
  set_fused_capability("auto");
}

TEST(Fused, WeightDecayIsAddedToTheGradient) {
  at::Tensor like = at::empty({1027}, at::TensorOptions().dtype(at::kDouble));
  for (const char* rule : {"g", "adam", "exp(sign(g)*sign(m))*g", "w*g"}) {
    SCOPED_TRACE(rule);
    const Compared c = compare(rule, at::kDouble, like, /*weight_decay=*/0.05);
    EXPECT_LE(c.direction_ulp, kMaxUlp);
    EXPECT_LE(c.state_ulp, kMaxUlp);
  }
}

TEST(Fused, StridedAndChannelsLastParameters) {
  const Program program = compile(parse("exp(sign(g)*sign(m))*g + 0.1*adam - w*ld"));
  // Each case makes the parameter as a view of its own storage: a transposed matrix (dense, not in the default
  // order), every other row (not dense), channels-last.
  using Make = at::Tensor (*)();
  const Make cases[] = {
      [] { return gradient({64, 35}, at::kFloat, 5).t(); },
      [] { return gradient({64, 35}, at::kFloat, 5).slice(0, 0, 64, 2); },
      [] { return gradient({4, 3, 5, 7}, at::kFloat, 6).contiguous(at::MemoryFormat::ChannelsLast); },
  };
  for (Make make : cases) {
    at::Tensor wf = make(), wr = make();
    const at::Tensor start = wf.clone();
    SCOPED_TRACE(::testing::Message() << "sizes " << wf.sizes() << " strides " << wf.strides());
    PathRun fused(program, wf, 1), reference(program, wr, 1);
    fused.w = wf;  // the views themselves, not copies
    reference.w = wr;
    fused.averages = program.zero_averages(wf);
    reference.averages = program.zero_averages(wr);
    for (int64_t t = 0; t < 3; ++t) {
      at::Tensor g = gradient(wf.sizes(), at::kFloat, 40 + t);
      fused.step(g, t, {0.1, 0.0}, true);
      reference.step(g, t, {0.1, 0.0}, false);
    }
    EXPECT_LE(max_ulp(wf, wr), kMaxUlp);
    EXPECT_FALSE(at::equal(wf, start));  // it moved
  }
  // A slice of a stacked parameter: only that slice changes.
  at::Tensor stacked = gradient({3, 100}, at::kFloat, 8);
  at::Tensor before = stacked.clone();
  at::Tensor slice = stacked[1];
  std::vector<at::Tensor> averages = program.zero_averages(slice);
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  fused_update(program, slice, gradient({100}, at::kFloat, 9), averages, {0, 20, true, &gen}, {0.1, 0.0});
  EXPECT_TRUE(at::equal(stacked[0], before[0]));
  EXPECT_TRUE(at::equal(stacked[2], before[2]));
  EXPECT_FALSE(at::equal(stacked[1], before[1]));
}

TEST(Fused, RandomRulesAreReproducibleForASeed) {
  at::Tensor like = at::empty({5000}, at::TensorOptions().dtype(at::kFloat));
  for (const char* rule : {"g + noise", "anoise*m", "drop(g, 0.5)", "drop(ld, 0.3)*g"}) {
    SCOPED_TRACE(rule);
    const Program program = compile(parse(rule));
    auto run = [&](uint64_t seed) {
      PathRun r(program, like.zero_(), seed);
      for (int64_t t = 0; t < 3; ++t) r.step(gradient({5000}, at::kFloat, t), t, {0.1, 0.0}, true);
      return r.w;
    };
    EXPECT_TRUE(at::equal(run(3), run(3)));
    EXPECT_FALSE(at::equal(run(3), run(4)));
  }
}

TEST(Fused, EmptyParameterIsANoOp) {
  const Program program = compile(parse("adam"));
  at::Tensor w = at::empty({0, 4});
  std::vector<at::Tensor> averages = program.zero_averages(w);
  fused_update(program, w, at::empty({0, 4}), averages, {0, 0, true, nullptr}, {0.1, 0.0});
  EXPECT_EQ(w.numel(), 0);
}

TEST(Fused, ReasonsItDoesNotApply) {
  at::Tensor w = at::zeros({3});
  EXPECT_EQ(fused_unsupported_reason(w, at::zeros({3}), {}), "");
  EXPECT_NE(fused_unsupported_reason(w.to(at::kHalf), at::zeros({3}, at::kHalf), {}).find("dtype Half"),
            std::string::npos);
  EXPECT_NE(fused_unsupported_reason(w, at::zeros({4}), {}).find("gradient"), std::string::npos);
  EXPECT_NE(fused_unsupported_reason(w, at::zeros({3}), {at::zeros({3}, at::kDouble)}).find("moving average"),
            std::string::npos);
  // update() falls back to the reference path for what the kernel does not run.
  const Program program = compile(parse("g"));
  at::Tensor h = at::ones({3}, at::kHalf);
  std::vector<at::Tensor> none;
  update(program, h, at::ones({3}, at::kHalf), none, {0, 0, true, nullptr}, {0.5, 0.0});
  EXPECT_TRUE(at::equal(h, at::full({3}, 0.5, at::kHalf)));
}

TEST(Fused, NamesTheCapabilityItRuns) {
  const std::string cap = fused_capability();
  EXPECT_TRUE(cap == "avx512" || cap == "avx2" || cap == "default") << cap;
  set_fused_capability("avx2");
  const std::string narrower = fused_capability();
  EXPECT_TRUE(narrower == "avx2" || narrower == "default") << narrower;
  set_fused_capability("auto");
  EXPECT_EQ(fused_capability(), cap);
}


// The passes over a block: the named rules in one (their averages updated in the same pass, sign products
// chosen from three values), and a product kept as a tensor where its zeros' signs matter.
TEST(Fused, NamedRulesTakeOnePass) {
  auto passes = [](const std::string& rule, bool weight_decay = false) {
    return fused_shape(compile(parse(rule)), weight_decay).passes;
  };
  for (const char* r : {"g", "m", "adam", "rmsprop", "exp(sign(g)*sign(m))*g", "exp(cd*sign(g)*sign(m))*g",
                        "(1+sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "sign(m)*g", "m*g", "1"}) {
    EXPECT_EQ(passes(r), 1) << r;
  }
  EXPECT_EQ(passes("adam", true), 2);
  // pow(±0, −1) = ±inf: sign(g)·sign(m) is evaluated, then the pow.
  EXPECT_EQ(passes("(sign(g)*sign(m))^(-1)"), 2);
  // log is not recomputed per read: g + m, log|·| of it (in the same buffer), then the product with g.
  EXPECT_EQ(passes("log(g+m)*g"), 3);
  EXPECT_EQ(fused_shape(compile(parse("log(g+m)*g"))).buffers, 1);
  EXPECT_EQ(fused_shape(compile(parse("exp(sign(g)*sign(m))*g"))).buffers, 0);
}

}  // namespace
}  // namespace nos::dsl
