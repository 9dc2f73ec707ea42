// Problem families of nos learn (learn_family.h): quadratics and MLPs on Fashion-MNIST.
#include "experiments/learn_family.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "common/error.h"
#include "tasks/datasets.h"

namespace nos::experiments {

uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull + index * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

std::pair<torch::Tensor, torch::Tensor> ProblemBatch::loss_and_gradient(const torch::Tensor& theta,
                                                                        int64_t step) const {
  torch::Tensor x = theta.detach().requires_grad_(true);
  torch::AutoGradMode enable(true);
  const torch::Tensor losses = loss(x, step);
  return {losses.detach(), torch::autograd::grad({losses.sum()}, {x})[0].detach()};
}

torch::Tensor QuadraticBatch::loss(const torch::Tensor& theta, int64_t /*step*/) const {
  const torch::Tensor r = torch::bmm(w, theta.unsqueeze(2)).squeeze(2) - y;
  return (r * r).sum(1);
}

std::pair<torch::Tensor, torch::Tensor> QuadraticBatch::loss_and_gradient(const torch::Tensor& theta,
                                                                          int64_t /*step*/) const {
  const torch::Tensor r = torch::bmm(w, theta.detach().unsqueeze(2)).squeeze(2) - y;
  return {(r * r).sum(1), 2 * torch::bmm(w.transpose(1, 2), r.unsqueeze(2)).squeeze(2)};
}

QuadraticBatch quadratic_batch(int64_t n, int64_t dims, uint64_t seed, torch::Dtype dtype) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  QuadraticBatch b;
  b.w = torch::randn({n, dims, dims}, gen, options).to(dtype);
  b.y = torch::randn({n, dims}, gen, options).to(dtype);
  b.theta0 = torch::randn({n, dims}, gen, options).to(dtype);
  return b;
}

MlpArchitecture parse_architecture(const std::string& text) {
  const size_t colon = text.find(':');
  const auto bad = [&text](const std::string& why) {
    return UserError("architecture '" + text + "': " + why +
                     " (write ACTIVATION:WIDTHS, e.g. sigmoid:20, relu:20 or sigmoid:20-20)");
  };
  if (colon == std::string::npos) throw bad("no ':' between the activation and the hidden widths");
  MlpArchitecture a;
  a.activation = text.substr(0, colon);
  if (a.activation != "sigmoid" && a.activation != "relu") throw bad("unknown activation '" + a.activation + "'");
  a.hidden.clear();
  std::string rest = text.substr(colon + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    const size_t dash = rest.find('-', start);
    const std::string w = rest.substr(start, dash == std::string::npos ? std::string::npos : dash - start);
    char* end = nullptr;
    const long long v = std::strtoll(w.c_str(), &end, 10);
    if (w.empty() || *end != '\0' || v < 1 || v > 100000) throw bad("'" + w + "' is not a width from 1 to 100000");
    a.hidden.push_back(v);
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  return a;
}

std::string architecture_text(const MlpArchitecture& a) {
  std::string s = a.activation + ":";
  for (size_t i = 0; i < a.hidden.size(); ++i) s += (i ? "-" : "") + std::to_string(a.hidden[i]);
  return s;
}

namespace {

// N(0, σ²) truncated at 2σ, draws beyond redrawn (the distribution of tasks/models.cpp's truncated_normal, which
// inverts the CDF instead: the same law, other samples).
torch::Tensor truncated_normal(std::vector<int64_t> shape, double stddev, at::Generator& gen) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor x = torch::randn(shape, gen, options);
  for (torch::Tensor out = x.abs() > 2; out.any().item<bool>(); out = x.abs() > 2) {
    x = torch::where(out, torch::randn(shape, gen, options), x);
  }
  return x * stddev;
}

}  // namespace

MlpBatch::MlpBatch(std::shared_ptr<const MlpData> data, MlpArchitecture architecture, int64_t n, int64_t minibatch,
                   uint64_t seed, torch::Dtype dtype)
    : data_(std::move(data)), architecture_(std::move(architecture)), minibatch_(minibatch), seed_(seed) {
  widths_.push_back(data_->features.size(1));
  for (int64_t h : architecture_.hidden) widths_.push_back(h);
  widths_.push_back(data_->classes);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(stream_seed(seed, 0, 0));
  std::vector<torch::Tensor> parts;
  for (size_t l = 0; l + 1 < widths_.size(); ++l) {
    parts.push_back(truncated_normal({n, widths_[l] * widths_[l + 1]}, 0.1, gen));
    parts.push_back(torch::zeros({n, widths_[l + 1]}, torch::kFloat64));
  }
  theta0 = torch::cat(parts, 1).to(dtype);
  dims_ = theta0.size(1);
}

torch::Tensor MlpBatch::rows(int64_t n, int64_t step) const {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(stream_seed(seed_, 1, static_cast<uint64_t>(step)));
  return torch::randint(data_->labels.size(0), {n, minibatch_}, gen, torch::kLong);
}

torch::Tensor MlpBatch::loss(const torch::Tensor& theta, int64_t step) const {
  const int64_t n = theta.size(0);
  const torch::Tensor rows = this->rows(n, step).view({-1});
  torch::Tensor x = data_->features.index_select(0, rows).view({n, minibatch_, -1}).to(theta.scalar_type());
  const torch::Tensor labels = data_->labels.index_select(0, rows).view({n, minibatch_, 1});
  int64_t offset = 0;
  for (size_t l = 0; l + 1 < widths_.size(); ++l) {
    const int64_t in = widths_[l], out = widths_[l + 1];
    const torch::Tensor w = theta.narrow(1, offset, in * out).view({n, in, out});
    const torch::Tensor b = theta.narrow(1, offset + in * out, out).unsqueeze(1);
    offset += in * out + out;
    x = torch::baddbmm(b, x, w);
    if (l + 2 < widths_.size()) x = architecture_.activation == "relu" ? torch::relu(x) : torch::sigmoid(x);
  }
  return -torch::log_softmax(x, 2).gather(2, labels).squeeze(2).mean(1);
}

MlpSplits load_mlp_data(const std::string& data_dir, bool held_out) {
  tasks::DataOptions options;
  options.data_dir = data_dir;
  options.validation_size = 0;  // every training image, in the data set's seeded permutation
  tasks::DataSplits splits = tasks::load_dataset("fmnist", options);
  tasks::Dataset validation;
  if (held_out) {
    // The permutation's last 10,000 images (a sixth of a smaller set: the test fixtures) validate; the rest train.
    const int64_t n = splits.train.size(), v = std::min<int64_t>(10000, n / 6);
    validation = {splits.train.images.narrow(0, n - v, v), splits.train.labels.narrow(0, n - v, v)};
    splits.train = {splits.train.images.narrow(0, 0, n - v), splits.train.labels.narrow(0, 0, n - v)};
  }
  const tasks::Normalization norm = tasks::channel_stats(splits.train);
  auto flat = [&](const tasks::Dataset& d) {
    auto data = std::make_shared<MlpData>();
    data->features = tasks::to_float_batch(d.images, norm, torch::kCPU, torch::kFloat32).flatten(1).contiguous();
    data->labels = d.labels;
    data->classes = splits.num_classes;
    return std::shared_ptr<const MlpData>(data);
  };
  const std::shared_ptr<const MlpData> test = flat(splits.test);
  return {flat(splits.train), held_out ? flat(validation) : test, test};
}

}  // namespace nos::experiments
