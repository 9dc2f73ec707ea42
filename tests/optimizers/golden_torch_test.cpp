// Golden tests of the issue-16 rules: adamw, nesterov, amsgrad, adagrad, nadam and radam against torch.optim's
// trajectories (tests/optimizers/data/torch_optim_golden.txt, made by make_torch_optim_golden.py beside it), and
// lion, lamb, signsgd and signum against their papers' formulas computed here.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace nos::optimizers {
namespace {

// The fixed noisy quadratic of make_torch_optim_golden.py: g_i = c_i·(w_i − target_i) + 0.5·sin(0.7k + i), in
// double from w's values, then cast to w's dtype.
using testing::kC;
using testing::kStart;
using testing::kTarget;

std::vector<double> quadratic_gradient(const std::vector<double>& w, int k) {
  std::vector<double> g(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    g[i] = kC[i] * (w[i] - kTarget[i]) + 0.5 * std::sin(0.7 * k + static_cast<double>(i));
  }
  return g;
}

std::vector<double> values_of(const torch::Tensor& t) {
  torch::Tensor d = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// Runs the named rule `name` at `lr` (its other defaults kept) on the quadratic for `steps` steps in `dtype`, and
// returns w after every step.
std::vector<std::vector<double>> run_named(const std::string& name, double lr, torch::Dtype dtype, int steps,
                                           const std::vector<double>& start = kStart,
                                           std::function<std::vector<double>(const std::vector<double>&, int)>
                                               gradient = quadratic_gradient) {
  ResolvedRule rule = resolve_rule(name);
  RuleOptions options = rule.defaults;
  options.lr(lr);
  torch::Tensor w = testing::parameter(start, dtype);
  auto optimizer = make_optimizer(rule, {w}, options);
  std::vector<std::vector<double>> path;
  for (int k = 1; k <= steps; ++k) {
    testing::set_grad(w, gradient(values_of(w), k));
    optimizer->step();
    path.push_back(values_of(w));
  }
  return path;
}

// |a − b| / max(|b|, 0.01): relative, with a floor for elements that pass near 0 (the parameters are of order 1;
// a float32 run that adds ±lr 120 times keeps an absolute error of ~1e-6, which near 0 is no relative measure).
double relative_error(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-2); }

double worst_error(const std::vector<std::vector<double>>& ours, const std::vector<std::vector<double>>& golden) {
  EXPECT_EQ(ours.size(), golden.size());
  double worst = 0;
  for (size_t k = 0; k < std::min(ours.size(), golden.size()); ++k) {
    for (size_t i = 0; i < golden[k].size(); ++i) worst = std::max(worst, relative_error(ours[k][i], golden[k][i]));
  }
  return worst;
}

// float64: the trajectories agree with torch.optim's to about 1e-15 relative after 120 steps; 1e-12 leaves room for
// another ATen kernel variant (ctest runs these also under ATEN_CPU_CAPABILITY=default: optimizers_baseline_kernel)
// and would still catch any change of formula. float32: rounding of order 1e-7 compounds over 120 steps.
double tolerance(torch::Dtype dtype) { return dtype == torch::kFloat64 ? 1e-12 : 1e-4; }

struct GoldenRun {
  double lr = 0;
  std::vector<std::vector<double>> path;
};

// The file's runs by "name dtype".
std::map<std::string, GoldenRun> read_golden() {
  std::ifstream in(std::string(NOS_SOURCE_DIR) + "/tests/optimizers/data/torch_optim_golden.txt");
  std::map<std::string, GoldenRun> runs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, dtype;
    double lr = 0;
    int step = 0;
    fields >> name >> dtype >> lr >> step;
    GoldenRun& run = runs[name + " " + dtype];
    run.lr = lr;
    EXPECT_EQ(step, static_cast<int>(run.path.size()) + 1) << line;
    std::vector<double> w;
    for (double x = 0; fields >> x;) w.push_back(x);
    EXPECT_EQ(w.size(), kStart.size()) << line;
    run.path.push_back(w);
  }
  return runs;
}

class TorchGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchGolden, FollowsTorchOptimInFloat64AndFloat32) {
  static const std::map<std::string, GoldenRun> golden = read_golden();
  for (auto [dtype, label] : {std::pair{torch::kFloat64, "float64"}, std::pair{torch::kFloat32, "float32"}}) {
    auto found = golden.find(GetParam() + " " + label);
    ASSERT_NE(found, golden.end()) << "no golden run " << GetParam() << " " << label;
    const GoldenRun& run = found->second;
    ASSERT_GE(run.path.size(), 100u);
    const auto ours = run_named(GetParam(), run.lr, dtype, static_cast<int>(run.path.size()));
    const double worst = worst_error(ours, run.path);
    EXPECT_LE(worst, tolerance(dtype)) << GetParam() << " " << label;
    // The run went somewhere: the golden trajectory is not the start.
    EXPECT_GT(relative_error(run.path.back()[0], kStart[0]), 10 * tolerance(dtype));
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, TorchGolden,
                         ::testing::Values("adamw", "nesterov", "amsgrad", "adagrad", "nadam", "radam"));

// The papers' formulas, in double, one step of one tensor w with gradient g.
double sign(double x) { return static_cast<double>((x > 0) - (x < 0)); }

// Lion, Chen et al. 2023, Algorithm 2: c = β1·m + (1−β1)·g; w ← w − lr·(sign(c) + λw); m ← β2·m + (1−β2)·g.
struct LionFormula {
  std::vector<double> m;
  void step(std::vector<double>& w, const std::vector<double>& g, double lr, double lambda = 0) {
    m.resize(w.size(), 0.0);
    for (size_t i = 0; i < w.size(); ++i) {
      const double c = 0.9 * m[i] + 0.1 * g[i];
      w[i] -= lr * (sign(c) + lambda * w[i]);
      m[i] = 0.99 * m[i] + 0.01 * g[i];
    }
  }
};

// LAMB, You et al. 2020, Algorithm 2 with the settings: m, v as Adam's with bias correction,
// r = m̂/(√v̂ + 1e-6) + 0.01·w, w ← w − lr·(‖w‖/‖r‖)·r (ratio 1 where either norm is 0).
struct LambFormula {
  std::vector<double> m, v;
  int k = 0;
  void step(std::vector<double>& w, const std::vector<double>& g, double lr) {
    m.resize(w.size(), 0.0);
    v.resize(w.size(), 0.0);
    ++k;
    std::vector<double> r(w.size());
    double nw = 0, nr = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(0.9, k)), v_hat = v[i] / (1 - std::pow(0.999, k));
      r[i] = m_hat / (std::sqrt(v_hat) + 1e-6) + 0.01 * w[i];
      nw += w[i] * w[i];
      nr += r[i] * r[i];
    }
    const double ratio = nw > 0 && nr > 0 ? std::sqrt(nw) / std::sqrt(nr) : 1.0;
    for (size_t i = 0; i < w.size(); ++i) w[i] -= lr * ratio * r[i];
  }
};

// signSGD w ← w − lr·sign(g) and Signum w ← w − lr·sign(m), m ← 0.9m + 0.1g (Bernstein et al. 2018, Algorithms 1
// and 3).
struct SignFormula {
  bool momentum = false;
  std::vector<double> m;
  void step(std::vector<double>& w, const std::vector<double>& g, double lr) {
    m.resize(w.size(), 0.0);
    for (size_t i = 0; i < w.size(); ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      w[i] -= lr * sign(momentum ? m[i] : g[i]);
    }
  }
};

template <typename Formula>
std::vector<std::vector<double>> run_formula(Formula formula, double lr, int steps,
                                             const std::vector<double>& start = kStart,
                                             std::function<std::vector<double>(const std::vector<double>&, int)>
                                                 gradient = quadratic_gradient) {
  std::vector<double> w = start;
  std::vector<std::vector<double>> path;
  for (int k = 1; k <= steps; ++k) {
    formula.step(w, gradient(w, k), lr);
    path.push_back(w);
  }
  return path;
}

// Gradients that do not depend on w, for the hand-checked steps.
std::function<std::vector<double>(const std::vector<double>&, int)> fixed_gradients(
    std::vector<std::vector<double>> gs) {
  return [gs](const std::vector<double>&, int k) { return gs[static_cast<size_t>(k - 1)]; };
}

TEST(PaperFormulas, FirstThreeStepsAsComputedByHand) {
  // Lion, lr 0.1, w 1, g 0.5, −0.2, 0.1: c = 0.05 (w 0.9; m 0.005), c = 0.0045 − 0.02 < 0 (w 1.0; m 0.00295),
  // c = 0.002655 + 0.01 > 0 (w 0.9).
  const auto g1 = fixed_gradients({{0.5}, {-0.2}, {0.1}});
  const std::vector<std::vector<double>> lion_hand = {{0.9}, {1.0}, {0.9}};
  // signSGD: the same signs as g; Signum: m = 0.05, 0.025, 0.0325, all positive.
  const std::vector<std::vector<double>> signum_hand = {{0.9}, {0.8}, {0.7}};
  // LAMB, lr 0.1, w (3, 4), g (1, −2), (0.5, 0.5), (−1, 1). Step 1: m̂ = g, √v̂ = |g|, r = (1/(1+1e-6) + 0.03,
  // −2/(2+1e-6) + 0.04) ≈ (1.03, −0.96), ‖r‖ ≈ 1.40801, ‖w‖ = 5, ratio ≈ 3.55111, w ≈ (2.634236, 4.340906); steps 2
  // and 3 likewise (ratios ≈ 4.84073 and 38.0265).
  const auto g2 = fixed_gradients({{1, -2}, {0.5, 0.5}, {-1, 1}});
  const std::vector<std::vector<double>> lamb_hand = {
      {2.634236352043447, 4.340906077730384}, {2.170242495818454, 4.547149547266993},
      {1.6664473431488673, 4.554610050285919}};
  auto expect_path = [](const std::vector<std::vector<double>>& path, const std::vector<std::vector<double>>& hand,
                        const std::string& what) {
    ASSERT_EQ(path.size(), hand.size()) << what;
    for (size_t k = 0; k < hand.size(); ++k) {
      for (size_t i = 0; i < hand[k].size(); ++i) EXPECT_NEAR(path[k][i], hand[k][i], 1e-12) << what << " step " << k;
    }
  };
  expect_path(run_formula(LionFormula{}, 0.1, 3, {1.0}, g1), lion_hand, "Lion formula");
  expect_path(run_named("lion", 0.1, torch::kFloat64, 3, {1.0}, g1), lion_hand, "lion rule");
  expect_path(run_formula(SignFormula{false, {}}, 0.1, 3, {1.0}, g1), lion_hand, "signSGD formula");
  expect_path(run_named("signsgd", 0.1, torch::kFloat64, 3, {1.0}, g1), lion_hand, "signsgd rule");
  expect_path(run_formula(SignFormula{true, {}}, 0.1, 3, {1.0}, fixed_gradients({{0.5}, {-0.2}, {0.1}})), signum_hand,
              "Signum formula");
  expect_path(run_named("signum", 0.1, torch::kFloat64, 3, {1.0}, g1), signum_hand, "signum rule");
  expect_path(run_formula(LambFormula{}, 0.1, 3, {3, 4}, g2), lamb_hand, "LAMB formula");
  expect_path(run_named("lamb", 0.1, torch::kFloat64, 3, {3, 4}, g2), lamb_hand, "lamb rule");
}

TEST(PaperFormulas, LionLambSignsgdSignumFollowTheirFormulasFor120Steps) {
  struct Case {
    std::string name;
    double lr;
    std::function<std::vector<std::vector<double>>(double)> formula;
  };
  const std::vector<Case> cases = {
      {"lion", 0.003, [](double lr) { return run_formula(LionFormula{}, lr, 120); }},
      {"lamb", 0.01, [](double lr) { return run_formula(LambFormula{}, lr, 120); }},
      {"signsgd", 0.003, [](double lr) { return run_formula(SignFormula{false, {}}, lr, 120); }},
      {"signum", 0.003, [](double lr) { return run_formula(SignFormula{true, {}}, lr, 120); }},
  };
  for (const Case& c : cases) {
    const auto formula = c.formula(c.lr);
    for (torch::Dtype dtype : {torch::kFloat64, torch::kFloat32}) {
      const auto ours = run_named(c.name, c.lr, dtype, 120);
      EXPECT_LE(worst_error(ours, formula), tolerance(dtype)) << c.name << (dtype == torch::kFloat64 ? " f64" : " f32");
    }
    EXPECT_GT(relative_error(formula.back()[0], kStart[0]), 1e-2) << c.name << " did not move";
  }
}

// Lion's decoupled weight decay: w ← w − lr·(sign(c) + λw), the optimizer's decoupled_weight_decay option.
TEST(PaperFormulas, LionWithDecoupledWeightDecay) {
  ResolvedRule rule = resolve_rule("lion");
  RuleOptions options = rule.defaults;
  options.lr(0.003).decoupled_weight_decay(0.1);
  torch::Tensor w = testing::parameter(kStart);
  auto optimizer = make_optimizer(rule, {w}, options);
  std::vector<double> expected = kStart;
  LionFormula formula;
  for (int k = 1; k <= 50; ++k) {
    const std::vector<double> g = quadratic_gradient(values_of(w), k);
    testing::set_grad(w, g);
    optimizer->step();
    formula.step(expected, g, 0.003, 0.1);
  }
  const std::vector<double> ours = values_of(w);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], expected[i], 1e-12) << i;
}

}  // namespace
}  // namespace nos::optimizers
