// The coordinatewise LSTM optimizer (lstm_optimizer.h): preprocessing, the network, its file format, and the
// torch::optim::Optimizer that runs it.
#include "optimizers/lstm_optimizer.h"

#include <torch/optim/serialize.h>
#include <torch/serialize.h>

#include <c10/util/irange.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "optimizers/rule_optimizer.h"

namespace nos::optimizers {

torch::Tensor preprocess_gradients(const torch::Tensor& g, double p) {
  const torch::Tensor flat = g.reshape({-1, 1});
  const torch::Tensor large = flat.abs() >= std::exp(-p);
  // log|g| is computed on a safe value where g is small, so no -inf (nor a NaN gradient) appears anywhere.
  const torch::Tensor safe = torch::where(large, flat.abs(), torch::ones_like(flat));
  const torch::Tensor first = torch::where(large, safe.log() / p, -torch::ones_like(flat));
  const torch::Tensor second = torch::where(large, flat.sign(), flat * std::exp(p));
  return torch::cat({first, second}, 1);
}

LstmNetImpl::LstmNetImpl(LstmNetOptions options) : options_(options) {
  NOS_CHECK(options.hidden >= 1 && options.layers >= 1, "an LSTM optimizer needs hidden >= 1 and layers >= 1");
  lstm_ = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(2, options.hidden).num_layers(options.layers)));
  out_ = register_module("out", torch::nn::Linear(options.hidden, 1));
}

LstmCoordinateState LstmNetImpl::zero_state(int64_t coordinates, const torch::TensorOptions& options) const {
  return {torch::zeros({options_.layers, coordinates, options_.hidden}, options),
          torch::zeros({options_.layers, coordinates, options_.hidden}, options)};
}

torch::Tensor LstmNetImpl::forward(const torch::Tensor& g, LstmCoordinateState& state) {
  const int64_t n = g.numel();
  if (!state.h.defined()) state = zero_state(n, g.options());
  // One time step for each coordinate: input [1, n, 2].
  const torch::Tensor input = preprocess_gradients(g, options_.preprocess_p).unsqueeze(0);
  auto [output, hc] = lstm_->forward(input, std::make_tuple(state.h, state.c));
  state.h = std::get<0>(hc);
  state.c = std::get<1>(hc);
  return (out_->forward(output.squeeze(0)) * options_.output_scale).reshape(g.sizes());
}

void save_lstm_net(const LstmNet& net, const std::string& path) {
  torch::serialize::OutputArchive archive;
  const LstmNetOptions& o = net->options();
  archive.write("nos_lstm_format", c10::IValue(int64_t{1}));
  archive.write("hidden", c10::IValue(o.hidden));
  archive.write("layers", c10::IValue(o.layers));
  archive.write("preprocess_p", c10::IValue(o.preprocess_p));
  archive.write("output_scale", c10::IValue(o.output_scale));
  for (const auto& item : net->named_parameters()) archive.write("net/" + item.key(), item.value().detach());
  // Into memory, then written with checks (LibTorch's file writer throws from a destructor on a full disk).
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_atomically(path, bytes.str());
}

LstmNet load_lstm_net(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw UserError(path + ": no such file (an LSTM optimizer written by nos learn, e.g. RUN_DIR/best.pt)");
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw UserError(path + ": not an LSTM optimizer file (cannot read it as a LibTorch archive)");
  }
  c10::IValue format, hidden, layers, p, scale;
  if (!archive.try_read("nos_lstm_format", format) || format.toInt() != 1 || !archive.try_read("hidden", hidden) ||
      !archive.try_read("layers", layers) || !archive.try_read("preprocess_p", p) ||
      !archive.try_read("output_scale", scale)) {
    throw UserError(path + ": not an LSTM optimizer file of format 1 (it lacks nos_lstm_format, hidden, layers, "
                           "preprocess_p or output_scale)");
  }
  LstmNetOptions o;
  o.hidden = hidden.toInt();
  o.layers = layers.toInt();
  o.preprocess_p = p.toDouble();
  o.output_scale = scale.toDouble();
  if (o.hidden < 1 || o.layers < 1 || o.hidden > 4096 || o.layers > 64) {
    throw UserError(path + ": an LSTM optimizer of hidden " + std::to_string(o.hidden) + " and layers " +
                    std::to_string(o.layers) + " is not one nos writes");
  }
  LstmNet net(o);
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    torch::Tensor value;
    if (!archive.try_read("net/" + item.key(), value)) {
      throw UserError(path + ": the LSTM optimizer lacks its weight '" + item.key() + "'");
    }
    if (value.sizes() != item.value().sizes()) {
      throw UserError(path + ": the LSTM optimizer's weight '" + item.key() + "' has the wrong shape for hidden " +
                      std::to_string(o.hidden) + ", layers " + std::to_string(o.layers));
    }
    item.value().copy_(value);
  }
  return net;
}

void LstmOptions::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("lr", c10::IValue(lr()));
}

void LstmOptions::serialize(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  archive.read("lr", value);
  lr(value.toDouble());
}

void LstmParamState::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("step", c10::IValue(step()));
  if (h().defined()) archive.write("h", h(), /*is_buffer=*/true);
  if (c().defined()) archive.write("c", c(), /*is_buffer=*/true);
}

void LstmParamState::serialize(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  archive.read("step", value);
  step(value.toInt());
  // Separate tensors: InputArchive::read writes into a tensor that is already defined.
  torch::Tensor h_read, c_read;
  if (archive.try_read("h", h_read, /*is_buffer=*/true)) h(h_read);
  if (archive.try_read("c", c_read, /*is_buffer=*/true)) c(c_read);
}

LstmOptimizer::LstmOptimizer(std::vector<torch::optim::OptimizerParamGroup> param_groups, LstmNet net,
                             LstmOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<LstmOptions>(defaults)), net_(std::move(net)) {}

LstmOptimizer::LstmOptimizer(std::vector<torch::Tensor> params, LstmNet net, LstmOptions defaults)
    : LstmOptimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(net), defaults) {}

torch::Tensor LstmOptimizer::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const double lr = static_cast<const LstmOptions&>(group.options()).lr();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const ParamStateKey key = param_state_key(p);
      auto found = state_.find(key);
      if (found == state_.end()) found = state_.emplace(key, std::make_unique<LstmParamState>()).first;
      auto& state = static_cast<LstmParamState&>(*found->second);
      // The network runs in the parameter's dtype and device.
      net_->to(p.device(), p.scalar_type());
      LstmCoordinateState hc{state.h(), state.c()};
      if (hc.h.defined() && (hc.h.device() != p.device() || hc.h.scalar_type() != p.scalar_type())) {
        hc.h = hc.h.to(p.options());
        hc.c = hc.c.to(p.options());
      }
      const torch::Tensor update = net_->forward(p.grad().detach(), hc);
      p.detach().add_(update, lr);
      state.h(hc.h);
      state.c(hc.c);
      state.step(state.step() + 1);
    }
  }
  return loss;
}

void LstmOptimizer::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<LstmParamState, LstmOptions>(archive, *this);
}

void LstmOptimizer::load(torch::serialize::InputArchive& archive) {
  torch::optim::serialize<LstmParamState, LstmOptions>(archive, *this);
}

}  // namespace nos::optimizers
