// The optimizer-step benchmark: LibTorch's optimizers per size, then each rule's fused path, floor and reference.
#include "bench/step_bench.h"

#include <map>
#include <utility>

#include "bench/random_rule.h"
#include "bench/timing.h"
#include "optimizers/optimizers.h"

namespace nos::bench {

namespace {

// The parameter every optimizer starts from: the same weights and gradient each time.
struct Parameter {
  torch::Tensor w, g;
  torch::Tensor fresh() const {
    torch::Tensor p = w.clone().requires_grad_(true);
    p.mutable_grad() = g.clone();
    return p;
  }
};

// Copy sources and targets that move a given number of bytes per parameter, made once per size.
class Floors {
 public:
  Floors(int64_t params, torch::TensorOptions options) : params_(params), options_(options) {}

  // A copy of X elements reads X and writes X: X = n·(3 + 2A)/2 moves the bytes of a rule with A averages.
  const std::pair<torch::Tensor, torch::Tensor>& for_averages(int64_t averages) {
    auto found = copies_.find(averages);
    if (found == copies_.end()) {
      const int64_t x = params_ * (3 + 2 * averages) / 2;
      found = copies_.emplace(averages, std::make_pair(torch::randn({x}, options_), torch::empty({x}, options_)))
                  .first;
    }
    return found->second;
  }

 private:
  int64_t params_;
  torch::TensorOptions options_;
  std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> copies_;
};

SizeFigures time_libtorch(const StepTimer& timer, const Parameter& param, int64_t params) {
  SizeFigures size;
  size.params = params;
  size.steps = timer.steps();
  {
    torch::Tensor p = param.fresh();
    torch::optim::Adam adam({p}, torch::optim::AdamOptions(1e-3));
    size.adam_ns = timer.ns_per_param([&] { adam.step(); });
  }
  {
    torch::Tensor p = param.fresh();
    torch::optim::SGD sgd({p}, torch::optim::SGDOptions(1e-3).momentum(0.9));
    size.sgd_ns = timer.ns_per_param([&] { sgd.step(); });
  }
  return size;
}

RuleFigures time_rule(const StepTimer& timer, const Parameter& param, Floors& floors, const BenchRule& rule,
                      int64_t element_bytes) {
  RuleFigures f;
  optimizers::RuleOptions o = rule.resolved.defaults;
  o.lr(1e-3).total_steps(1000000).seed(1);
  const int64_t averages = static_cast<int64_t>(rule.resolved.program()->averages().size());
  f.bytes_per_param = (3 + 2 * averages) * element_bytes;
  const std::pair<torch::Tensor, torch::Tensor>& copy = floors.for_averages(averages);
  const torch::Tensor& src = copy.first;
  const torch::Tensor& dst = copy.second;
  {
    // The fused path and the floor in turns, repetition by repetition.
    torch::Tensor p = param.fresh();
    optimizers::RuleOptimizer opt({p}, rule.resolved.program(), o.fused(true));
    const Paired t = timer.paired([&] { opt.step(); }, [&] { dst.copy_(src); });
    f.fused = t.a;
    f.floor = t.b;
    f.fused_over_floor = t.a_over_b;
  }
  {
    torch::Tensor p = param.fresh();
    optimizers::RuleOptimizer opt({p}, rule.resolved.program(), o.fused(false));
    f.reference = timer.ns_per_param([&] { opt.step(); });
  }
  return f;
}

}  // namespace

std::string step_twin(const std::string& rule_name) {
  if (rule_name == "lion") return "torch-adamw";
  const optimizers::NativeRule* twin = optimizers::find_native_twin(rule_name);
  return twin != nullptr ? twin->name : "";
}

namespace {

// The twin's LibTorch class on the same parameter, at the same lr.
void time_twin(const StepTimer& timer, const Parameter& param, const BenchRule& rule, RuleFigures& f) {
  f.twin = step_twin(rule.resolved.name);
  if (f.twin.empty()) return;
  optimizers::RuleOptions o;
  o.lr(1e-3);
  torch::Tensor p = param.fresh();
  auto opt = optimizers::make_training_optimizer(optimizers::resolve_rule(f.twin), {{{p}, 0.0}}, o);
  f.twin_ns = timer.ns_per_param([&] { opt->step(); });
}

}  // namespace

const std::vector<std::string>& default_step_rules() {
  static const std::vector<std::string> rules = {"adam", "adamw", "amsgrad", "lion", "powersign", "addsign-ld",
                                                 "random:5:1"};
  return rules;
}

std::vector<BenchRule> resolve_step_rules(const std::vector<std::string>& specs) {
  std::vector<BenchRule> rules;
  for (const std::string& spec : specs) {
    BenchRule r{spec, bench_rule_text(spec, "--rule " + spec), {}, {}};
    r.resolved = optimizers::resolve_rule(r.text);
    r.shape = dsl::fused_shape(*r.resolved.program());
    rules.push_back(std::move(r));
  }
  return rules;
}

std::string fused_kernel_name(torch::Device device, torch::Dtype dtype) {
  if (!device.is_cuda()) return dsl::fused_capability();
  const torch::Tensor probe = torch::zeros({1}, torch::TensorOptions().dtype(dtype).device(device));
  const std::string why = dsl::cuda_fused_unsupported_reason(probe, probe, {});
  return why.empty() ? "cuda (NVRTC)" : "none: " + why;
}

void run_step_bench(const StepBenchOptions& options, const std::vector<BenchRule>& rules,
                    const StepBenchObserver& observer) {
  torch::NoGradGuard no_grad;
  const int64_t element_bytes = options.dtype == torch::kFloat64 ? 8 : 4;
  const auto tensor_options = torch::TensorOptions().dtype(options.dtype).device(options.device);
  for (const int64_t n : options.sizes) {
    const Parameter param{torch::randn({n}, tensor_options).mul_(0.1), torch::randn({n}, tensor_options).mul_(1e-3)};
    const int64_t steps = options.steps > 0 ? options.steps : default_steps(n);
    const StepTimer timer(options.device, n, steps, options.reps, /*warmup=*/2);
    const SizeFigures size = time_libtorch(timer, param, n);
    if (observer.on_size) observer.on_size(size);
    Floors floors(n, tensor_options);
    for (const BenchRule& rule : rules) {
      RuleFigures figures = time_rule(timer, param, floors, rule, element_bytes);
      time_twin(timer, param, rule, figures);
      if (observer.on_rule) observer.on_rule(rule, size, figures);
    }
  }
}

}  // namespace nos::bench
