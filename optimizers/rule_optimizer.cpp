// RuleOptimizer: options and state serialization, validation, and the step that applies a compiled rule.
#include "optimizers/rule_optimizer.h"

#include <torch/serialize/archive.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <ATen/Context.h>
#include <c10/util/irange.h>

#include <cmath>
#include <mutex>
#include <sstream>

#include "dsl/ast.h"
#include "common/error.h"
#include "dsl/update.h"

namespace nos::optimizers {

// ---- RuleOptions ----

void RuleOptions::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("lr", c10::IValue(lr()));
  archive.write("weight_decay", c10::IValue(weight_decay()));
  archive.write("decoupled_weight_decay", c10::IValue(decoupled_weight_decay()));
  archive.write("total_steps", c10::IValue(total_steps()));
  // IValue has no unsigned integer: the seed travels as the int64 with the same bits.
  archive.write("seed", c10::IValue(static_cast<int64_t>(seed())));
  archive.write("bias_correction", c10::IValue(bias_correction()));
  archive.write("fused", c10::IValue(fused()));
}

void RuleOptions::serialize(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  archive.read("lr", value);
  lr(value.toDouble());
  archive.read("weight_decay", value);
  weight_decay(value.toDouble());
  // Absent from files saved before decoupled weight decay existed (it was 0 then).
  decoupled_weight_decay(archive.try_read("decoupled_weight_decay", value) ? value.toDouble() : 0.0);
  archive.read("total_steps", value);
  total_steps(value.toInt());
  archive.read("seed", value);
  seed(static_cast<uint64_t>(value.toInt()));
  archive.read("bias_correction", value);
  bias_correction(value.toBool());
  // Absent from files saved before the fused path existed.
  if (archive.try_read("fused", value)) fused(value.toBool());
}

bool operator==(const RuleOptions& lhs, const RuleOptions& rhs) {
  return lhs.lr() == rhs.lr() && lhs.weight_decay() == rhs.weight_decay() &&
         lhs.decoupled_weight_decay() == rhs.decoupled_weight_decay() &&
         lhs.total_steps() == rhs.total_steps() && lhs.seed() == rhs.seed() &&
         lhs.bias_correction() == rhs.bias_correction() && lhs.fused() == rhs.fused();
}

double RuleOptions::get_lr() const { return lr(); }

void RuleOptions::set_lr(const double lr) { this->lr(lr); }

// ---- RuleParamState ----

void RuleParamState::serialize(torch::serialize::OutputArchive& archive) const {
  archive.write("step", c10::IValue(step()));
  // "averages/size", then each buffer under "averages/<i>".
  torch::optim::serialize(archive, "averages", averages());
}

void RuleParamState::serialize(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  archive.read("step", value);
  step(value.toInt());
  torch::optim::serialize(archive, "averages", averages());
}

bool operator==(const RuleParamState& lhs, const RuleParamState& rhs) {
  if (lhs.step() != rhs.step() || lhs.averages().size() != rhs.averages().size()) return false;
  for (const auto i : c10::irange(lhs.averages().size())) {
    if (!torch::equal(lhs.averages()[i], rhs.averages()[i])) return false;
  }
  return true;
}

// ---- RuleOptimizer ----

namespace {
// A template, so only the branch for this LibTorch's key type is compiled.
template <typename Key>
Key state_key_of(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << static_cast<const void*>(impl);
    return out.str();
  } else {
    return impl;
  }
}
}  // namespace

ParamStateKey param_state_key(const torch::Tensor& p) {
  return state_key_of<ParamStateKey>(p.unsafeGetTensorImpl());
}

RuleOptimizer::RuleOptimizer(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                             std::shared_ptr<const dsl::Program> program, RuleOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<RuleOptions>(defaults)), program_(std::move(program)) {
  NOS_CHECK(program_ != nullptr, "RuleOptimizer needs a compiled program");
  validate(defaults, -1);
  for (const auto i : c10::irange(param_groups_.size())) {
    validate(static_cast<const RuleOptions&>(param_groups_[i].options()), static_cast<int64_t>(i));
  }
}

RuleOptimizer::RuleOptimizer(std::vector<torch::Tensor> params, std::shared_ptr<const dsl::Program> program,
                             RuleOptions defaults)
    : RuleOptimizer(
          std::vector<torch::optim::OptimizerParamGroup>{torch::optim::OptimizerParamGroup(std::move(params))},
          std::move(program), std::move(defaults)) {}

void RuleOptimizer::validate(const RuleOptions& options, int64_t group) const {
  // Where the bad value sits; with a single group, naming it adds nothing.
  auto place = [&]() -> std::string {
    if (param_groups_.size() <= 1) return "";
    return group < 0 ? " (default options)" : " (parameter group " + std::to_string(group) + ")";
  };
  auto fail = [&](const std::string& what) {
    throw UserError("optimizer for rule '" + program_->canonical_text() + "'" + place() + ": " + what);
  };
  if (!(options.lr() >= 0) || !std::isfinite(options.lr())) {
    fail("learning rate (lr) must be a finite number >= 0, got " + nos::format_number(options.lr()));
  }
  if (!(options.weight_decay() >= 0) || !std::isfinite(options.weight_decay())) {
    fail("weight_decay must be a finite number >= 0, got " + nos::format_number(options.weight_decay()));
  }
  if (!(options.decoupled_weight_decay() >= 0) || !std::isfinite(options.decoupled_weight_decay())) {
    fail("decoupled_weight_decay must be a finite number >= 0, got " +
         nos::format_number(options.decoupled_weight_decay()));
  }
  if (options.total_steps() < 0) {
    fail("total_steps (T) must be >= 0, got " + std::to_string(options.total_steps()));
  }
  if (program_->uses_decay() && options.total_steps() <= 0) {
    throw UserError("rule '" + program_->canonical_text() +
                    "' uses a decay (ld/cd/rd), so total_steps (T) must be set > 0" + place());
  }
}

at::Generator& RuleOptimizer::generator(const at::Device& device, uint64_t seed) {
  auto key = std::make_pair(device.str(), seed);
  auto it = generators_.find(key);
  if (it == generators_.end()) {
    // A clone of the device's default generator has the right type on CPU and CUDA alike, without CUDA headers.
    at::Generator fresh;
    {
      const at::Generator& base = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(base).mutex());
      fresh = base.clone();
    }
    {
      std::lock_guard<std::mutex> lock(fresh.mutex());
      fresh.set_current_seed(seed);
    }
    it = generators_.emplace(key, std::move(fresh)).first;
  }
  return it->second;
}

torch::Tensor RuleOptimizer::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  const dsl::Program& program = *program_;
  for (const auto g_index : c10::irange(param_groups_.size())) {
    auto& group = param_groups_[g_index];
    const auto& options = static_cast<const RuleOptions&>(group.options());
    // Groups added after construction (add_param_group) are checked here.
    validate(options, static_cast<int64_t>(g_index));
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      torch::Tensor grad = p.grad();
      if (grad.is_sparse()) {
        throw UserError("optimizer for rule '" + program.canonical_text() + "' does not support sparse gradients");
      }
      const ParamStateKey key = param_state_key(p);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto fresh = std::make_unique<RuleParamState>();
        fresh->averages(program.zero_averages(p.detach()));
        found = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<RuleParamState&>(*found->second);
      std::vector<torch::Tensor>& averages = state.averages();
      if (averages.size() != program.averages().size()) {
        throw UserError("optimizer state has " + std::to_string(averages.size()) + " moving averages but rule '" +
                        program.canonical_text() + "' needs " + std::to_string(program.averages().size()) +
                        " (was it saved by an optimizer for another rule?)");
      }
      for (auto& a : averages) {
        // State loaded from a file may sit on another device or in another dtype.
        if (a.device() != p.device() || a.scalar_type() != p.scalar_type()) a = a.to(p.options());
      }

      dsl::StepContext ctx;
      ctx.t = state.step();
      ctx.total_steps = options.total_steps();
      ctx.bias_correction = options.bias_correction();
      ctx.generator = program.is_random() ? &generator(p.device(), options.seed()) : nullptr;
      // AdamW's order (torch.optim.AdamW): the weights shrink first, then the rule's step from the same gradient.
      if (options.decoupled_weight_decay() > 0) p.detach().mul_(1.0 - options.lr() * options.decoupled_weight_decay());
      dsl::UpdateArgs args;
      args.lr = options.lr();
      args.weight_decay = options.weight_decay();
      dsl::update(program, p.detach(), grad, averages, ctx, args, options.fused());
      state.step(state.step() + 1);
    }
  }
  return loss;
}

void RuleOptimizer::save(torch::serialize::OutputArchive& archive) const {
  serialize(*this, archive);
  // The random streams, so a random rule continues where it left off after load.
  archive.write("rule_generators/size", torch::tensor(static_cast<int64_t>(generators_.size())));
  int64_t i = 0;
  for (const auto& [key, gen] : generators_) {
    const std::string prefix = "rule_generators/" + std::to_string(i++);
    archive.write(prefix + "/device", c10::IValue(key.first));
    archive.write(prefix + "/seed", c10::IValue(static_cast<int64_t>(key.second)));
    torch::Tensor gen_state;
    {
      std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(gen).mutex());
      gen_state = gen.get_state();
    }
    archive.write(prefix + "/state", gen_state, /*is_buffer=*/true);
  }
}

void RuleOptimizer::load(torch::serialize::InputArchive& archive) {
  serialize(*this, archive);
  generators_.clear();
  torch::Tensor size;
  if (!archive.try_read("rule_generators/size", size)) return;
  for (const auto i : c10::irange(size.item<int64_t>())) {
    const std::string prefix = "rule_generators/" + std::to_string(i);
    c10::IValue device, seed;
    torch::Tensor gen_state;
    archive.read(prefix + "/device", device);
    archive.read(prefix + "/seed", seed);
    archive.read(prefix + "/state", gen_state, /*is_buffer=*/true);
    const at::Device where(device.toStringRef());
    // A stream saved on a device this process lacks starts afresh from its seed there.
    if (where.is_cuda() && !at::globalContext().hasCUDA()) continue;
    at::Generator& gen = generator(where, static_cast<uint64_t>(seed.toInt()));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(gen_state.to(at::kCPU));
  }
}

}  // namespace nos::optimizers
