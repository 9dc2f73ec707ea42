// RuleOptimizer: a compiled DSL rule run as a torch::optim::Optimizer (options, per-parameter state, save/load).
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>

#include <ATen/core/Generator.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsl/program.h"

namespace nos::optimizers {

// Options of one parameter group, in the shape of torch::optim::AdamOptions.
struct RuleOptions : public torch::optim::OptimizerCloneableOptions<RuleOptions> {
  // Single-argument constructor: LibTorch's loader builds options as `Options(0)` before reading them back.
  RuleOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT(google-explicit-constructor)
  TORCH_ARG(double, lr) = 1e-3;
  // Coupled L2 as in PyTorch's SGD/Adam: g ← g + weight_decay·w before the rule sees g.
  TORCH_ARG(double, weight_decay) = 0;
  // Decoupled weight decay (Loshchilov & Hutter 2019; PyTorch's AdamW): w ← w·(1 − lr·λ) before the rule's update,
  // applied by the optimizer, not by the rule, so it never passes through the rule's averages.
  TORCH_ARG(double, decoupled_weight_decay) = 0;
  // T, the run's number of steps, read by the decays ld, cd, rd (Bello et al. 2017, sec. 3: f(t) over T).
  TORCH_ARG(int64_t, total_steps) = 0;
  // Seed of the generator behind noise, anoise and drop.
  TORCH_ARG(uint64_t, seed) = 0;
  // false: m, v, y are the raw moving averages (PyTorch's SGD-momentum/RMSprop style), not divided by 1 − β^t.
  TORCH_ARG(bool, bias_correction) = true;
  // true: float32/float64 parameters take a fused one-pass kernel (dsl/fused.h): on the CPU the planned kernel, on
  // CUDA the rule's generated kernel where the build has it; false, or elsewhere: the reference chain of torch ops.
  // They compute the same update (to the bit or within a few ulp on the CPU; within the math library's rounding
  // on CUDA).
  TORCH_ARG(bool, fused) = true;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  friend bool operator==(const RuleOptions& lhs, const RuleOptions& rhs);
  ~RuleOptions() override = default;
  double get_lr() const override;
  void set_lr(double lr) override;
};

// State of one parameter: updates applied so far and the rule's moving-average buffers.
struct RuleParamState : public torch::optim::OptimizerCloneableParamState<RuleParamState> {
  TORCH_ARG(int64_t, step) = 0;
  // One buffer per Program::averages(), in that order; created on the parameter's first update.
  TORCH_ARG(std::vector<torch::Tensor>, averages);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  friend bool operator==(const RuleParamState& lhs, const RuleParamState& rhs);
  ~RuleParamState() override = default;
};

// The key type of Optimizer::state(): the TensorImpl's address printed (LibTorch 1.x) or the address itself (2.x).
using ParamStateKey =
    std::decay_t<decltype(std::declval<const torch::optim::Optimizer&>().state())>::key_type;

// The key of p's entry in Optimizer::state(), as LibTorch's own optimizers and its save/load make it.
ParamStateKey param_state_key(const torch::Tensor& p);

// Runs a compiled rule: for each parameter p with a gradient, w ← w − lr · direction(w, g, averages, t).
// step(), zero_grad(), param groups and save/load behave as in torch::optim::Adam.
class RuleOptimizer : public torch::optim::Optimizer {
 public:
  // Throws UserError when an option is out of range (lr < 0, weight_decay < 0, total_steps missing for a decay).
  RuleOptimizer(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                std::shared_ptr<const dsl::Program> program, RuleOptions defaults = {});
  RuleOptimizer(std::vector<torch::Tensor> params, std::shared_ptr<const dsl::Program> program,
                RuleOptions defaults = {});

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  const dsl::Program& program() const { return *program_; }

 private:
  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    torch::optim::serialize<RuleParamState, RuleOptions>(archive, self);
  }

  // Throws UserError when these options cannot run this rule; `group` names the group (-1: the defaults).
  void validate(const RuleOptions& options, int64_t group) const;
  // The generator for `device` and `seed`, created from the device's default generator on first use.
  at::Generator& generator(const at::Device& device, uint64_t seed);

  std::shared_ptr<const dsl::Program> program_;
  // Keyed by (device, seed): one per device unless groups ask for different seeds. Saved with the optimizer so a
  // random rule continues the same stream after load.
  std::map<std::pair<std::string, uint64_t>, at::Generator> generators_;
};

}  // namespace nos::optimizers
