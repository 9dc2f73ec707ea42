// `nos bench step`: ns per parameter per optimizer step of the fused and reference paths, LibTorch's Adam and SGD,
// and a memory floor (a copy moving the bytes the rule must move), measured in one run.
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/eval_config.h"
#include "cli/json.h"
#include "dsl/dsl.h"
#include "dsl/update.h"
#include "optimizers/optimizers.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// The default rules: the issue's three named rules and a deep random one (see random_rule).
const std::vector<std::string> kDefaultRules = {"adam", "powersign", "addsign-ld", "random:5:1"};

// A random rule of `depth` levels drawn from the primitive table (deterministic operands and functions only, so
// the step does the same work every time), from `seed`. What a search's deep candidates look like.
std::string random_rule(int depth, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<const dsl::Primitive*> operands, unary, binary;
  for (const dsl::Primitive& p : dsl::primitives()) {
    if (p.random || p.prim == dsl::Prim::kIdentity || p.prim == dsl::Prim::kKeep) continue;
    (p.role == dsl::Role::kOperand ? operands : p.role == dsl::Role::kUnary ? unary : binary).push_back(&p);
  }
  auto pick = [&](const std::vector<const dsl::Primitive*>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  std::function<std::string(int)> grow = [&](int level) -> std::string {
    if (level == 0) {
      const dsl::Primitive* p = pick(operands);
      if (p->prim == dsl::Prim::kConst) return std::uniform_int_distribution<int>(0, 1)(rng) ? "2" : "0.5";
      return std::string(p->name);
    }
    if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
      const dsl::Primitive* f = pick(unary);
      if (f->prim == dsl::Prim::kNeg) return "-(" + grow(level - 1) + ")";
      const std::string extra = f->param.kind == dsl::ParamSpec::Kind::kRequired
                                    ? ", " + nos::format_number(f->vocabulary.back())
                                    : std::string();
      return std::string(f->name) + "(" + grow(level - 1) + extra + ")";
    }
    const dsl::Primitive* f = pick(binary);
    return "(" + grow(level - 1) + ")" + std::string(f->symbol) + "(" + grow(level - 1) + ")";
  };
  return grow(depth);
}

// "random:DEPTH:SEED" → a random rule; anything else as given.
std::string rule_text_of(const std::string& spec) {
  if (spec.rfind("random:", 0) != 0) return spec;
  const std::string rest = spec.substr(7);
  const size_t colon = rest.find(':');
  const std::string depth = rest.substr(0, colon);
  const std::string seed = colon == std::string::npos ? "1" : rest.substr(colon + 1);
  const int64_t d = parse_count(depth, "--rule " + spec, "a depth (random:DEPTH:SEED)");
  if (d > 12) throw UserError("--rule " + spec + ": depth must be at most 12");
  return random_rule(static_cast<int>(d), static_cast<uint64_t>(parse_count(seed, "--rule " + spec, "a seed ≥ 1")));
}

// "1M" → 1,000,000; "4k" → 4,000; "1048579" as written.
int64_t parse_params(const std::string& text) {
  if (text.empty()) throw UserError("--params: empty size (e.g. --params 1M,4M,16M)");
  int64_t scale = 1;
  std::string digits = text;
  const char last = text.back();
  if (last == 'k' || last == 'K') scale = 1000;
  if (last == 'm' || last == 'M') scale = 1000000;
  if (scale != 1) digits.pop_back();
  const int64_t n = parse_count(digits, "--params " + text, "a parameter count such as 1000, 4k or 16M");
  return n * scale;
}

std::vector<int64_t> parse_params_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(parse_params(item));
  if (out.empty()) throw UserError("--params: give at least one size");
  return out;
}

// Waits for the work queued on the device the benchmark runs on (a no-op on the CPU); set once from --device.
std::function<void()> wait_for_device = [] {};

// One repetition: `steps` calls of `step`, in ns per parameter per step (queued GPU work included).
double ns_per_param(const std::function<void()>& step, int64_t params, int64_t steps) {
  wait_for_device();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  wait_for_device();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / static_cast<double>(steps) / static_cast<double>(params);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `step` (after `warmup` calls): the median over `reps` repetitions of the mean of `steps` calls, in ns per
// parameter per step.
double time_ns_per_param(const std::function<void()>& step, int64_t params, int64_t steps, int64_t reps,
                         int64_t warmup) {
  for (int64_t i = 0; i < warmup; ++i) step();
  std::vector<double> per_step;
  for (int64_t r = 0; r < reps; ++r) per_step.push_back(ns_per_param(step, params, steps));
  return median(per_step);
}

// Times two steps in turns (after `warmup` calls of each): per repetition, `steps` calls of a then `steps` calls of
// b, so that a load on the machine falls on both. Returns the medians in ns per parameter per step and the median
// over repetitions of a's time over b's.
struct Paired {
  double a = 0, b = 0, a_over_b = 0;
};
Paired time_paired(const std::function<void()>& a, const std::function<void()>& b, int64_t params, int64_t steps,
                   int64_t reps, int64_t warmup) {
  for (int64_t i = 0; i < warmup; ++i) {
    a();
    b();
  }
  std::vector<double> ta, tb, ratio;
  for (int64_t r = 0; r < reps; ++r) {
    ta.push_back(ns_per_param(a, params, steps));
    tb.push_back(ns_per_param(b, params, steps));
    ratio.push_back(ta.back() / tb.back());
  }
  return {median(ta), median(tb), median(ratio)};
}

struct Figures {
  double fused = 0, reference = 0, floor = 0, fused_over_floor = 0;
  int64_t bytes_per_param = 0;
};

void print_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench step [--rule R]... [--params N[,N...]] [--threads K] [options]\n\n"
      << "Times one optimizer step over N parameters, in ns per parameter per step, for: each rule's fused path\n"
      << "(the one-pass CPU kernel), its reference path (a chain of torch ops), LibTorch's torch::optim::Adam and\n"
      << "torch::optim::SGD (momentum 0.9), and a memory floor: a plain copy moving the bytes the rule must move\n"
      << "(read w, g and each moving average, write w and each average). Prints the ratios measured in the run.\n"
      << "Defaults: rules adam, powersign, addsign-ld and random:5:1 (a depth-5 random rule, printed), sizes\n"
      << "1M,4M,16M, float32, LibTorch's thread count, the CPU. With --device cuda the fused path is the rule's\n"
      << "generated CUDA kernel (compiled with NVRTC at its first step) where the build has it.\n\n"
      << options;
}

}  // namespace

int bench_step_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("rule", po::value<std::vector<std::string>>()->value_name("R"),
       "a named rule, DSL text or random:DEPTH:SEED; repeat for several (default: adam, powersign, addsign-ld, "
       "random:5:1)")
      ("params", po::value<std::string>()->value_name("N,..."), "parameter counts, e.g. 1M,4M,16M (default)")
      ("threads", po::value<std::string>()->value_name("K"), "CPU threads (default: LibTorch's choice)")
      ("steps", po::value<std::string>()->value_name("S"), "steps per repetition (default: about 0.2 s of work)")
      ("reps", po::value<std::string>()->value_name("R"), "repetitions; the median is reported (default 5)")
      ("dtype", po::value<std::string>()->value_name("T"), "float32 (default) or float64")
      ("kernel", po::value<std::string>()->value_name("K"),
       "the fused kernel's build: auto (AVX2 where the CPU has it), avx512, avx2 or default (baseline x86-64)")
      ("device", po::value<std::string>()->value_name("D"), "cpu (default), cuda or cuda:N")
      ("json", po::bool_switch(), "print one JSON object per size and rule");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_help(out, options);
    return kExitOk;
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const std::vector<std::string> specs =
      vm.count("rule") ? vm["rule"].as<std::vector<std::string>>() : kDefaultRules;
  const std::vector<int64_t> sizes = parse_params_list(flag("params") ? *flag("params") : "1M,4M,16M");
  if (const std::string* v = flag("threads")) at::set_num_threads(parse_threads(*v, "--threads"));
  const int threads = at::get_num_threads();
  const int64_t reps = flag("reps") ? parse_count(*flag("reps"), "--reps", "a number of repetitions") : 5;
  const int64_t fixed_steps = flag("steps") ? parse_count(*flag("steps"), "--steps", "a number of steps") : 0;
  torch::Dtype dtype = torch::kFloat32;
  if (const std::string* v = flag("dtype")) {
    if (*v == "float64") {
      dtype = torch::kFloat64;
    } else if (*v != "float32") {
      throw UserError("--dtype: expected float32 or float64, got '" + *v + "'");
    }
  }
  const int64_t elem = dtype == torch::kFloat64 ? 8 : 4;
  if (const std::string* v = flag("kernel")) dsl::set_fused_capability(*v);
  const bool json = vm["json"].as<bool>();
  const torch::Device device = flag("device") ? parse_device(*flag("device"), "--device") : torch::Device(torch::kCPU);
  if (device.is_cuda()) wait_for_device = [index = device.index()] { torch::cuda::synchronize(index); };
  // What runs as "fused": the CPU kernel (its build), or on CUDA the generated kernel, or why not.
  std::string fused_kernel = dsl::fused_capability();
  if (device.is_cuda()) {
    const torch::Tensor probe = torch::zeros({1}, torch::TensorOptions().dtype(dtype).device(device));
    const std::string why = dsl::cuda_fused_unsupported_reason(probe, probe, {});
    fused_kernel = why.empty() ? "cuda (NVRTC)" : "none: " + why;
  }

  struct Rule {
    std::string spec, text;
    optimizers::ResolvedRule resolved;
    dsl::FusedShape shape;  // what the fused kernel makes of it
  };
  std::vector<Rule> rules;
  for (const std::string& spec : specs) {
    Rule r{spec, rule_text_of(spec), {}, {}};
    r.resolved = optimizers::resolve_rule(r.text);
    r.shape = dsl::fused_shape(*r.resolved.program);
    rules.push_back(std::move(r));
  }

  if (!json) {
    out << "bench step: " << (dtype == torch::kFloat64 ? "float64" : "float32") << ", " << device.str() << ", "
        << threads << (threads == 1 ? " thread" : " threads") << ", fused kernel " << fused_kernel << ", LibTorch "
        << TORCH_VERSION << "; ns per parameter per step, median of " << reps << " repetitions\n"
        << "(fused and floor timed in turns; fused/floor is the median of their per-repetition ratios)\n";
    for (const Rule& r : rules) {
      if (device.is_cuda()) {
        // On CUDA every rule is one kernel: one pass over the parameter.
        if (r.spec != r.text) out << "  " << r.spec << " = " << r.resolved.program->canonical_text() << "\n";
        continue;
      }
      // What the fused kernel makes of the rule: its passes over each block of 2048 elements.
      out << "  " << r.spec;
      if (r.spec != r.text) out << " = " << r.resolved.program->canonical_text();
      out << ": " << r.shape.passes << (r.shape.passes == 1 ? " pass" : " passes") << " over each block, "
          << r.shape.buffers << (r.shape.buffers == 1 ? " block buffer" : " block buffers") << "\n";
    }
  }
  torch::NoGradGuard no_grad;
  for (const int64_t n : sizes) {
    const auto opts = torch::TensorOptions().dtype(dtype).device(device);
    torch::Tensor w = torch::randn({n}, opts).mul_(0.1);
    torch::Tensor g = torch::randn({n}, opts).mul_(1e-3);
    // Steps per repetition: about 0.2 s of work at 2 ns per parameter, at least 3.
    const int64_t steps = fixed_steps > 0 ? fixed_steps : std::max<int64_t>(3, 100000000 / std::max<int64_t>(n, 1));
    auto param = [&]() {
      torch::Tensor p = w.clone().requires_grad_(true);
      p.mutable_grad() = g.clone();
      return p;
    };
    // LibTorch's own optimizers: the same for every rule.
    double adam_ns = 0, sgd_ns = 0;
    {
      torch::Tensor p = param();
      torch::optim::Adam adam({p}, torch::optim::AdamOptions(1e-3));
      adam_ns = time_ns_per_param([&] { adam.step(); }, n, steps, reps, 2);
    }
    {
      torch::Tensor p = param();
      torch::optim::SGD sgd({p}, torch::optim::SGDOptions(1e-3).momentum(0.9));
      sgd_ns = time_ns_per_param([&] { sgd.step(); }, n, steps, reps, 2);
    }
    if (!json) {
      out << "\n" << n << " parameters (" << steps << " steps per repetition)\n" << std::fixed;
      out << "  " << std::left << std::setw(44) << "torch::optim::Adam" << std::right << std::setprecision(3)
          << std::setw(9) << adam_ns << "\n";
      out << "  " << std::left << std::setw(44) << "torch::optim::SGD, momentum 0.9" << std::right << std::setw(9)
          << sgd_ns << "\n";
      out << "  " << std::left << std::setw(44) << "rule" << std::right << std::setw(9) << "fused" << std::setw(11)
          << "reference" << std::setw(9) << "floor" << std::setw(8) << "B/param" << std::setw(14) << "Adam/fused"
          << std::setw(14) << "fused/floor" << std::setw(14) << "ref/fused" << "\n";
    }
    std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> floors;  // copy source and target by bytes/param
    for (const Rule& r : rules) {
      Figures f;
      optimizers::RuleOptions o = r.resolved.defaults;
      o.lr(1e-3).total_steps(1000000).seed(1);
      // The rule must read w, g and each average and write w and each average: (3 + 2A) elements per parameter.
      const int64_t averages = static_cast<int64_t>(r.resolved.program->averages().size());
      f.bytes_per_param = (3 + 2 * averages) * elem;
      auto found = floors.find(f.bytes_per_param);
      if (found == floors.end()) {
        // A copy of X elements reads X and writes X: X = n·(3 + 2A)/2 moves the same bytes.
        const int64_t x = n * (3 + 2 * averages) / 2;
        found = floors.emplace(f.bytes_per_param, std::make_pair(torch::randn({x}, opts), torch::empty({x}, opts)))
                    .first;
      }
      const torch::Tensor& src = found->second.first;
      const torch::Tensor& dst = found->second.second;
      {
        // The fused path and the floor in turns, repetition by repetition.
        torch::Tensor p = param();
        optimizers::RuleOptimizer opt({p}, r.resolved.program, o.fused(true));
        const Paired t = time_paired([&] { opt.step(); }, [&] { dst.copy_(src); }, n, steps, reps, 2);
        f.fused = t.a;
        f.floor = t.b;
        f.fused_over_floor = t.a_over_b;
      }
      {
        torch::Tensor p = param();
        optimizers::RuleOptimizer opt({p}, r.resolved.program, o.fused(false));
        f.reference = time_ns_per_param([&] { opt.step(); }, n, steps, reps, 2);
      }
      if (json) {
        JsonObject o;
        o.add_string("rule", r.spec)
            .add_string("canonical", r.resolved.program->canonical_text())
            .add_int("params", n)
            .add_string("dtype", dtype == torch::kFloat64 ? "float64" : "float32")
            .add_int("threads", threads)
            .add_string("device", device.str())
            .add_string("kernel", fused_kernel)
            .add_int("steps", steps)
            .add_int("reps", reps)
            .add_number("fused_ns", f.fused)
            .add_number("reference_ns", f.reference)
            .add_number("torch_adam_ns", adam_ns)
            .add_number("torch_sgd_momentum_ns", sgd_ns)
            .add_number("floor_ns", f.floor)
            .add_int("bytes_per_param", f.bytes_per_param)
            .add_int("fused_passes", device.is_cuda() ? 1 : r.shape.passes)
            .add_number("adam_over_fused", adam_ns / f.fused)
            .add_number("fused_over_floor", f.fused_over_floor)
            .add_number("reference_over_fused", f.reference / f.fused);
        out << o.str() << "\n";
      } else {
        std::string name = r.spec;
        if (name.size() > 42) name = name.substr(0, 39) + "...";
        out << "  " << std::left << std::setw(44) << name << std::right << std::setprecision(3) << std::setw(9)
            << f.fused << std::setw(11) << f.reference << std::setw(9) << f.floor << std::setw(8)
            << f.bytes_per_param << std::setprecision(2) << std::setw(13) << adam_ns / f.fused << "x"
            << std::setw(13) << f.fused_over_floor << "x" << std::setw(13) << f.reference / f.fused << "x\n";
      }
      out.flush();
    }
  }
  return kExitOk;
}

}  // namespace nos::cli
