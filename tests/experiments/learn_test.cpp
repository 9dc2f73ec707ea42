// Meta-training the LSTM optimizer (experiments/learn.h): the meta-gradient against finite differences, a tiny
// run that lowers the meta-loss, resume after an interruption, the config's checks.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "experiments/files.h"
#include "experiments/learn.h"
#include "tasks/datasets.h"
#include "tasks/models.h"
#include "tests/tasks/fixtures.h"
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
  torch::Tensor loss = unrolled_loss(net, batch, theta, state, 0, 4, &gradients);
  net->zero_grad();
  loss.backward();
  auto held = [&]() {
    torch::NoGradGuard no_grad;
    torch::Tensor t = batch.theta0.clone();
    optimizers::LstmCoordinateState s;
    return unrolled_loss(net, batch, t, s, 0, 4, nullptr, gradients).item<double>();
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

std::string learn_error(const LearnConfig& c) {
  try {
    learn(c, {});
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

// A full disk while the checkpoint is written (its temporary is a link to /dev/full, which refuses every write with
// ENOSPC) stops the run with a UserError (nos learn's exit 2) that says what to do, and the previous checkpoint stays:
// it aborted the process before (issue 34).
TEST(Learn, AFullDiskAtACheckpointIsAUserErrorAndKeepsThePreviousOne) {
  testing::TempDir dir;
  LearnConfig c = tiny_config(dir.path() + "/run");
  c.episodes = 10;
  ASSERT_FALSE(learn(c, {}).interrupted);
  const std::string checkpoint = c.out + "/checkpoint.pt";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  const std::string before = read_text(checkpoint);
  std::filesystem::create_symlink("/dev/full", checkpoint + ".tmp");
  c.episodes = 20;
  const std::string message = learn_error(c);
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_NE(message.find("free space, then run the same command to continue"), std::string::npos) << message;
  EXPECT_EQ(read_text(checkpoint), before);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(checkpoint + ".tmp")));
  // With space again, the same command continues to the end.
  EXPECT_EQ(learn(c, {}).episodes_done, 20);
}

// A file of another kind in the checkpoint's place (a best.pt, a search's proposer.pt, a text file) is a UserError
// naming the file and what it is, not an internal error (issue 34).
TEST(Learn, AWrongFileAsCheckpointIsNamed) {
  testing::TempDir dir;
  LearnConfig c = tiny_config(dir.path() + "/run");
  c.episodes = 10;
  ASSERT_FALSE(learn(c, {}).interrupted);
  const std::string checkpoint = c.out + "/checkpoint.pt";
  std::filesystem::copy_file(c.out + "/best.pt", checkpoint, std::filesystem::copy_options::overwrite_existing);
  std::string message = learn_error(c);
  EXPECT_NE(message.find(checkpoint + ": not a nos learn checkpoint, it is an LSTM optimizer"), std::string::npos)
      << message;
  {
    torch::serialize::OutputArchive proposer;
    proposer.write("format", torch::tensor({int64_t{2}}));
    proposer.write("batches_done", torch::tensor({int64_t{3}}));
    proposer.write("kind", torch::tensor({int64_t{1}}));
    proposer.save_to(checkpoint);
  }
  message = learn_error(c);
  EXPECT_NE(message.find("it is a search's proposer checkpoint (proposer.pt)"), std::string::npos) << message;
  write_atomically(checkpoint, "not an archive\n");
  message = learn_error(c);
  EXPECT_NE(message.find(checkpoint + ": a damaged checkpoint"), std::string::npos) << message;
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
  EXPECT_NE(message("family: mlps\n").find("key 'family'"), std::string::npos);
  EXPECT_NE(message("architecture: relu:20\n").find("key 'architecture' applies to family mlp only"),
            std::string::npos);
  EXPECT_NE(message("family: mlp\narchitecture: tanh:20\n").find("l.yaml:2: key 'architecture'"), std::string::npos);
  EXPECT_NE(message("family: mlp\ngeneralization: [relu:0]\n").find("'0' is not a width"), std::string::npos);
  EXPECT_EQ(message("family: mlp\narchitecture: relu:40-20\ngeneralization: [sigmoid:20]\n"), "(accepted)");
  EXPECT_EQ(message("episodes: 5\n"), "(accepted)");
}

TEST(Learn, ArchitecturesReadAndPrint) {
  const MlpArchitecture a = parse_architecture("relu:40-20");
  EXPECT_EQ(a.activation, "relu");
  EXPECT_EQ(a.hidden, (std::vector<int64_t>{40, 20}));
  EXPECT_EQ(architecture_text(a), "relu:40-20");
  for (const char* bad : {"sigmoid", "tanh:20", "relu:", "relu:20-", "relu:2x", "relu:-3"}) {
    EXPECT_THROW(parse_architecture(bad), UserError) << bad;
  }
}

// A small Fashion-MNIST-shaped data set: 300 training and 100 test images of the fixture's row-band pattern.
MlpSplits fixture_data(const std::string& dir) {
  tasks::fixtures::write_fmnist_pair(dir, "train", 300, 1);
  tasks::fixtures::write_fmnist_pair(dir, "t10k", 100, 2);
  return load_mlp_data(dir);
}

// An instance of the MLP family is nos's mlp20 model: with the model's weights laid into θ, the loss of a step is
// the model's cross-entropy on that step's minibatch (float64, 1e-12), and each instance's loss and gradient depend
// on its own row of θ only.
TEST(Learn, MlpInstancesAreTheMlp20Model) {
  testing::TempDir dir;
  const MlpSplits data = fixture_data(dir.path());
  const MlpBatch batch(data.train, parse_architecture("sigmoid:20"), 3, 16, 5, torch::kFloat64);
  EXPECT_EQ(batch.dims(), 784 * 20 + 20 + 20 * 10 + 10);
  tasks::Classifier model = tasks::make_model("mlp20", 1, 28, 28, 10);
  model->to(torch::kFloat64);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  model->initialize(gen);
  std::vector<torch::Tensor> parts;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      torch::NoGradGuard no_grad;
      p.value().uniform_(-0.5, 0.5);  // non-zero biases, so their place in θ is checked too
    }
  }
  const auto params = model->named_parameters();
  for (size_t i = 0; i < params.size(); i += 2) {
    parts.push_back(params[i].value().detach().t().reshape({-1}));  // Linear weight [out, in] → θ's [in, out]
    parts.push_back(params[i + 1].value().detach());
  }
  torch::Tensor theta = batch.theta0.clone();
  theta[1] = torch::cat(parts);
  const torch::Tensor losses = batch.loss(theta, 7);
  const torch::Tensor rows = batch.rows(3, 7)[1];
  const torch::Tensor x = data.train->features.index_select(0, rows).to(torch::kFloat64).view({-1, 1, 28, 28});
  const double expected =
      torch::nn::functional::cross_entropy(model->forward(x), data.train->labels.index_select(0, rows)).item<double>();
  EXPECT_NEAR(losses[1].item<double>(), expected, 1e-12);
  const torch::Tensor g = batch.gradient(theta, 7);
  torch::Tensor moved = theta.clone();
  moved[1] += 0.01;
  const torch::Tensor after = batch.loss(moved, 7);
  EXPECT_EQ(after[0].item<double>(), losses[0].item<double>());
  EXPECT_EQ(after[2].item<double>(), losses[2].item<double>());
  EXPECT_TRUE(torch::equal(batch.gradient(moved, 7)[0], g[0]));
  EXPECT_FALSE(torch::equal(batch.rows(3, 7), batch.rows(3, 8)));
}

// Meta-training on a tiny MLP family (the fixture's data) lowers the held-out instances' mean loss over the horizon
// well below the untrained network's, and the report covers the other architectures.
TEST(Learn, MlpMetaTrainingLowersTheLossAndReportsOtherArchitectures) {
  testing::TempDir dir;
  fixture_data(dir.path());
  LearnConfig c = tiny_config(dir.path() + "/run");
  c.family = "mlp";
  c.architecture = "sigmoid:5";
  c.minibatch = 16;
  c.batch = 2;
  c.episodes = 30;
  c.validation_instances = 8;
  c.test_instances = 8;
  c.data_dir = dir.path();
  c.lr_grid = {0.01, 0.1, 1};
  c.baselines = {"adam", "sgd"};
  c.generalization = {"relu:5", "sigmoid:5-5"};
  torch::manual_seed(c.seed);
  optimizers::LstmNet untrained(c.net);
  const MlpSplits data = load_mlp_data(dir.path());
  const MlpBatch held_out(data.test, parse_architecture(c.architecture), 16, 16, 99);
  auto mean_loss = [&](optimizers::LstmNet& net) {
    const LossCurve curve = lstm_curve(net, held_out, c.horizon);
    double sum = 0;
    for (size_t t = 1; t < curve.mean.size(); ++t) sum += curve.mean[t];
    return sum / static_cast<double>(c.horizon);
  };
  const double before = mean_loss(untrained);
  const LearnResult r = learn(c, {});
  optimizers::LstmNet trained = optimizers::load_lstm_net(r.best_path);
  const double after = mean_loss(trained);
  EXPECT_LT(after, 0.8 * before) << before << " -> " << after;
  const std::string report = read_text(evaluate_learned(c));
  EXPECT_NE(report.find("| relu:5 | lstm |"), std::string::npos) << report;
  EXPECT_NE(report.find("| sigmoid:5-5 | sgd |"), std::string::npos) << report;
  // Medians and per-instance pairs beside the means: each baseline's row counts the 8 test instances.
  EXPECT_NE(report.find("## Per instance"), std::string::npos) << report;
  EXPECT_NE(report.find(" of 8 |"), std::string::npos) << report;
  EXPECT_TRUE(std::filesystem::exists(c.out + "/loss_per_step_relu-5.csv"));
  EXPECT_NE(read_text(c.out + "/config.yaml").find("architecture: sigmoid:5"), std::string::npos);
}

// nos learn never reads the test split before its final report: two data folders with the same training images and
// different test images give the same meta-training, validation losses and best.pt; with the legacy
// validation_data: test (validation on the test split) they do not, so the check can fail.
TEST(Learn, TheTestSplitCannotChangeWhatLearnChooses) {
  testing::TempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  for (const std::string& d : {a, b}) std::filesystem::create_directories(d);
  tasks::fixtures::write_fmnist_pair(a, "train", 300, 1);
  tasks::fixtures::write_fmnist_pair(b, "train", 300, 1);
  tasks::fixtures::write_fmnist_pair(a, "t10k", 100, 2);
  tasks::fixtures::write_fmnist_pair(b, "t10k", 100, 7);  // other test images
  auto run = [&](const std::string& data, const std::string& validation, const std::string& out) {
    LearnConfig c = tiny_config(dir.path() + "/" + out);
    c.family = "mlp";
    c.architecture = "sigmoid:5";
    c.minibatch = 16;
    c.batch = 2;
    c.episodes = 4;
    c.validate_every = 2;
    c.validation_instances = 4;
    c.data_dir = data;
    c.validation_data = validation;
    torch::manual_seed(c.seed);
    const LearnResult r = learn(c, {});
    return std::make_pair(r.best_val, read_text(r.best_path));
  };
  const auto first = run(a, "train", "ra"), second = run(b, "train", "rb");
  EXPECT_EQ(first.first, second.first);
  EXPECT_TRUE(first.second == second.second) << "best.pt differs with the test split";
  EXPECT_NE(run(a, "test", "la").first, run(b, "test", "lb").first);
  // A run folder recorded before the key validated on the test split, and reads so.
  EXPECT_EQ(parse_recorded_learn_config("family: mlp\n", "c.yaml").validation_data, "test");
  EXPECT_EQ(parse_recorded_learn_config("family: mlp\nvalidation_data: train\n", "c.yaml").validation_data, "train");
  EXPECT_EQ(parse_learn_config("family: mlp\n", "c.yaml").validation_data, "train");
}

}  // namespace
}  // namespace nos::experiments
