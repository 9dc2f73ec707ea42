// The classifier networks (ConvNet, 2c2d, 3c3d, MLP, logreg, WRN), their seeded initialisation and the registry.
#include "tasks/models.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/text.h"

namespace nos::tasks {

namespace {

namespace F = torch::nn::functional;

}  // namespace

const torch::Tensor& StackedTensors::at(const std::string& name) const {
  const auto found = tensors.find(name);
  NOS_CHECK(found != tensors.end(), "stacked model: no tensor '" << name << "'");
  return found->second;
}

namespace {

// ---- initialisers drawing from an explicit generator (torch::nn::init only uses the global one) -------------------

struct Fans {
  double in = 1, out = 1;
};

Fans fans(const torch::Tensor& weight) {
  NOS_CHECK(weight.dim() >= 2, "fan of a weight with fewer than 2 dimensions");
  const double receptive = weight.dim() > 2 ? static_cast<double>(weight[0][0].numel()) : 1.0;
  return {static_cast<double>(weight.size(1)) * receptive, static_cast<double>(weight.size(0)) * receptive};
}

void uniform(torch::Tensor t, double bound, at::Generator& gen) { t.uniform_(-bound, bound, gen); }

void xavier_uniform(torch::Tensor w, at::Generator& gen) {
  const Fans f = fans(w);
  uniform(w, std::sqrt(6.0 / (f.in + f.out)), gen);
}

void xavier_normal(torch::Tensor w, at::Generator& gen) {
  const Fans f = fans(w);
  w.normal_(0.0, std::sqrt(2.0 / (f.in + f.out)), gen);
}

// He et al. 2015 with fan_out, as the reference WRN code initialises its convolutions.
void he_normal_fan_out(torch::Tensor w, at::Generator& gen) { w.normal_(0.0, std::sqrt(2.0 / fans(w).out), gen); }

// TensorFlow's truncated_normal_initializer: N(0, σ²) with draws beyond 2σ redrawn, sampled by inverting the normal
// CDF on the truncated interval (as torch.nn.init.trunc_normal_ does).
void truncated_normal(torch::Tensor w, double stddev, at::Generator& gen) {
  const double lo = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)));
  w.uniform_(2 * lo - 1, 2 * hi - 1, gen);
  w.erfinv_();
  w.mul_(stddev * std::sqrt(2.0));
  w.clamp_(-2 * stddev, 2 * stddev);
}

// PyTorch's default for Conv2d and Linear: kaiming_uniform(a = √5) on the weight, i.e. U(±1/√fan_in) for both.
void torch_default(torch::Tensor w, torch::Tensor b, at::Generator& gen) {
  const double bound = 1.0 / std::sqrt(fans(w).in);
  uniform(w, bound, gen);
  if (b.defined()) uniform(b, bound, gen);
}

void reset_batch_norm(torch::nn::BatchNorm2dImpl& bn) {
  bn.weight.fill_(1.0);
  bn.bias.zero_();
  bn.running_mean.zero_();
  bn.running_var.fill_(1.0);
  bn.num_batches_tracked.zero_();
}

// ---- TensorFlow's SAME max-pooling ----------------------------------------------------------------------------

// TF's padding="same" max-pool: output ceil(in/stride), the padding split with the odd element at the end and never
// chosen. When nothing is padded at the start PyTorch's ceil_mode computes exactly that without a copy.
torch::Tensor tf_same_max_pool(const torch::Tensor& x, int64_t kernel, int64_t stride) {
  int64_t begin[2], end[2];
  bool ceil_mode_matches = true;
  for (int d = 0; d < 2; ++d) {
    const int64_t in = x.size(2 + d);
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
    begin[d] = total / 2;
    end[d] = total - begin[d];
    int64_t ceil_out = (in - kernel + stride - 1) / stride + 1;
    if ((ceil_out - 1) * stride >= in) --ceil_out;
    ceil_mode_matches = ceil_mode_matches && begin[d] == 0 && in >= kernel && ceil_out == out;
  }
  if (ceil_mode_matches) {
    return F::max_pool2d(x, F::MaxPool2dFuncOptions(kernel).stride(stride).ceil_mode(true));
  }
  torch::Tensor padded = F::pad(x, F::PadFuncOptions({begin[1], end[1], begin[0], end[0]})
                                        .value(-std::numeric_limits<double>::infinity()));
  return F::max_pool2d(padded, F::MaxPool2dFuncOptions(kernel).stride(stride));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t padding, bool bias, int64_t stride = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias));
}

// ---- stacked layers: K children in one op (ClassifierImpl::forward_stacked) ----------------------------------------

// A convolution of every child: x [N, C, H, W] the shared input (grouped false) or [N, K·I, H, W] each child's own
// channels (grouped: groups = K); w [K, O, I, kh, kw] → [N, K·O, H', W'].
torch::Tensor conv_stacked(const torch::Tensor& x, const StackedTensors& s, const std::string& name, int64_t padding,
                           bool grouped) {
  const torch::Tensor& w = s.at(name + ".weight");
  const auto bias = s.tensors.find(name + ".bias");
  return F::conv2d(x, w.flatten(0, 1), F::Conv2dFuncOptions()
                                           .bias(bias == s.tensors.end() ? torch::Tensor() : bias->second.flatten())
                                           .padding(padding)
                                           .groups(grouped ? s.k : 1));
}

torch::Tensor conv_shared(const torch::Tensor& x, const StackedTensors& s, const std::string& name, int64_t padding) {
  return conv_stacked(x, s, name, padding, false);
}

torch::Tensor conv_grouped(const torch::Tensor& x, const StackedTensors& s, const std::string& name, int64_t padding) {
  return conv_stacked(x, s, name, padding, true);
}

// Batch norm over the K·C channels: per channel, hence per child; the running statistics are views of the stacked
// buffers, updated in place in training (BatchNorm2d's defaults: momentum 0.1, eps 1e-5).
torch::Tensor batch_norm_stacked(const torch::Tensor& x, const StackedTensors& s, const std::string& name) {
  if (s.training) {
    torch::NoGradGuard no_grad;
    s.at(name + ".num_batches_tracked").add_(1);
  }
  return torch::batch_norm(x, s.at(name + ".weight").flatten(), s.at(name + ".bias").flatten(),
                           s.at(name + ".running_mean").view({-1}), s.at(name + ".running_var").view({-1}),
                           s.training, 0.1, 1e-5, at::globalContext().userEnabledCuDNN());
}

// [N, K·C, h, w] → [K, N, C·h·w]: each child's flattened features.
torch::Tensor per_child(const torch::Tensor& x, int64_t k) {
  return x.reshape({x.size(0), k, -1}).transpose(0, 1);
}

// A dense layer of every child on the shared input x [N, F]: one matrix product with the K·out rows → [K, N, out].
torch::Tensor linear_shared(const torch::Tensor& x, const StackedTensors& s, const std::string& name) {
  const torch::Tensor& w = s.at(name + ".weight");  // [K, out, F]
  const torch::Tensor y = torch::matmul(x, w.flatten(0, 1).t());  // [N, K·out]
  return y.view({x.size(0), s.k, w.size(1)}).transpose(0, 1) + s.at(name + ".bias").unsqueeze(1);
}

// Each child's dense layer on its own features x [K, N, F] → [K, N, out].
torch::Tensor linear_stacked(const torch::Tensor& x, const StackedTensors& s, const std::string& name) {
  return torch::baddbmm(s.at(name + ".bias").unsqueeze(1), x, s.at(name + ".weight").transpose(1, 2));
}

// ---- the models -------------------------------------------------------------------------------------------------

class ConvNetImpl : public ClassifierImpl {
 public:
  ConvNetImpl(int64_t channels, int64_t height, int64_t width, int64_t classes)
      : ClassifierImpl("convnet", 0.0),
        conv1_(register_module("conv1", conv(channels, kFilters, 3, 1, false))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(kFilters))),
        conv2_(register_module("conv2", conv(kFilters, kFilters, 3, 1, false))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(kFilters))),
        fc_(register_module("fc", torch::nn::Linear(kFilters * (height / 4) * (width / 4), classes))) {}

  torch::Tensor forward(torch::Tensor x) override {
    // conv → BN → ReLU → pool, computed as pool then ReLU: max-pooling commutes with ReLU (values and gradients
    // alike), and ReLU on the pooled map touches a quarter of the elements. In place: nothing needs its input.
    x = F::max_pool2d(bn1_(conv1_(x)), F::MaxPool2dFuncOptions(2)).relu_();
    x = F::max_pool2d(bn2_(conv2_(x)), F::MaxPool2dFuncOptions(2)).relu_();
    return fc_(x.flatten(1));
  }

  bool has_stacked_forward() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& images, const StackedTensors& s) const override {
    torch::Tensor x = F::max_pool2d(batch_norm_stacked(conv_shared(images, s, "conv1", 1), s, "bn1"),
                                    F::MaxPool2dFuncOptions(2)).relu_();
    x = F::max_pool2d(batch_norm_stacked(conv_grouped(x, s, "conv2", 1), s, "bn2"), F::MaxPool2dFuncOptions(2))
            .relu_();
    return linear_stacked(per_child(x, s.k), s, "fc");
  }

  void initialize(at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    torch_default(conv1_->weight, {}, gen);
    torch_default(conv2_->weight, {}, gen);
    reset_batch_norm(*bn1_);
    reset_batch_norm(*bn2_);
    torch_default(fc_->weight, fc_->bias, gen);
  }

  static constexpr int64_t kFilters = 32;  // Bello et al. 2017, sec. 5: "32 filters"

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Linear fc_;
};

class TwoC2DImpl : public ClassifierImpl {
 public:
  TwoC2DImpl(int64_t channels, int64_t height, int64_t width, int64_t classes)
      : ClassifierImpl("2c2d", 0.0),
        conv1_(register_module("conv1", conv(channels, 32, 5, 2, true))),
        conv2_(register_module("conv2", conv(32, 64, 5, 2, true))),
        fc1_(register_module(
            "fc1", torch::nn::Linear(64 * ceil_div(ceil_div(height, 2), 2) * ceil_div(ceil_div(width, 2), 2), 1024))),
        fc2_(register_module("fc2", torch::nn::Linear(1024, classes))) {}

  torch::Tensor forward(torch::Tensor x) override {
    // ReLU after pooling: the same values and gradients as before it (pooling commutes with ReLU), on fewer elements.
    x = tf_same_max_pool(conv1_(x), 2, 2).relu_();
    x = tf_same_max_pool(conv2_(x), 2, 2).relu_();
    return fc2_(fc1_(x.flatten(1)).relu_());
  }

  bool has_stacked_forward() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& images, const StackedTensors& s) const override {
    torch::Tensor x = tf_same_max_pool(conv_shared(images, s, "conv1", 2), 2, 2).relu_();
    x = tf_same_max_pool(conv_grouped(x, s, "conv2", 2), 2, 2).relu_();
    return linear_stacked(linear_stacked(per_child(x, s.k), s, "fc1").relu_(), s, "fc2");
  }

  void initialize(at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    for (torch::Tensor w : {conv1_->weight, conv2_->weight, fc1_->weight, fc2_->weight}) {
      truncated_normal(w, 0.05, gen);
    }
    for (torch::Tensor b : {conv1_->bias, conv2_->bias, fc1_->bias, fc2_->bias}) b.fill_(0.05);
  }

 private:
  torch::nn::Conv2d conv1_, conv2_;
  torch::nn::Linear fc1_, fc2_;
};

class ThreeC3DImpl : public ClassifierImpl {
 public:
  ThreeC3DImpl(int64_t channels, int64_t height, int64_t width, int64_t classes)
      : ClassifierImpl("3c3d", 0.002),  // DeepOBS cifar10_3c3d: L2 regularisation 0.002 on the weights
        conv1_(register_module("conv1", conv(channels, 64, 5, 0, true))),
        conv2_(register_module("conv2", conv(64, 96, 3, 0, true))),
        conv3_(register_module("conv3", conv(96, 128, 3, 1, true))),
        fc1_(register_module("fc1", torch::nn::Linear(128 * final_size(height) * final_size(width), 512))),
        fc2_(register_module("fc2", torch::nn::Linear(512, 256))),
        fc3_(register_module("fc3", torch::nn::Linear(256, classes))) {}

  // Side length after conv5 VALID → pool → conv3 VALID → pool → conv3 SAME → pool (32 → 3); < 1 if too small.
  static int64_t final_size(int64_t side) { return ceil_div(ceil_div(ceil_div(side - 4, 2) - 2, 2), 2); }

  torch::Tensor forward(torch::Tensor x) override {
    // ReLU after pooling, as in 2c2d: equal results on a quarter of the elements.
    x = tf_same_max_pool(conv1_(x), 3, 2).relu_();
    x = tf_same_max_pool(conv2_(x), 3, 2).relu_();
    x = tf_same_max_pool(conv3_(x), 3, 2).relu_();
    x = fc1_(x.flatten(1)).relu_();
    x = fc2_(x).relu_();
    return fc3_(x);
  }

  bool has_stacked_forward() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& images, const StackedTensors& s) const override {
    torch::Tensor x = tf_same_max_pool(conv_shared(images, s, "conv1", 0), 3, 2).relu_();
    x = tf_same_max_pool(conv_grouped(x, s, "conv2", 0), 3, 2).relu_();
    x = tf_same_max_pool(conv_grouped(x, s, "conv3", 1), 3, 2).relu_();
    x = linear_stacked(per_child(x, s.k), s, "fc1").relu_();
    x = linear_stacked(x, s, "fc2").relu_();
    return linear_stacked(x, s, "fc3");
  }

  void initialize(at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    for (torch::Tensor w : {conv1_->weight, conv2_->weight, conv3_->weight}) xavier_normal(w, gen);
    for (torch::Tensor w : {fc1_->weight, fc2_->weight, fc3_->weight}) xavier_uniform(w, gen);
    for (torch::Tensor b : {conv1_->bias, conv2_->bias, conv3_->bias, fc1_->bias, fc2_->bias, fc3_->bias}) b.zero_();
  }

 private:
  torch::nn::Conv2d conv1_, conv2_, conv3_;
  torch::nn::Linear fc1_, fc2_, fc3_;
};

// A stack of dense layers with ReLU between them; no hidden layer is logistic regression.
class DenseImpl : public ClassifierImpl {
 public:
  // Hidden layers of ReLU units, or of sigmoid units with `sigmoid`.
  DenseImpl(std::string name, int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes, double stddev,
            bool sigmoid = false)
      : ClassifierImpl(std::move(name), 0.0), stddev_(stddev), sigmoid_(sigmoid) {
    int64_t width = inputs;
    for (size_t i = 0; i <= hidden.size(); ++i) {
      const int64_t next = i < hidden.size() ? hidden[i] : classes;
      layers_.push_back(register_module("fc" + std::to_string(i + 1), torch::nn::Linear(width, next)));
      width = next;
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (size_t i = 0; i < layers_.size(); ++i) {
      x = layers_[i](x);
      if (i + 1 < layers_.size()) x = sigmoid_ ? x.sigmoid_() : x.relu_();
    }
    return x;
  }

  bool has_stacked_forward() const override { return true; }
  torch::Tensor forward_stacked(const torch::Tensor& images, const StackedTensors& s) const override {
    torch::Tensor x = linear_shared(images.flatten(1), s, "fc1");
    for (size_t i = 1; i < layers_.size(); ++i) {
      x = sigmoid_ ? x.sigmoid_() : x.relu_();
      x = linear_stacked(x, s, "fc" + std::to_string(i + 1));
    }
    return x;
  }

  void initialize(at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    for (auto& layer : layers_) {
      // σ = 0: DeepOBS's logistic regression starts from all-zero weights.
      if (stddev_ > 0) {
        truncated_normal(layer->weight, stddev_, gen);
      } else {
        layer->weight.zero_();
      }
      layer->bias.zero_();
    }
  }

 private:
  double stddev_;
  bool sigmoid_ = false;
  std::vector<torch::nn::Linear> layers_;
};

// A pre-activation basic block of a Wide ResNet; the shortcut is a 1×1 convolution of the pre-activated input when
// width or stride change (as in the reference implementation).
class WideBlockImpl : public torch::nn::Module {
 public:
  WideBlockImpl(int64_t in, int64_t out, int64_t stride)
      : bn1_(register_module("bn1", torch::nn::BatchNorm2d(in))),
        conv1_(register_module("conv1", conv(in, out, 3, 1, false, stride))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(out))),
        conv2_(register_module("conv2", conv(out, out, 3, 1, false))) {
    if (in != out || stride != 1) shortcut_ = register_module("shortcut", conv(in, out, 1, 0, false, stride));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor pre = torch::relu(bn1_(x));
    torch::Tensor out = conv2_(bn2_(conv1_(pre)).relu_());
    return out + (shortcut_ ? shortcut_(pre) : x);
  }

  void initialize(at::Generator& gen) {
    reset_batch_norm(*bn1_);
    reset_batch_norm(*bn2_);
    he_normal_fan_out(conv1_->weight, gen);
    he_normal_fan_out(conv2_->weight, gen);
    if (shortcut_) he_normal_fan_out(shortcut_->weight, gen);
  }

 private:
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Conv2d conv2_;
  torch::nn::Conv2d shortcut_{nullptr};
};
TORCH_MODULE(WideBlock);

class WideResNetImpl : public ClassifierImpl {
 public:
  WideResNetImpl(int64_t depth, int64_t widen, int64_t channels, int64_t classes)
      : ClassifierImpl("wrn-" + std::to_string(depth) + "-" + std::to_string(widen), 0.0),
        stem_(register_module("conv1", conv(channels, 16, 3, 1, false))) {
    const int64_t blocks = (depth - 4) / 6;
    const int64_t widths[] = {16, 16 * widen, 32 * widen, 64 * widen};
    const int64_t strides[] = {1, 2, 2};
    for (int g = 0; g < 3; ++g) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t in = b == 0 ? widths[g] : widths[g + 1];
        blocks_.push_back(register_module("block" + std::to_string(g + 1) + "_" + std::to_string(b + 1),
                                          WideBlock(in, widths[g + 1], b == 0 ? strides[g] : 1)));
      }
    }
    bn_ = register_module("bn", torch::nn::BatchNorm2d(widths[3]));
    fc_ = register_module("fc", torch::nn::Linear(widths[3], classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = stem_(x);
    for (auto& block : blocks_) x = block(x);
    x = bn_(x).relu_();
    return fc_(x.mean({2, 3}));
  }

  void initialize(at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    he_normal_fan_out(stem_->weight, gen);
    for (auto& block : blocks_) block->initialize(gen);
    reset_batch_norm(*bn_);
    torch_default(fc_->weight, {}, gen);
    fc_->bias.zero_();
  }

 private:
  torch::nn::Conv2d stem_;
  std::vector<WideBlock> blocks_;
  torch::nn::BatchNorm2d bn_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// Parses "wrn-D-K"; false when `name` does not have that form.
bool parse_wrn(std::string_view name, int64_t& depth, int64_t& widen) {
  if (name.substr(0, 4) != "wrn-") return false;
  const std::string rest(name.substr(4));
  const size_t dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == rest.size()) return false;
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 4 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  const std::string d = rest.substr(0, dash), k = rest.substr(dash + 1);
  if (!digits(d) || !digits(k)) return false;
  depth = std::stoll(d);
  widen = std::stoll(k);
  return true;
}

bool is_wrn(std::string_view name) {
  int64_t depth = 0, widen = 0;
  return parse_wrn(name, depth, widen);
}

void check_wrn(std::string_view name) {
  int64_t depth = 0, widen = 0;
  parse_wrn(name, depth, widen);
  if (depth < 10 || (depth - 4) % 6 != 0 || widen < 1 || widen > 64) {
    throw UserError("model '" + std::string(name) + "': a Wide ResNet needs depth D = 6n+4 >= 10 and widening "
                    "factor 1 <= K <= 64 (e.g. wrn-16-4, wrn-28-10)");
  }
}

template <typename Impl>
Classifier make_conv(std::string_view, const ModelShape& s) {
  return std::make_shared<Impl>(s.channels, s.height, s.width, s.classes);
}

Classifier make_mlp(std::string_view, const ModelShape& s) {
  return std::make_shared<DenseImpl>("mlp", s.channels * s.height * s.width, std::vector<int64_t>{1000, 500, 100},
                                     s.classes, 0.03);
}

// Andrychowicz et al. 2016's MNIST optimizee: one hidden layer of 20 sigmoid units.
Classifier make_mlp20(std::string_view, const ModelShape& s) {
  return std::make_shared<DenseImpl>("mlp20", s.channels * s.height * s.width, std::vector<int64_t>{20}, s.classes,
                                     0.1, /*sigmoid=*/true);
}

Classifier make_logreg(std::string_view, const ModelShape& s) {
  return std::make_shared<DenseImpl>("logreg", s.channels * s.height * s.width, std::vector<int64_t>{}, s.classes,
                                     0.0);
}

Classifier make_wrn(std::string_view name, const ModelShape& s) {
  int64_t depth = 0, widen = 0;
  NOS_CHECK(parse_wrn(name, depth, widen), "model name '" << name << "' passed the check but is not a WRN");
  return std::make_shared<WideResNetImpl>(depth, widen, s.channels, s.classes);
}

std::string known_models_text() {
  std::string text = joined(model_names());
  for (const ModelInfo& m : models()) {
    if (m.member != nullptr) text += " (any " + std::string(m.name) + " with " + std::string(m.limits) + ")";
  }
  return text;
}

}  // namespace

std::vector<torch::Tensor> ClassifierImpl::decayed_parameters() const {
  std::vector<torch::Tensor> weights;
  if (weight_decay_ == 0) return weights;
  for (const auto& item : named_parameters()) {
    const std::string& key = item.key();
    if (key.size() < 6 || key.compare(key.size() - 6, 6, "weight") != 0) continue;
    weights.push_back(item.value());
  }
  return weights;
}

const std::vector<ModelInfo>& models() {
  // Smallest sides: the ConvNet's two 2×2 poolings need 4; 3c3d's VALID convolutions need 9 (conv5 leaves 5, the
  // SAME pool 3, conv3 VALID 1). The registry test builds each model at its min side and fails one below it.
  static const std::vector<ModelInfo> table = {
      {"convnet", "convnet", "the NOS child", true, 4, "", nullptr, nullptr, make_conv<ConvNetImpl>,
       "Bello et al. 2017's child: two conv3x3-32 + batch norm + ReLU + max-pool blocks, a linear head"},
      {"2c2d", "2c2d", "", true, 1, "", nullptr, nullptr, make_conv<TwoC2DImpl>,
       "DeepOBS fmnist_2c2d: two conv5x5 + max-pool layers, dense 1024, dense"},
      {"3c3d", "3c3d", "", true, 9, "", nullptr, nullptr, make_conv<ThreeC3DImpl>,
       "DeepOBS cifar10_3c3d: three conv + max-pool layers, dense 512, 256, dense; L2 0.002 on weights"},
      {"mlp", "mlp", "", false, 1, "", nullptr, nullptr, make_mlp,
       "DeepOBS mnist_mlp: dense 1000, 500, 100 (ReLU), dense"},
      {"mlp20", "mlp20", "", false, 1, "", nullptr, nullptr, make_mlp20,
       "Andrychowicz et al. 2016's optimizee: dense 20 (sigmoid), dense"},
      {"logreg", "logreg", "", false, 1, "", nullptr, nullptr, make_logreg,
       "logistic regression: one dense layer on the flattened image, zero init (DeepOBS mnist_logreg)"},
      {"wrn-D-K", "wrn-16-4", "", true, 1, "D = 6n+4, K >= 1", is_wrn, check_wrn, make_wrn,
       "Wide ResNet (Zagoruyko & Komodakis 2016) of depth D and widening factor K"},
  };
  return table;
}

const ModelInfo* find_model(std::string_view name) {
  for (const ModelInfo& m : models()) {
    if (m.member != nullptr ? m.member(name) : m.name == name) return &m;
  }
  return nullptr;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelInfo& m : models()) names.emplace_back(m.example);
  return names;
}

void check_model_name(std::string_view name) {
  const ModelInfo* m = find_model(name);
  if (m == nullptr) throw UserError("unknown model '" + std::string(name) + "' (known: " + known_models_text() + ")");
  if (m->check != nullptr) m->check(name);
}

Classifier make_model(std::string_view name, int64_t channels, int64_t height, int64_t width, int64_t classes) {
  check_model_name(name);
  if (channels < 1 || height < 1 || width < 1 || classes < 2) {
    throw UserError("model '" + std::string(name) + "': bad input shape " + std::to_string(channels) + "x" +
                    std::to_string(height) + "x" + std::to_string(width) + " with " + std::to_string(classes) +
                    " classes");
  }
  const ModelInfo& info = *find_model(name);
  if (height < info.min_side || width < info.min_side) {
    const std::string side = std::to_string(info.min_side);
    throw UserError("model '" + std::string(name) + "' needs images of at least " + side + "x" + side + ", got " +
                    std::to_string(height) + "x" + std::to_string(width));
  }
  Classifier model = info.make(name, ModelShape{channels, height, width, classes});
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  model->initialize(gen);
  return model;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& p : module.parameters()) count += p.numel();
  return count;
}

}  // namespace nos::tasks
