// `nos bench step`'s measurement: a rule's fused and reference steps beside LibTorch's Adam, SGD and a memory floor.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dsl/update.h"
#include "optimizers/named.h"

namespace nos::bench {

// The rules `nos bench step` times without --rule: three named rules and a deep random one.
const std::vector<std::string>& default_step_rules();

// A rule to time: its spec (a name, DSL text or random:DEPTH:SEED), the text that spec stands for, the compiled
// rule and what the fused CPU kernel makes of it.
struct BenchRule {
  std::string spec, text;
  optimizers::ResolvedRule resolved;
  dsl::FusedShape shape;
};

// Resolves each spec (bench_rule_text, then optimizers::resolve_rule); throws nos::UserError for a bad one, with
// "--rule SPEC" as its place.
std::vector<BenchRule> resolve_step_rules(const std::vector<std::string>& specs);

// What runs as "fused" on `device`: the CPU kernel's build ("avx2"), "cuda (NVRTC)", or "none: " and why not.
std::string fused_kernel_name(torch::Device device, torch::Dtype dtype);

struct StepBenchOptions {
  std::vector<int64_t> sizes = {1000000, 4000000, 16000000};  // parameters per tensor
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  int64_t reps = 5;   // repetitions; medians are reported
  int64_t steps = 0;  // steps per repetition; 0: default_steps(size)
};

// Per size: LibTorch's optimizers, the same for every rule.
struct SizeFigures {
  int64_t params = 0, steps = 0;
  double adam_ns = 0, sgd_ns = 0;  // torch::optim::Adam, torch::optim::SGD with momentum 0.9
};

// Per rule and size, in ns per parameter per step.
struct RuleFigures {
  double fused = 0, reference = 0, floor = 0, fused_over_floor = 0;
  // The LibTorch class the rule is compared with (step_twin: its native twin, or torch-adamw for lion), "" if none.
  std::string twin;
  double twin_ns = 0;
  int64_t bytes_per_param = 0;  // what the rule must move: w, g and each average read, w and each average written
};

// The native row (optimizers/named.h) a named rule is timed against: its twin (adamw → torch-adamw, amsgrad →
// torch-amsgrad), torch-adamw for lion (Chen et al. compare Lion with AdamW), else "".
std::string step_twin(const std::string& rule_name);

// Called as figures come in (a long run prints as it goes).
struct StepBenchObserver {
  std::function<void(const SizeFigures&)> on_size;
  std::function<void(const BenchRule&, const SizeFigures&, const RuleFigures&)> on_rule;
};

// Times every rule at every size: for each size LibTorch's Adam and SGD, then per rule the fused path and the floor
// in turns (a copy moving the rule's bytes) and the reference path.
void run_step_bench(const StepBenchOptions& options, const std::vector<BenchRule>& rules,
                    const StepBenchObserver& observer);

}  // namespace nos::bench
