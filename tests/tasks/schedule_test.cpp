// Learning-rate schedules (tasks/schedule.h) against PyTorch's torch.optim.lr_scheduler and TensorFlow's formulas
// (tests/tasks/data/schedule_golden.txt, made by make_schedule_golden.py), the noisy schedule's seed, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tasks/schedule.h"

namespace nos::tasks {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Schedule, MatchesPyTorchAndTensorFlow) {
  std::ifstream in(std::string(NOS_SOURCE_DIR) + "/tests/tasks/data/schedule_golden.txt");
  ASSERT_TRUE(in.good());
  int cases = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string text;
    int64_t steps = 0, per_epoch = 0;
    fields >> text >> steps >> per_epoch;
    SCOPED_TRACE(text);
    const Schedule s = parse_schedule(text);
    EXPECT_EQ(schedule_text(s), text);  // the golden file writes each schedule as schedule_text does
    check_schedule(s, steps, per_epoch);
    const std::vector<double> got = schedule_factors(s, steps, per_epoch);
    ASSERT_EQ(got.size(), static_cast<size_t>(steps));
    for (int64_t t = 0; t < steps; ++t) {
      double want = 0;
      ASSERT_TRUE(static_cast<bool>(fields >> want));
      EXPECT_NEAR(got[static_cast<size_t>(t)], want, 1e-12) << "step " << t;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 12);
}

// The noisy schedule: its deterministic part is linear_cosine (no variance), a seed gives the same noise, and the
// noise shrinks as (1 + t)^-0.55.
TEST(Schedule, NoisyLinearCosineIsReproducibleForASeed) {
  const std::vector<double> plain = schedule_factors(parse_schedule("linear_cosine"), 200, 10);
  const std::vector<double> quiet = schedule_factors(parse_schedule("noisy_linear_cosine,initial_variance=0"), 200, 10);
  for (size_t t = 0; t < plain.size(); ++t) EXPECT_NEAR(quiet[t], plain[t], 1e-15);
  const Schedule noisy = parse_schedule("noisy_linear_cosine");
  EXPECT_EQ(schedule_factors(noisy, 200, 10, 7), schedule_factors(noisy, 200, 10, 7));
  EXPECT_NE(schedule_factors(noisy, 200, 10, 7), schedule_factors(noisy, 200, 10, 8));
  double early = 0, late = 0;
  const std::vector<double> a = schedule_factors(noisy, 2000, 10, 3);
  const std::vector<double> base = schedule_factors(parse_schedule("linear_cosine"), 2000, 10);
  early = 0;
  for (size_t t = 0; t < 100; ++t) early += std::fabs(a[t] - base[t]);
  for (size_t t = 1000; t < 1100; ++t) late += std::fabs(a[t] - base[t]);
  EXPECT_GT(early, 2 * late);
}

// TensorFlow's noisy_linear_cosine_decay (tf.compat.v1.train), its noise fixed to the draws nos makes for a seed
// (std::mt19937_64 and std::normal_distribution, as tasks/schedule.cpp): with decay_steps = the run's steps T,
//   eps_t ~ N(0, initial_variance / (1 + t)^variance_decay), linear = (T - t)/T,
//   cosine = 0.5 (1 + cos(2 pi num_periods t / T)), factor = (alpha + linear + eps_t) cosine + beta,
// at TensorFlow's defaults (initial_variance 1, variance_decay 0.55, num_periods 0.5, alpha 0, beta 0.001) and at
// other values of every key.
TEST(Schedule, NoisyLinearCosineIsTensorFlowsFormulaWithItsNoise) {
  const double kPiHere = 3.14159265358979323846;
  struct Case {
    std::string text;
    double initial_variance, variance_decay, num_periods, alpha, beta;
  };
  for (const Case& c : {Case{"noisy_linear_cosine", 1.0, 0.55, 0.5, 0.0, 0.001},
                        Case{"noisy_linear_cosine,initial_variance=0.3,variance_decay=0.8,num_periods=2,alpha=0.1,"
                             "beta=0.05", 0.3, 0.8, 2.0, 0.1, 0.05}}) {
    const int64_t T = 300;
    const std::vector<double> got = schedule_factors(parse_schedule(c.text), T, 10, 11);
    ASSERT_EQ(got.size(), static_cast<size_t>(T));
    std::mt19937_64 generator(11);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int64_t t = 0; t < T; ++t) {
      const double eps = std::sqrt(c.initial_variance / std::pow(1.0 + static_cast<double>(t), c.variance_decay)) *
                         normal(generator);
      const double linear = static_cast<double>(T - t) / static_cast<double>(T);
      const double cosine = 0.5 * (1 + std::cos(2 * kPiHere * c.num_periods * static_cast<double>(t) /
                                                static_cast<double>(T)));
      EXPECT_NEAR(got[t], (c.alpha + linear + eps) * cosine + c.beta, 1e-12) << c.text << " t " << t;
    }
  }
}

TEST(Schedule, BadValuesAreUserErrorsNamingTheKey) {
  EXPECT_NE(error_of([] { parse_schedule("cosinus"); }).find("unknown schedule 'cosinus'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_schedule("cosine,gamma=0.1"); }).find("takes no key 'gamma'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_schedule("cosine,t_mult=x"); }).find("t_mult: expected a number"), std::string::npos);
  EXPECT_NE(error_of([] { parse_schedule("step,colour=1"); }).find("unknown key 'colour'"), std::string::npos);
  auto check = [](const std::string& text, int64_t steps = 100) {
    return error_of([&] { check_schedule(parse_schedule(text), steps, 10); });
  };
  EXPECT_NE(check("cosine,warmup=-0.1").find("warmup: must be >= 0"), std::string::npos);
  EXPECT_NE(check("cosine,warmup=200").find("warmup: longer than the run"), std::string::npos);
  EXPECT_NE(check("cosine,t_mult=0.5").find("t_mult: must be a whole number"), std::string::npos);
  EXPECT_NE(check("cosine,t0=500").find("t0: longer than the run"), std::string::npos);
  EXPECT_NE(check("step").find("step_size: is required"), std::string::npos);
  EXPECT_NE(check("exponential").find("gamma: is required"), std::string::npos);
  EXPECT_NE(check("step,step_size=20,per_epoch=true").find("longer than the run (10 epochs)"), std::string::npos);
  EXPECT_EQ(check("cosine,warmup=0.05,t0=0.25,t_mult=2,eta_min=0.01"), "no error");
}

// Values beyond any run are refused when read, naming the key (issue 34: t0=1e19 hung, warmup=9.3e18 was silently
// dropped); a key given twice is refused; a t_mult beyond the run cannot overflow the period.
TEST(Schedule, HugeValuesAndRepeatedKeysAreRefused) {
  for (const char* text : {"cosine,t0=1e19", "cosine,t0=1e300", "cosine,warmup=9.3e18", "constant,warmup=1e300",
                           "step,step_size=1e19", "cosine,t_mult=1e300"}) {
    const std::string e = error_of([&] { parse_schedule(text, "--schedule"); });
    EXPECT_NE(e.find("is longer than any run (at most 1099511627776 steps)"), std::string::npos) << text << ": " << e;
    EXPECT_EQ(e.rfind("--schedule: ", 0), 0u) << e;
  }
  EXPECT_NE(error_of([] { parse_schedule("cosine,warmup=0.05,warmup=0.1"); }).find("key 'warmup' is given twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_schedule("step,step_size=2,per_epoch=true,per_epoch=false"); })
                .find("key 'per_epoch' is given twice"),
            std::string::npos);
  // Longer than this run but not than any: refused when the run's length is known.
  auto check = [](const std::string& text, int64_t steps) {
    return error_of([&] { check_schedule(parse_schedule(text), steps, 10); });
  };
  EXPECT_NE(check("cosine,warmup=1e12", 100).find("warmup: longer than the run (100 steps)"), std::string::npos);
  EXPECT_NE(check("cosine,t0=1e9", 100).find("t0: longer than the run"), std::string::npos);
  EXPECT_NE(check("cosine,t0=1,t_mult=1000", 100).find("t_mult: must be at most the run's length (100 steps)"),
            std::string::npos);
  // The largest t_mult a run takes: the second period outlasts it; the factors are those of one step, then a
  // period longer than the run (no overflow, no endless loop).
  const std::vector<double> f = schedule_factors(parse_schedule("cosine,t0=1,t_mult=100"), 100, 10);
  ASSERT_EQ(f.size(), 100u);
  EXPECT_EQ(f[0], 1);
  EXPECT_EQ(f[1], 1);  // the start of the second period
  for (double x : f) EXPECT_TRUE(std::isfinite(x) && x >= 0 && x <= 1) << x;
}

}  // namespace
}  // namespace nos::tasks
