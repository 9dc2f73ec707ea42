// Compiled programs: exact directions on hand-computed inputs, decays, randomness, state bookkeeping.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

at::Tensor vec(std::vector<double> v) { return at::tensor(v, at::kDouble); }

struct Stepper {
  Program program;
  std::vector<at::Tensor> averages;
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  explicit Stepper(const std::string& rule) : program(compile(parse(rule))) {}
  at::Tensor step(const at::Tensor& w, const at::Tensor& g, int64_t t, int64_t T = 100, bool bc = true) {
    if (averages.empty()) averages = program.zero_averages(g);
    StepContext ctx{t, T, bc, &gen};
    return program.direction(w, g, averages, ctx);
  }
};

TEST(Program, SgdIsTheGradientAndACopy) {
  Stepper r("g");
  at::Tensor g = vec({0.5, -2.0});
  at::Tensor d = r.step(vec({1, 2}), g, 0);
  EXPECT_TRUE(at::equal(d, g));
  d.add_(1.0);
  EXPECT_EQ(g[0].item<double>(), 0.5);  // the direction does not alias the gradient
}

TEST(Program, MovingAveragesAreUpdatedFirstAndBiasCorrected) {
  Stepper r("m");
  at::Tensor g = vec({0.5, -2.0});
  // Step 1: m = 0.1 g; corrected by 1 − 0.9 = 0.1 gives exactly g.
  EXPECT_TRUE(at::allclose(r.step(g, g, 0), g, 1e-15, 0));
  // Step 2 with gradient 2g: m = 0.9·0.1g + 0.1·2g = 0.29 g; corrected by 1 − 0.81 = 0.19.
  EXPECT_TRUE(at::allclose(r.step(g, 2 * g, 1), g * (0.29 / 0.19), 1e-14, 0));
  Stepper raw("m");
  EXPECT_TRUE(at::allclose(raw.step(g, g, 0, 100, false), 0.1 * g, 1e-15, 0));
}

TEST(Program, AdamFirstStepIsTheSignOfTheGradient) {
  Stepper r("adam");
  at::Tensor g = vec({0.5, -2.0, 0.0});
  at::Tensor d = r.step(g, g, 0);
  EXPECT_NEAR(d[0].item<double>(), 0.5 / (0.5 + 1e-8), 1e-12);
  EXPECT_NEAR(d[1].item<double>(), -2.0 / (2.0 + 1e-8), 1e-12);
  EXPECT_EQ(d[2].item<double>(), 0.0);
  EXPECT_EQ(r.program.averages().size(), 2u);
}

TEST(Program, PowerSignOnAHandComputedSequence) {
  // exp(sign(g)·sign(m))·g; m starts at 0 and is updated before the rule (TensorFlow's PowerSign).
  Stepper r("exp(sign(g)*sign(m))*g");
  at::Tensor w = vec({0});
  EXPECT_NEAR(r.step(w, vec({1}), 0).item<double>(), std::exp(1.0), 1e-12);     // m > 0, g > 0
  EXPECT_NEAR(r.step(w, vec({-0.1}), 1).item<double>(), -0.1 / std::exp(1.0), 1e-12);  // m still > 0
}

TEST(Program, ScalarRulesFillTheParameterShape) {
  Stepper r("ld");
  at::Tensor d = r.step(vec({1, 2, 3}), vec({0, 0, 0}), 25, 100);
  EXPECT_TRUE(at::equal(d, vec({0.75, 0.75, 0.75})));
}

TEST(Program, WeightAndDivision) {
  Stepper r("0.1*w + g/2");
  at::Tensor d = r.step(vec({10}), vec({1}), 0);
  EXPECT_NEAR(d.item<double>(), 1.0 + 1.0 / (2.0 + 1e-8), 1e-15);
}

TEST(Program, DecaysMatchTensorFlow) {
  // tensorflow/contrib/opt/python/training/sign_decay_test.py, decay_steps 1000, steps 0, 100, ..., 900.
  const double cosine[] = {1.0, 0.9755282581, 0.9045084972, 0.7938926261, 0.6545084972,
                           0.5, 0.3454915028, 0.2061073739, 0.0954915028, 0.0244717419};
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(linear_decay(100 * i, 1000), 1.0 - 0.1 * i, 1e-12);
    EXPECT_NEAR(cosine_decay(100 * i, 1000, 0.5), cosine[i], 1e-9);
  }
  EXPECT_EQ(linear_decay(2000, 1000), 0.0);  // t clipped to T
  EXPECT_NEAR(restart_decay(0, 1000, 1), 1.0, 1e-15);
  EXPECT_NEAR(restart_decay(500, 1000, 1), 0.5, 1e-15);
  EXPECT_NEAR(restart_decay(250, 1000, 2), 0.5, 1e-15);  // two restarts: halfway through the first
  EXPECT_NEAR(restart_decay(600, 1000, 2), 0.5 * (1 + std::cos(M_PI * 0.2)), 1e-12);
}

TEST(Program, NoiseAndDropAreReproducibleForASeed) {
  auto draw = [](const std::string& rule, uint64_t seed) {
    Stepper r(rule);
    r.gen.set_current_seed(seed);
    return r.step(at::zeros({20000}, at::kDouble), at::ones({20000}, at::kDouble), 0);
  };
  at::Tensor a = draw("noise", 1), b = draw("noise", 1), c = draw("noise", 2);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  EXPECT_NEAR(a.var().item<double>(), 0.01, 0.001);
  at::Tensor d = draw("drop(g, 0.3)", 5);
  EXPECT_TRUE(at::equal(d, draw("drop(g, 0.3)", 5)));
  double dropped = (d == 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, 0.3, 0.02);
  EXPECT_TRUE(at::equal(std::get<0>(std::get<0>(at::_unique(d)).sort()), vec({0, 1})));  // no rescaling
}

TEST(Program, CommonSubexpressionsAreComputedOnce) {
  Program p = compile(parse("exp(g)*exp(g) + exp(g)"));
  EXPECT_EQ(p.canonical_text(), "exp(g) + exp(g)*exp(g)");
  // The rule is canonicalised first; exp(g) is one register: the code is g, exp, mul, add, with the product and
  // the sum both reading that one register.
  const std::vector<Program::Instr>& code = p.code();
  ASSERT_EQ(code.size(), 4u);
  int exps = 0, gs = 0;
  for (const Program::Instr& i : code) {
    exps += i.prim == Prim::kExp;
    gs += i.prim == Prim::kG;
  }
  EXPECT_EQ(exps, 1);
  EXPECT_EQ(gs, 1);
  const Program::Instr& mul = code[2];
  EXPECT_EQ(mul.prim, Prim::kMul);
  EXPECT_EQ(mul.a, 1);
  EXPECT_EQ(mul.b, 1);
  EXPECT_EQ(code[3].prim, Prim::kAdd);
  EXPECT_TRUE((code[3].a == 1 && code[3].b == 2) || (code[3].a == 2 && code[3].b == 1));
  EXPECT_EQ(p.averages().size(), 0u);
  EXPECT_FALSE(p.is_random());
  EXPECT_TRUE(compile(parse("g + noise")).is_random());
  EXPECT_TRUE(compile(parse("cd*g")).uses_decay());
}

TEST(Program, WorksOnSlicesOfAStackedParameter) {
  // Two children stacked along a leading dimension; the rule updates one slice through views.
  Stepper r("adam");
  at::Tensor stacked_w = at::zeros({2, 3}, at::kDouble);
  at::Tensor stacked_g = at::tensor({1.0, 2.0, 3.0, -1.0, -2.0, -3.0}, at::kDouble).view({2, 3});
  at::Tensor d = r.step(stacked_w[1], stacked_g[1], 0);
  EXPECT_TRUE(at::allclose(d, -at::ones({3}, at::kDouble), 1e-7, 0));
}

TEST(Program, Float32Works) {
  Stepper r("exp(sign(g)*sign(m))*g");
  at::Tensor g = at::tensor({1.0f, -1.0f});
  at::Tensor d = r.step(g, g, 0);
  EXPECT_EQ(d.scalar_type(), at::kFloat);
  EXPECT_NEAR(d[0].item<float>(), std::exp(1.0f), 1e-6);
}

}  // namespace
}  // namespace nos::dsl

namespace nos::dsl {
namespace {

double at_(const at::Tensor& t, int64_t i = 0) { return t[i].item<double>(); }

// Issue 16's state primitives on hand-computed sequences.
TEST(Program, VmaxIsTheRunningMaximumOfTheRawAverageThenCorrected) {
  Stepper r("vmax(0.5)");
  EXPECT_EQ(r.program.averages().size(), 2u);  // v(0.5) is kept beside it
  // Step 1, g = 2: v = 0.5·4 = 2, vmax = 2, read 2/(1 − 0.5) = 4.
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({2}), 0)), 4.0);
  // Step 2, g = 0.1: v = 1 + 0.005 = 1.005 < 2, vmax stays 2, read 2/(1 − 0.25).
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({0.1}), 1)), 2.0 / 0.75);
  // Step 3, g = 4: v = 0.5025 + 8 = 8.5025 > 2, read 8.5025/(1 − 0.125).
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({4}), 2)), 8.5025 / 0.875);
}

TEST(Program, SumOfSquaresIsNeverCorrected) {
  Stepper r("s");
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({2}), 0)), 4.0);
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({3}), 1)), 13.0);
  Stepper a("adagrad");
  EXPECT_DOUBLE_EQ(at_(a.step(vec({0}), vec({2}), 0)), 2.0 / (2.0 + 1e-10));
  EXPECT_DOUBLE_EQ(at_(a.step(vec({0}), vec({3}), 1)), 3.0 / (std::sqrt(13.0) + 1e-10));
}

TEST(Program, MpIsReadBeforeItsUpdate) {
  Stepper r("mp(0.5)");
  at::Tensor w = vec({0});
  EXPECT_DOUBLE_EQ(at_(r.step(w, vec({2}), 0)), 0.0);  // read 0, then mp = 1
  EXPECT_DOUBLE_EQ(at_(r.step(w, vec({4}), 1)), 1.0);  // read 1, then mp = 0.5 + 2
  EXPECT_DOUBLE_EQ(at_(r.step(w, vec({0}), 2)), 2.5);  // never bias-corrected
  EXPECT_DOUBLE_EQ(at_(r.averages[0]), 1.25);
  // Lion's interpolation: sign(0.9·mp + 0.1·g).
  Stepper lion("sign(0.9*mp + 0.1*g)");
  EXPECT_DOUBLE_EQ(at_(lion.step(w, vec({0.5}), 0)), 1.0);
  EXPECT_DOUBLE_EQ(at_(lion.step(w, vec({-0.2}), 1)), -1.0);
}

TEST(Program, StepCountAndTotalSteps) {
  Stepper r("t/T");
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({1}), 0, 50)), 1.0 / (50.0 + 1e-8));
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({1}), 24, 50)), 25.0 / (50.0 + 1e-8));
  EXPECT_TRUE(r.program.uses_decay());
  EXPECT_FALSE(compile(parse("g/sqrt(t)")).uses_decay());
}

TEST(Program, EpsilonParameters) {
  Stepper r("adam(0.5)");
  EXPECT_DOUBLE_EQ(at_(r.step(vec({0}), vec({2}), 0)), 2.0 / 2.5);
  EXPECT_EQ(to_infix(*canonicalize(parse("adam(1e-08)"))), "adam");
  EXPECT_EQ(to_infix(*canonicalize(parse("rmsprop(0.001)"))), "rmsprop(0.001)");
}

TEST(Program, NormsAreOverTheTensorAndTrustIsLambsRatio) {
  Stepper n("norm(g)");
  EXPECT_TRUE(at::equal(n.step(vec({1, 1}), vec({3, 4}), 0), vec({5, 5})));
  EXPECT_TRUE(n.program.has_reduction());
  EXPECT_FALSE(Stepper("g*m").program.has_reduction());
  Stepper t("trust(g)");
  // ‖w‖ = 10, ‖g‖ = 5: 2g.
  EXPECT_TRUE(at::allclose(t.step(vec({6, 8}), vec({3, 4}), 0), vec({6, 8}), 1e-15, 0));
  // w = 0: the ratio is 1.
  EXPECT_TRUE(at::equal(t.step(vec({0, 0}), vec({3, 4}), 1), vec({3, 4})));
  // A slice is its own tensor: the norm of each row of a stacked parameter.
  at::Tensor g = at::tensor({3.0, 4.0, 0.0, 1.0}, at::kDouble).view({2, 2});
  Stepper rows("norm(g)");
  EXPECT_TRUE(at::equal(rows.step(g[1], g[1], 0), vec({1, 1})));
}

}  // namespace
}  // namespace nos::dsl
