// Meta-training the LSTM optimizer (experiments/learn.h): the meta-gradient against finite differences, a tiny
// run that lowers the meta-loss, resume after an interruption, the config's checks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "experiments/learn.h"
#include "tests/temp_dir.h"

namespace nos::experiments {
namespace {

optimizers::LstmNetOptions tiny_net() {
  optimizers::LstmNetOptions o;
  o.hidden = 3;
  return o;
}

// The gradient autograd gives through an unrolled segment (the optimizee's gradients detached, as in training) is
// the derivative of the meta-loss with those gradients held at their values: central differences of that function
// in float64 agree to 1e-6 relative.
TEST(Learn, MetaGradientMatchesFiniteDifferencesWithTheGradientsHeldFixed) {
  torch::manual_seed(1);
  optimizers::LstmNet net(tiny_net());
  net->to(torch::kFloat64);
  const QuadraticBatch batch = quadratic_batch(2, 3, 7, torch::kFloat64);
  torch::Tensor theta = batch.theta0.clone();
  optimizers::LstmCoordinateState state;
  std::vector<torch::Tensor> gradients;
  torch::Tensor loss = unrolled_loss(net, batch, theta, state, 4, &gradients);
  net->zero_grad();
  loss.backward();
  auto held = [&]() {
    torch::NoGradGuard no_grad;
    torch::Tensor t = batch.theta0.clone();
    optimizers::LstmCoordinateState s;
    return unrolled_loss(net, batch, t, s, 4, nullptr, gradients).item<double>();
  };
  int checked = 0;
  for (auto& item : net->named_parameters()) {
    torch::Tensor p = item.value();
    const torch::Tensor grad = p.grad().reshape({-1});
    for (int64_t i = 0; i < p.numel(); i += std::max<int64_t>(1, p.numel() / 4)) {
      const double eps = 1e-6;
      double* x = p.data_ptr<double>() + i;
      const double saved = *x;
      *x = saved + eps;
      const double up = held();
      *x = saved - eps;
      const double down = held();
      *x = saved;
      const double fd = (up - down) / (2 * eps);
      const double ad = grad[i].item<double>();
      EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::fabs(fd))) << item.key() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

LearnConfig tiny_config(const std::string& out) {
  LearnConfig c;
  c.dims = 3;
  c.horizon = 20;
  c.unroll = 10;
  c.batch = 16;
  c.episodes = 40;
  c.meta_lr = 0.01;
  c.validate_every = 10;
  c.validation_instances = 64;
  c.test_instances = 64;
  c.net = tiny_net();
  c.out = out;
  return c;
}

// Meta-training on a tiny quadratic family lowers the meta-validation loss well below the untrained network's.
TEST(Learn, MetaTrainingLowersTheMetaLoss) {
  testing::TempDir dir;
  const LearnConfig c = tiny_config(dir.path() + "/run");
  torch::manual_seed(c.seed);
  optimizers::LstmNet untrained(c.net);
  const QuadraticBatch validation = quadratic_batch(256, c.dims, 99);
  const LossCurve before = lstm_curve(untrained, validation, c.horizon);
  const LearnResult r = learn(c, {});
  ASSERT_FALSE(r.interrupted);
  EXPECT_EQ(r.episodes_done, 40);
  optimizers::LstmNet trained = optimizers::load_lstm_net(r.best_path);
  const LossCurve after = lstm_curve(trained, validation, c.horizon);
  EXPECT_LT(after.mean.back(), 0.7 * before.mean.back()) << before.mean.back() << " -> " << after.mean.back();
  // The report compares it with each baseline at its best lr.
  const std::string report = evaluate_learned(c);
  EXPECT_TRUE(std::filesystem::exists(c.out + "/evaluation.csv"));
  EXPECT_TRUE(std::filesystem::exists(c.out + "/loss_per_step.csv"));
  EXPECT_TRUE(std::filesystem::exists(report));
}

// A run stopped midway (here after episode 17; its last checkpoint is at 10) resumes to the same network as a run
// that never stopped; another config in the same folder is refused; --episodes may extend it.
TEST(Learn, InterruptedRunResumesToTheSameNetwork) {
  testing::TempDir dir;
  LearnConfig c = tiny_config(dir.path() + "/straight");
  c.episodes = 20;
  ASSERT_FALSE(learn(c, {}).interrupted);
  LearnConfig s = c;
  s.out = dir.path() + "/stopped";
  std::atomic<bool> stop{false};
  LearnRuntime runtime;
  runtime.stop = &stop;
  runtime.on_progress = [&stop](const LearnProgress& p) {
    if (p.episode == 17) stop = true;
  };
  const LearnResult first = learn(s, runtime);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.episodes_done, 17);
  const LearnResult second = learn(s, {});
  EXPECT_EQ(second.episodes_done, 20);
  const auto a = optimizers::load_lstm_net(c.out + "/best.pt")->named_parameters();
  const auto b = optimizers::load_lstm_net(s.out + "/best.pt")->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << a[i].key();
  LearnConfig other = s;
  other.meta_lr = 0.02;
  EXPECT_THROW(learn(other, {}), UserError);
  LearnConfig longer = s;
  longer.episodes = 30;
  EXPECT_EQ(learn(longer, {}).episodes_done, 30);
}

TEST(Learn, ConfigMistakesNameTheKey) {
  auto message = [](const std::string& yaml) {
    try {
      parse_learn_config(yaml, "l.yaml");
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("horizon: 100\nunroll: 30\n").find("key 'unroll'"), std::string::npos);
  EXPECT_NE(message("episodez: 3\n").find("l.yaml:1: key 'episodez': unknown key"), std::string::npos);
  EXPECT_NE(message("baselines: [adma]\n").find("key 'baselines'"), std::string::npos);
  EXPECT_NE(message("family: mlp\n").find("key 'family'"), std::string::npos);
  EXPECT_EQ(message("episodes: 5\n"), "(accepted)");
}

}  // namespace
}  // namespace nos::experiments
