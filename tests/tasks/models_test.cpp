// Tests of the classifier networks: output shapes, parameter counts from the architectures' arithmetic, seeded init.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "tasks/models.h"

namespace nos::tasks {
namespace {

torch::Tensor images(int64_t n, int64_t c, int64_t h, int64_t w) {
  return torch::randn({n, c, h, w}, at::make_generator<at::CPUGeneratorImpl>(7));
}

TEST(Models, OutputShapesOnFashionMnistAndCifarShapes) {
  for (const std::string name : {"convnet", "2c2d", "3c3d", "mlp", "logreg", "wrn-10-1"}) {
    for (int64_t channels : {1, 3}) {
      const int64_t side = channels == 1 ? 28 : 32;
      Classifier model = make_model(name, channels, side, side, 10);
      EXPECT_EQ(model->forward(images(3, channels, side, side)).sizes(), (std::vector<int64_t>{3, 10}))
          << name << " with " << channels << " channels";
    }
  }
  EXPECT_EQ(make_model("convnet", 3, 32, 32, 100)->forward(images(2, 3, 32, 32)).size(1), 100);
}

// Counts by hand from the definitions (weights + biases; batch norm: scale + shift per channel).
TEST(Models, ParameterCountsMatchTheArchitectures) {
  // DeepOBS fmnist_2c2d: 5·5·1·32+32 + 5·5·32·64+64 + 3136·1024+1024 + 1024·10+10.
  EXPECT_EQ(parameter_count(*make_model("2c2d", 1, 28, 28, 10)), 832 + 51264 + 3212288 + 10250);
  EXPECT_EQ(parameter_count(*make_model("2c2d", 1, 28, 28, 10)), 3274634);
  // DeepOBS cifar10_3c3d: 5·5·3·64+64 + 3·3·64·96+96 + 3·3·96·128+128 + 1152·512+512 + 512·256+256 + 256·10+10
  // (32 → conv VALID 28 → pool 14 → conv VALID 12 → pool 6 → conv SAME 6 → pool 3: 3·3·128 = 1152 features).
  EXPECT_EQ(parameter_count(*make_model("3c3d", 3, 32, 32, 10)), 4864 + 55392 + 110720 + 590336 + 131328 + 2570);
  EXPECT_EQ(parameter_count(*make_model("3c3d", 3, 32, 32, 10)), 895210);
  // NOS ConvNet: 3·3·C·32 (no bias) + 64 + 3·3·32·32 + 64 + (32·(H/4)·(W/4))·10 + 10.
  EXPECT_EQ(parameter_count(*make_model("convnet", 1, 28, 28, 10)), 288 + 64 + 9216 + 64 + 1568 * 10 + 10);
  EXPECT_EQ(parameter_count(*make_model("convnet", 3, 32, 32, 10)), 864 + 64 + 9216 + 64 + 2048 * 10 + 10);
  EXPECT_EQ(parameter_count(*make_model("logreg", 1, 28, 28, 10)), 7850);
  EXPECT_EQ(parameter_count(*make_model("mlp", 1, 28, 28, 10)), 785000 + 500500 + 50100 + 1010);
  // WRN-16-4 on CIFAR-10: 2,748,890 (the "2.7M" of Zagoruyko & Komodakis 2016, table 1).
  EXPECT_EQ(parameter_count(*make_model("wrn-16-4", 3, 32, 32, 10)), 2748890);
}

TEST(Models, InitialisationIsSeededAndIndependentOfTheGlobalGenerator) {
  for (const std::string name : {"convnet", "2c2d", "3c3d", "mlp", "wrn-10-1"}) {
    Classifier a = make_model(name, 3, 32, 32, 10);
    Classifier b = make_model(name, 3, 32, 32, 10);
    at::Generator ga = at::make_generator<at::CPUGeneratorImpl>(5);
    at::Generator gb = at::make_generator<at::CPUGeneratorImpl>(5);
    a->initialize(ga);
    torch::manual_seed(123);  // must not matter
    b->initialize(gb);
    auto pa = a->parameters(), pb = b->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << name << " parameter " << i;
    at::Generator gc = at::make_generator<at::CPUGeneratorImpl>(6);
    b->initialize(gc);
    EXPECT_FALSE(torch::equal(a->parameters()[0], b->parameters()[0])) << name;
  }
}

TEST(Models, DeepObsInitialisations) {
  Classifier twoc2d = make_model("2c2d", 1, 28, 28, 10);
  for (const auto& p : twoc2d->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      EXPECT_TRUE(torch::allclose(p.value(), torch::full_like(p.value(), 0.05))) << p.key();
    } else {
      // Truncated normal, sigma 0.05: nothing beyond 2 sigma, standard deviation about 0.88 sigma.
      EXPECT_LE(p.value().abs().max().item<double>(), 0.1 + 1e-7) << p.key();
      EXPECT_NEAR(p.value().std().item<double>(), 0.05 * 0.88, 0.005) << p.key();
    }
  }
  Classifier threec3d = make_model("3c3d", 3, 32, 32, 10);
  for (const auto& p : threec3d->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      EXPECT_EQ(p.value().abs().max().item<double>(), 0.0) << p.key();
    }
  }
  Classifier logreg = make_model("logreg", 1, 28, 28, 10);
  for (const torch::Tensor& p : logreg->parameters()) EXPECT_EQ(p.abs().max().item<double>(), 0.0);
}

TEST(Models, OnlyThreeC3DCarriesAnL2PenaltyOnItsWeights) {
  Classifier threec3d = make_model("3c3d", 3, 32, 32, 10);
  EXPECT_EQ(threec3d->weight_decay(), 0.002);
  const std::vector<torch::Tensor> decayed = threec3d->decayed_parameters();
  ASSERT_EQ(decayed.size(), 6u);
  for (const torch::Tensor& w : decayed) EXPECT_GE(w.dim(), 2);
  EXPECT_EQ(make_model("convnet", 1, 28, 28, 10)->weight_decay(), 0.0);
  EXPECT_TRUE(make_model("2c2d", 1, 28, 28, 10)->decayed_parameters().empty());
}

TEST(Models, BatchNormUsesRunningStatisticsInEvalMode) {
  Classifier model = make_model("convnet", 1, 28, 28, 10);
  torch::Tensor x = images(4, 1, 28, 28);
  model->eval();
  torch::Tensor alone = model->forward(x.narrow(0, 0, 1));
  torch::Tensor batched = model->forward(x);
  EXPECT_TRUE(torch::allclose(alone[0], batched[0], 1e-5, 1e-6));
}

TEST(Models, UnknownNamesAndImpossibleShapesAreUserErrors) {
  try {
    make_model("resnet", 3, 32, 32, 10);
    FAIL() << "no error";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown model 'resnet'"), std::string::npos) << message;
    EXPECT_NE(message.find("convnet"), std::string::npos) << message;
  }
  EXPECT_THROW(make_model("wrn-15-4", 3, 32, 32, 10), UserError);
  EXPECT_THROW(make_model("wrn-16-0", 3, 32, 32, 10), UserError);
  EXPECT_THROW(make_model("wrn-16", 3, 32, 32, 10), UserError);
  EXPECT_THROW(make_model("3c3d", 3, 8, 8, 10), UserError);
  EXPECT_THROW(make_model("convnet", 1, 28, 28, 1), UserError);
  EXPECT_NO_THROW(check_model_name("wrn-28-10"));
  EXPECT_THROW(check_model_name("wrn-x-4"), UserError);
  EXPECT_THROW(check_model_name(""), UserError);
}

// --- the registry -------------------------------------------------------------------------------------------------

TEST(ModelRegistry, EveryRowBuildsAndItsConvolutionFlagIsTrue) {
  for (const ModelInfo& m : models()) {
    const std::string name(m.example);
    EXPECT_EQ(find_model(name), &m) << name;
    EXPECT_NO_THROW(check_model_name(name)) << name;
    const int64_t side = std::max<int64_t>(m.min_side, 16);
    Classifier model = make_model(name, 3, side, side, 10);
    EXPECT_EQ(model->model_name(), name);
    bool has_conv = false;
    for (const auto& child : model->modules(/*include_self=*/false)) {
      has_conv = has_conv || child->as<torch::nn::Conv2d>() != nullptr;
    }
    EXPECT_EQ(has_conv, m.convolutional) << name;
    if (m.min_side > 1) {
      EXPECT_THROW(make_model(name, 3, m.min_side - 1, m.min_side - 1, 10), UserError) << name;
      EXPECT_NO_THROW(make_model(name, 3, m.min_side, m.min_side, 10)) << name;
    }
  }
}

TEST(ModelRegistry, CheckAcceptsExactlyTheRows) {
  std::vector<std::string> names;
  for (const ModelInfo& m : models()) {
    names.emplace_back(m.name);
    if (m.member == nullptr) EXPECT_EQ(m.name, m.example);
    if (m.member != nullptr) EXPECT_TRUE(m.member(m.example)) << m.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"convnet", "2c2d", "3c3d", "mlp", "mlp20", "logreg", "wrn-D-K"}));
  EXPECT_EQ(model_names(),
            (std::vector<std::string>{"convnet", "2c2d", "3c3d", "mlp", "mlp20", "logreg", "wrn-16-4"}));
  EXPECT_EQ(find_model("resnet"), nullptr);
  EXPECT_EQ(find_model("wrn-x-4"), nullptr);
  EXPECT_EQ(find_model("wrn-28-10")->name, "wrn-D-K");
  try {
    check_model_name("resnet");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown model 'resnet' (known: convnet, 2c2d, 3c3d, mlp, mlp20, logreg, wrn-16-4 (any wrn-D-K with D = "
              "6n+4, K >= 1))");
  }
}

// Andrychowicz et al. 2016's optimizee: 784 → 20 sigmoid units → 10, 15,910 parameters; a sigmoid layer's output
// lies in (0, 1), so scaling the hidden layer's bias far up saturates it (a ReLU layer would grow without bound).
TEST(ModelRegistry, Mlp20IsThePapersSigmoidMlp) {
  Classifier model = make_model("mlp20", 1, 28, 28, 10);
  int64_t count = 0;
  for (const torch::Tensor& p : model->parameters()) count += p.numel();
  EXPECT_EQ(count, 784 * 20 + 20 + 20 * 10 + 10);
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  params["fc1.weight"].zero_();
  params["fc1.bias"].fill_(1000);
  params["fc2.weight"].fill_(1);
  params["fc2.bias"].zero_();
  const torch::Tensor out = model->forward(torch::zeros({1, 1, 28, 28}));
  EXPECT_NEAR(out[0][0].item<double>(), 20.0, 1e-4);  // 20 saturated units of 1
}

}  // namespace
}  // namespace nos::tasks
