// The LSTM optimizer (optimizers/lstm_optimizer.h): preprocessing, its file, and the optimizer's save/load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "optimizers/lstm_optimizer.h"
#include "optimizers/named.h"
#include "tests/temp_dir.h"

namespace nos::optimizers {
namespace {

std::string error_of(const std::string& path) {
  try {
    load_lstm_net(path);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(loaded)";
}

// The paper's preprocessing (appendix A, p = 10): (log|g|/p, sign g) above e^-p, (−1, e^p g) below.
TEST(LstmOptimizer, PreprocessingIsThePapers) {
  const torch::Tensor g = torch::tensor({2.0, -0.5, 1e-6, -1e-5, 0.0}, torch::kFloat64);
  const torch::Tensor x = preprocess_gradients(g, 10);
  ASSERT_EQ(x.sizes(), (torch::IntArrayRef{5, 2}));
  EXPECT_NEAR(x[0][0].item<double>(), std::log(2.0) / 10, 1e-15);
  EXPECT_EQ(x[0][1].item<double>(), 1);
  EXPECT_NEAR(x[1][0].item<double>(), std::log(0.5) / 10, 1e-15);
  EXPECT_EQ(x[1][1].item<double>(), -1);
  // e^-10 ≈ 4.54e-5: 1e-6 and -1e-5 are below it.
  EXPECT_EQ(x[2][0].item<double>(), -1);
  EXPECT_NEAR(x[2][1].item<double>(), 1e-6 * std::exp(10.0), 1e-12);
  EXPECT_NEAR(x[3][1].item<double>(), -1e-5 * std::exp(10.0), 1e-12);
  EXPECT_EQ(x[4][0].item<double>(), -1);
  EXPECT_EQ(x[4][1].item<double>(), 0);
}

// A network written and read back is the same function; the optimizer's state (each parameter's LSTM state)
// round-trips through save/load, so a reloaded optimizer takes the same next step.
TEST(LstmOptimizer, SaveLoadRoundTrip) {
  testing::TempDir dir;
  torch::manual_seed(3);
  LstmNetOptions o;
  o.hidden = 5;
  LstmNet net(o);
  save_lstm_net(net, dir.path() + "/net.pt");
  LstmNet back = load_lstm_net(dir.path() + "/net.pt");
  EXPECT_EQ(back->options().hidden, 5);
  const auto a = net->named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << a[i].key();

  torch::Tensor w = torch::randn({4, 3}).requires_grad_(true);
  LstmOptimizer optimizer({w}, net);
  for (int s = 0; s < 3; ++s) {
    w.mutable_grad() = torch::randn({4, 3});
    optimizer.step();
  }
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(dir.path() + "/opt.pt");
  torch::Tensor w2 = w.detach().clone().requires_grad_(true);
  LstmOptimizer reloaded({w2}, back);
  torch::serialize::InputArchive in;
  in.load_from(dir.path() + "/opt.pt");
  reloaded.load(in);
  const torch::Tensor g = torch::randn({4, 3});
  w.mutable_grad() = g.clone();
  w2.mutable_grad() = g.clone();
  optimizer.step();
  reloaded.step();
  EXPECT_TRUE(torch::equal(w.detach(), w2.detach()));
  // Without the state the next step differs: the state matters and was restored.
  torch::Tensor w3 = w.detach().clone().requires_grad_(true);
  LstmOptimizer fresh({w3}, back);
  w3.mutable_grad() = g.clone();
  fresh.step();
  EXPECT_FALSE(torch::equal(w3.detach() - w.detach(), torch::zeros_like(w3)));
}

// A missing, corrupt or mismatched file is a UserError naming it.
TEST(LstmOptimizer, BadFilesAreUserErrorsNamingThem) {
  testing::TempDir dir;
  EXPECT_NE(error_of(dir.path() + "/none.pt").find("none.pt: no such file"), std::string::npos);
  std::ofstream(dir.path() + "/junk.pt") << "not an archive";
  EXPECT_NE(error_of(dir.path() + "/junk.pt").find("junk.pt: not an LSTM optimizer file"), std::string::npos);
  torch::serialize::OutputArchive other;
  other.write("weights", torch::ones({2}));
  other.save_to(dir.path() + "/other.pt");
  EXPECT_NE(error_of(dir.path() + "/other.pt").find("not an LSTM optimizer file of format 1"), std::string::npos);
  LstmNetOptions small;
  small.hidden = 4;
  save_lstm_net(LstmNet(small), dir.path() + "/small.pt");
  torch::serialize::InputArchive in;
  in.load_from(dir.path() + "/small.pt");
  torch::serialize::OutputArchive lying;
  lying.write("nos_lstm_format", c10::IValue(int64_t{1}));
  lying.write("hidden", c10::IValue(int64_t{8}));  // the weights are for 4
  lying.write("layers", c10::IValue(int64_t{2}));
  lying.write("preprocess_p", c10::IValue(10.0));
  lying.write("output_scale", c10::IValue(0.1));
  for (const auto& item : LstmNet(small)->named_parameters()) {
    torch::Tensor t;
    in.read("net/" + item.key(), t);
    lying.write("net/" + item.key(), t);
  }
  lying.save_to(dir.path() + "/lying.pt");
  EXPECT_NE(error_of(dir.path() + "/lying.pt").find("has the wrong shape"), std::string::npos);
}

// "lstm:PATH" resolves to the network in the file, identified by the file's hash; it trains like any rule through
// make_training_optimizer (lr scaling its update), refuses weight decay, and a bad file is a UserError naming it.
TEST(LstmOptimizer, LstmRulesResolveByTheFilesHash) {
  testing::TempDir dir;
  torch::manual_seed(5);
  save_lstm_net(LstmNet(LstmNetOptions{}), dir.path() + "/a.pt");
  torch::manual_seed(6);
  save_lstm_net(LstmNet(LstmNetOptions{}), dir.path() + "/b.pt");
  const ResolvedRule a = resolve_rule("lstm:" + dir.path() + "/a.pt");
  const ResolvedRule b = resolve_rule("lstm:" + dir.path() + "/b.pt");
  EXPECT_EQ(canonical_text(a).rfind("lstm:", 0), 0u);
  EXPECT_EQ(canonical_text(a).size(), 5u + 16u);
  EXPECT_NE(canonical_text(a), canonical_text(b));
  std::filesystem::copy_file(dir.path() + "/a.pt", dir.path() + "/copy.pt");
  EXPECT_EQ(canonical_text(resolve_rule("lstm:" + dir.path() + "/copy.pt")), canonical_text(a));
  // One step from the same state with lr 0.5 and 0.25: the first moves the weights exactly twice as far.
  auto step_with = [&](double lr) {
    torch::Tensor w = torch::ones({3}, torch::kFloat64);
    w.requires_grad_(true);
    auto optimizer = make_training_optimizer(a, {{{w}, 0.0}}, RuleOptions(lr));
    w.mutable_grad() = torch::tensor({0.1, -0.2, 0.3}, torch::kFloat64);
    optimizer->step();
    return (w.detach() - 1).clone();
  };
  const torch::Tensor big = step_with(0.5), small = step_with(0.25);
  EXPECT_GT(small.abs().min().item<double>(), 0);
  EXPECT_TRUE(torch::allclose(big, 2 * small, 1e-12, 0)) << big << small;
  torch::Tensor w = torch::ones({3});
  w.requires_grad_(true);
  EXPECT_THROW(make_training_optimizer(a, {{{w}, 0.01}}, RuleOptions(0.5)), UserError);
  try {
    resolve_rule("lstm:" + dir.path() + "/missing.pt");
    ADD_FAILURE() << "a missing file resolved";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pt: no such file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nos::optimizers
