// `nos bench step`: its flags and its printing; bench::run_step_bench measures (bench/step_bench.h).
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/eval_config.h"
#include "common/json.h"
#include "common/error.h"
#include "dsl/update.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// "1M" → 1,000,000; "4k" → 4,000; "1048579" as written.
int64_t parse_params(const std::string& text) {
  if (text.empty()) throw UserError("--params: empty size (e.g. --params 1M,4M,16M)");
  int64_t scale = 1;
  std::string digits = text;
  const char last = text.back();
  if (last == 'k' || last == 'K') scale = 1000;
  if (last == 'm' || last == 'M') scale = 1000000;
  if (scale != 1) digits.pop_back();
  try {
    return parse_whole<int64_t>(digits, 1) * scale;
  } catch (const UserError&) {
    throw UserError("--params: expected a parameter count such as 1000, 4k or 16M, got '" + text + "'");
  }
}

std::vector<int64_t> parse_params_list(const std::string& text) {
  std::vector<int64_t> out;  // parse_params names "--params" in its own message
  for (const std::string& item : parsed_at("--params", [&] { return parse_list(text, "parameter counts"); })) {
    out.push_back(parse_params(item));
  }
  return out;
}

void print_step_bench_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench step [--rule R]... [--params N[,N...]] [--threads K] [options]\n\n"
      << "Times one optimizer step over N parameters, in ns per parameter per step, for: each rule's fused path\n"
      << "(the one-pass CPU kernel), its reference path (a chain of torch ops), LibTorch's torch::optim::Adam and\n"
      << "torch::optim::SGD (momentum 0.9), and a memory floor: a plain copy moving the bytes the rule must move\n"
      << "(read w, g and each moving average, write w and each average), and a rule's LibTorch twin (adamw:\n"
      << "torch::optim::AdamW, amsgrad: Adam(amsgrad), adagrad: Adagrad, lion: AdamW; column twin/fused). Prints\n"
      << "the ratios measured in the run.\n"
      << "Defaults: rules adam, adamw, amsgrad, lion, powersign, addsign-ld and random:5:1 (a depth-5 random rule,\n"
      << "printed), sizes\n"
      << "1M,4M,16M, float32, LibTorch's thread count, the CPU. With --device cuda the fused path is the rule's\n"
      << "generated CUDA kernel (compiled with NVRTC at its first step) where the build has it.\n\n"
      << options;
}

// Prints `nos bench step`'s figures as they come: a heading, per size LibTorch's figures and a table header, per
// rule a row (or, with --json, one object per size and rule).
struct StepPrinter {
  std::ostream& out;
  const bench::StepBenchOptions& options;
  int threads;
  std::string fused_kernel;

  std::string dtype_text() const { return options.dtype == torch::kFloat64 ? "float64" : "float32"; }

  void heading(const std::vector<bench::BenchRule>& rules) const {
    out << "bench step: " << dtype_text() << ", " << options.device.str() << ", " << threads
        << (threads == 1 ? " thread" : " threads") << ", fused kernel " << fused_kernel << ", LibTorch "
        << TORCH_VERSION << "; ns per parameter per step, median of " << options.reps << " repetitions\n"
        << "(fused and floor timed in turns; fused/floor is the median of their per-repetition ratios)\n";
    for (const bench::BenchRule& r : rules) {
      if (options.device.is_cuda()) {
        // On CUDA every rule is one kernel: one pass over the parameter.
        if (r.spec != r.text) out << "  " << r.spec << " = " << r.resolved.program()->canonical_text() << "\n";
        continue;
      }
      // What the fused kernel makes of the rule: its passes over each block of 2048 elements.
      out << "  " << r.spec;
      if (r.spec != r.text) out << " = " << r.resolved.program()->canonical_text();
      out << ": " << r.shape.passes << (r.shape.passes == 1 ? " pass" : " passes") << " over each block, "
          << r.shape.buffers << (r.shape.buffers == 1 ? " block buffer" : " block buffers") << "\n";
    }
  }

  void size_heading(const bench::SizeFigures& size) const {
    out << "\n" << size.params << " parameters (" << size.steps << " steps per repetition)\n" << std::fixed;
    out << "  " << std::left << std::setw(44) << "torch::optim::Adam" << std::right << std::setprecision(3)
        << std::setw(9) << size.adam_ns << "\n";
    out << "  " << std::left << std::setw(44) << "torch::optim::SGD, momentum 0.9" << std::right << std::setw(9)
        << size.sgd_ns << "\n";
    out << "  " << std::left << std::setw(44) << "rule" << std::right << std::setw(9) << "fused" << std::setw(11)
        << "reference" << std::setw(9) << "floor" << std::setw(8) << "B/param" << std::setw(14) << "Adam/fused"
        << std::setw(14) << "fused/floor" << std::setw(14) << "ref/fused" << std::setw(14) << "twin/fused"
        << "  twin\n";
  }

  void table_row(const bench::BenchRule& r, const bench::SizeFigures& size, const bench::RuleFigures& f) const {
    std::string name = r.spec;
    if (name.size() > 42) name = name.substr(0, 39) + "...";
    out << "  " << std::left << std::setw(44) << name << std::right << std::setprecision(3) << std::setw(9)
        << f.fused << std::setw(11) << f.reference << std::setw(9) << f.floor << std::setw(8) << f.bytes_per_param
        << std::setprecision(2) << std::setw(13) << size.adam_ns / f.fused << "x" << std::setw(13)
        << f.fused_over_floor << "x" << std::setw(13) << f.reference / f.fused << "x";
    if (f.twin.empty()) {
      out << std::setw(14) << "-" << "\n";
    } else {
      out << std::setw(13) << f.twin_ns / f.fused << "x  " << f.twin << " (" << f.twin_ns << ")\n";
    }
    out.flush();
  }

  void json_line(const bench::BenchRule& r, const bench::SizeFigures& size, const bench::RuleFigures& f) const {
    JsonObject o;
    o.add_string("rule", r.spec)
        .add_string("canonical", r.resolved.program()->canonical_text())
        .add_int("params", size.params)
        .add_string("dtype", dtype_text())
        .add_int("threads", threads)
        .add_string("device", options.device.str())
        .add_string("kernel", fused_kernel)
        .add_int("steps", size.steps)
        .add_int("reps", options.reps)
        .add_number("fused_ns", f.fused)
        .add_number("reference_ns", f.reference)
        .add_number("torch_adam_ns", size.adam_ns)
        .add_number("torch_sgd_momentum_ns", size.sgd_ns)
        .add_number("floor_ns", f.floor)
        .add_int("bytes_per_param", f.bytes_per_param)
        .add_int("fused_passes", options.device.is_cuda() ? 1 : r.shape.passes)
        .add_number("adam_over_fused", size.adam_ns / f.fused)
        .add_number("fused_over_floor", f.fused_over_floor)
        .add_number("reference_over_fused", f.reference / f.fused)
        .add_string("twin", f.twin)
        .add_number("twin_ns", f.twin_ns)
        .add_number("twin_over_fused", f.twin.empty() ? 0.0 : f.twin_ns / f.fused);
    out << o.str() << "\n";
    out.flush();
  }
};

}  // namespace

int bench_step_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("rule", po::value<std::vector<std::string>>()->value_name("R"),
       "a named rule, DSL text or random:DEPTH:SEED; repeat for several (default: adam, adamw, amsgrad, lion, "
       "powersign, addsign-ld, random:5:1)")
      ("params", po::value<std::string>()->value_name("N,..."), "parameter counts, e.g. 1M,4M,16M (default)")
      ("threads", po::value<std::string>()->value_name("K"), "CPU threads (default: LibTorch's choice)")
      ("steps", po::value<std::string>()->value_name("S"), "steps per repetition (default: about 0.2 s of work)")
      ("reps", po::value<std::string>()->value_name("R"), "repetitions; the median is reported (default 5)")
      ("dtype", po::value<std::string>()->value_name("T"), "float32 (default) or float64")
      ("kernel", po::value<std::string>()->value_name("K"),
       "the fused kernel's build: auto (the widest this CPU runs), avx512, avx2 or default (baseline x86-64); "
       "one this CPU or build cannot run is an error")
      ("device", po::value<std::string>()->value_name("D"), "cpu (default), cuda or cuda:N")
      ("json", po::bool_switch(), "print one JSON object per size and rule");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_step_bench_help(out, options);
    return kExitOk;
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const std::vector<std::string> specs =
      vm.count("rule") ? vm["rule"].as<std::vector<std::string>>() : bench::default_step_rules();
  bench::StepBenchOptions o;
  o.sizes = parse_params_list(flag("params") ? *flag("params") : "1M,4M,16M");
  if (const std::string* v = flag("threads")) at::set_num_threads(whole_flag<int>(*v, "--threads", 1, 1024));
  const int threads = at::get_num_threads();
  if (const std::string* v = flag("reps")) o.reps = whole_flag<int64_t>(*v, "--reps");
  if (const std::string* v = flag("steps")) o.steps = whole_flag<int64_t>(*v, "--steps");
  if (const std::string* v = flag("dtype")) {
    const std::string dtype = parsed_at("--dtype", [&] { return parse_choice(*v, {"float32", "float64"}); });
    o.dtype = dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  }
  if (const std::string* v = flag("kernel")) dsl::set_fused_capability(*v);
  const bool json = vm["json"].as<bool>();
  if (const std::string* v = flag("device")) o.device = parse_device(*v, "--device");
  const std::string fused_kernel = bench::fused_kernel_name(o.device, o.dtype);
  const std::vector<bench::BenchRule> rules = bench::resolve_step_rules(specs);

  const StepPrinter printer{out, o, threads, fused_kernel};
  if (!json) printer.heading(rules);
  bench::StepBenchObserver observer;
  if (json) {
    observer.on_rule = [&](const bench::BenchRule& r, const bench::SizeFigures& size, const bench::RuleFigures& f) {
      printer.json_line(r, size, f);
    };
  } else {
    observer.on_size = [&](const bench::SizeFigures& size) { printer.size_heading(size); };
    observer.on_rule = [&](const bench::BenchRule& r, const bench::SizeFigures& size, const bench::RuleFigures& f) {
      printer.table_row(r, size, f);
    };
  }
  bench::run_step_bench(o, rules, observer);
  return kExitOk;
}

}  // namespace nos::cli
