// Tests of `nos export`'s writers: the PyTorch module run by Debian's python3 and the C++ header compiled by g++
// compute nos's updates (every named rule, every primitive, 60 random token rules), and what each target refuses.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dsl/cuda_codegen.h"
#include "optimizers/export.h"
#include "test_util.h"
#include "tests/dsl/agreement.h"
#include "tests/temp_dir.h"

#ifndef NOS_PYTHON
#define NOS_PYTHON "/usr/bin/python3"
#endif

namespace nos::optimizers {
namespace {

using Trajectory = std::vector<std::vector<double>>;  // the parameters (concatenated) after each step

constexpr int kNamedSteps = 100;
constexpr int kRuleSteps = 8;
constexpr int kElements = 12;
constexpr int64_t kTotalSteps = 20;

std::string hex(double x) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%a", x);
  return buffer;
}

std::string hex_line(const std::vector<double>& values) {
  std::string s;
  for (double x : values) s += " " + hex(x);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A DSL rule by its text alone (never a named row: the canonical text "rmsprop" is the operand here).
ResolvedRule dsl_rule(const std::string& text) {
  ResolvedRule rule;
  rule.text = text;
  rule.kind = CompiledRule{std::make_shared<const dsl::Program>(dsl::compile(dsl::parse(text)))};
  return rule;
}

// Rules sampled from the token space: units of the default vocabulary plus every opt-in primitive, as tokens, kept
// when they parse, each once by canonical text.
std::vector<std::string> random_token_rules(int count) {
  dsl::Vocabulary v = dsl::default_vocabulary();
  for (const dsl::Primitive& p : dsl::primitives()) {
    if (p.default_vocabulary) continue;
    if (p.role == dsl::Role::kOperand) v.operands.emplace_back(p.name);
    if (p.role == dsl::Role::kUnary) v.unary.emplace_back(p.name);
    if (p.role == dsl::Role::kBinary) v.binary.emplace_back(p.token);
  }
  std::mt19937_64 rng(2024);
  std::set<std::string> seen;
  std::vector<std::string> rules;
  for (int trial = 0; trial < 100000 && static_cast<int>(rules.size()) < count; ++trial) {
    const int units = 1 + static_cast<int>(rng() % 3);
    std::string text;
    for (int u = 0; u < units; ++u) {
      if (u > 0) text += " | ";
      for (int pos = 0; pos < 5; ++pos) {
        if (pos < 2) {
          text += u > 0 && rng() % 3 == 0 ? "u" + std::to_string(rng() % u) : v.operands[rng() % v.operands.size()];
        } else if (pos < 4) {
          text += v.unary[rng() % v.unary.size()];
        } else {
          text += v.binary[rng() % v.binary.size()];
        }
        if (pos < 4) text += ' ';
      }
    }
    const dsl::TokenParseResult parsed = dsl::try_parse_tokens(text);
    if (!parsed.diagnostics.empty()) continue;
    const std::string canonical = dsl::canonical_text(dsl::from_units(parsed.units));
    if (seen.insert(canonical).second) rules.push_back(canonical);
  }
  return rules;
}

// One rule run on fixed gradients, with options that vary with its index (bias correction on and off, coupled
// and decoupled weight decay, a seed each).
struct RuleCase {
  std::string text;
  RuleOptions options;
};

RuleCase rule_case(const std::string& text, int index) {
  RuleOptions o(0.01);
  o.total_steps(kTotalSteps).seed(static_cast<uint64_t>(index)).bias_correction(index % 2 == 0);
  o.weight_decay(index % 3 == 1 ? 0.01 : 0.0).decoupled_weight_decay(index % 4 == 3 ? 0.02 : 0.0).fused(false);
  return {text, o};
}

// The fixed inputs: w with zeros, gradients with zeros and a range of magnitudes.
std::vector<double> start_weights() {
  std::vector<double> w(kElements);
  for (int i = 0; i < kElements; ++i) w[i] = i % 4 == 1 ? 0.0 : 0.5 * std::cos(2.1 * i);
  return w;
}
std::vector<double> fixed_gradient(int k) {
  std::vector<double> g(kElements);
  for (int i = 0; i < kElements; ++i) {
    g[i] = i % 5 == 0 ? 0.0 : std::sin(1.3 * i + 0.7 * k) * std::exp(std::cos(0.9 * i * k));
  }
  return g;
}

std::vector<double> values_of(const std::vector<torch::Tensor>& params) {
  std::vector<double> out;
  for (const torch::Tensor& p : params) {
    torch::Tensor d = p.detach().to(torch::kFloat64).contiguous();
    out.insert(out.end(), d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  }
  return out;
}

// nos's trajectory of a rule case on the fixed gradients (the reference path).
Trajectory nos_fixed(const RuleCase& c) {
  torch::Tensor w = testing::parameter(start_weights());
  RuleOptimizer optimizer(std::vector<torch::Tensor>{w}, dsl_rule(c.text).program(), c.options);
  Trajectory path;
  for (int k = 1; k <= kRuleSteps; ++k) {
    testing::set_grad(w, fixed_gradient(k));
    optimizer.step();
    path.push_back(values_of({w}));
  }
  return path;
}

// The noisy quadratic of golden_torch_test.cpp over two tensors (4 and 2 elements).
using testing::kC;
using testing::kStart;
using testing::kTarget;

// nos's trajectory of a named rule with its defaults (T = kNamedSteps) on the quadratic.
Trajectory nos_quadratic(const std::string& name) {
  const ResolvedRule rule = resolve_rule(name);
  RuleOptions o = rule.defaults;
  o.total_steps(kNamedSteps).fused(false);
  torch::Tensor a = testing::parameter({kStart[0], kStart[1], kStart[2], kStart[3]});
  torch::Tensor b = testing::parameter({kStart[4], kStart[5]});
  RuleOptimizer optimizer(std::vector<torch::Tensor>{a, b}, rule.program(), o);
  Trajectory path;
  for (int k = 1; k <= kNamedSteps; ++k) {
    const std::vector<double> w = values_of({a, b});
    std::vector<double> g(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      g[i] = kC[i] * (w[i] - kTarget[i]) + 0.5 * std::sin(0.7 * k + static_cast<double>(i));
    }
    testing::set_grad(a, {g[0], g[1], g[2], g[3]});
    testing::set_grad(b, {g[4], g[5]});
    optimizer.step();
    path.push_back(values_of({a, b}));
  }
  return path;
}

// Whether two trajectories agree: NaN and ±inf in the same places, and at each step the largest difference over the
// finite elements within `tolerance` of the largest finite |value| there.
::testing::AssertionResult agree(const Trajectory& got, const Trajectory& want, double tolerance = 1e-6) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " steps, expected " << want.size();
  }
  for (size_t k = 0; k < want.size(); ++k) {
    if (got[k].size() != want[k].size()) return ::testing::AssertionFailure() << "step " << k + 1 << ": sizes differ";
    double diff = 0, scale = 0;
    for (size_t i = 0; i < want[k].size(); ++i) {
      const double a = got[k][i], b = want[k][i];
      const bool same_kind =
          std::isnan(a) == std::isnan(b) && std::isinf(a) == std::isinf(b) && (!std::isinf(a) || a == b);
      if (!same_kind) {
        return ::testing::AssertionFailure() << "step " << k + 1 << ", element " << i << ": " << a << " vs nos " << b;
      }
      if (!std::isfinite(b)) continue;
      diff = std::max(diff, std::fabs(a - b));
      scale = std::max(scale, std::fabs(b));
    }
    if (diff > tolerance * std::max(scale, 1e-12)) {
      return ::testing::AssertionFailure() << "step " << k + 1 << ": differs by " << diff << " at scale " << scale;
    }
  }
  return ::testing::AssertionSuccess();
}

// Every exported Python module, run once by one python3 process (export_driver.py): its trajectories by file.
class PythonRuns {
 public:
  static const PythonRuns& get() {
    static const PythonRuns runs;
    return runs;
  }

  std::vector<std::string> named;                 // the named rules
  std::vector<RuleCase> cases;                    // every primitive, then the random token rules
  int random_rules = 0;
  std::map<std::string, Trajectory> trajectory;   // by module path
  std::map<std::string, std::string> error;       // by module path: what python said
  std::vector<std::string> files;
  std::string failure;                            // the driver did not run

  std::string module(const std::string& kind, size_t i) const {
    return dir.path() + "/" + kind + std::to_string(i) + ".py";
  }

 private:
  PythonRuns() {
    for (const NamedRule& r : named_rules()) named.push_back(r.name);
    int index = 0;
    for (const std::string& r : dsl::agreement::rules_for_every_primitive()) cases.push_back(rule_case(r, index++));
    const std::vector<std::string> sampled = random_token_rules(60);
    random_rules = static_cast<int>(sampled.size());
    for (const std::string& r : sampled) cases.push_back(rule_case(r, index++));

    std::ostringstream list;
    for (size_t i = 0; i < named.size(); ++i) {
      const std::string path = module("named", i);
      dir.file("named" + std::to_string(i) + ".py", export_pytorch(resolve_rule(named[i]), "Exported"));
      files.push_back(path);
      list << "case " << path << " Exported quadratic " << kNamedSteps << " 4,2 {\"total_steps\": " << kNamedSteps
           << "}\nw0" << hex_line(kStart) << "\nend\n";
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string path = module("rule", i);
      dir.file("rule" + std::to_string(i) + ".py", export_pytorch(dsl_rule(cases[i].text), "Exported"));
      files.push_back(path);
      const RuleOptions& o = cases[i].options;
      char kwargs[256];
      std::snprintf(kwargs, sizeof kwargs,
                    "{\"lr\": %.17g, \"total_steps\": %lld, \"seed\": %llu, \"bias_correction\": %s, "
                    "\"weight_decay\": %.17g, \"decoupled_weight_decay\": %.17g}",
                    o.lr(), static_cast<long long>(o.total_steps()), static_cast<unsigned long long>(o.seed()),
                    o.bias_correction() ? "true" : "false", o.weight_decay(), o.decoupled_weight_decay());
      list << "case " << path << " Exported fixed " << kRuleSteps << " " << kElements << " " << kwargs << "\nw0"
           << hex_line(start_weights()) << "\n";
      for (int k = 1; k <= kRuleSteps; ++k) list << "g" << hex_line(fixed_gradient(k)) << "\n";
      list << "end\n";
    }
    const std::string cases_path = dir.file("cases.txt", list.str());
    const std::string out = dir.file("out.txt"), log = dir.file("driver.log");
    const std::string driver = std::string(NOS_SOURCE_DIR) + "/tests/optimizers/data/export_driver.py";
    const std::string command =
        std::string(NOS_PYTHON) + " " + driver + " " + cases_path + " " + out + " > " + log + " 2>&1";
    if (std::system(command.c_str()) != 0) {
      failure = command + "\n" + read_file(log);
      return;
    }
    std::ifstream in(out);
    std::string current;
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string head;
      words >> head;
      if (head == "case") {
        words >> current;
      } else if (head == "error") {
        error[current] = line.substr(6);
      } else if (head == "step") {
        int k = 0;
        words >> k;
        std::vector<double> w;
        for (std::string x; words >> x;) w.push_back(std::strtod(x.c_str(), nullptr));
        trajectory[current].push_back(w);
      }
    }
  }

  nos::testing::TempDir dir;
};

TEST(ExportPyTorch, EveryNamedRuleFollowsNosOnTheQuadratic) {
  const PythonRuns& runs = PythonRuns::get();
  ASSERT_EQ(runs.failure, "");
  ASSERT_GE(runs.named.size(), 20u);
  for (size_t i = 0; i < runs.named.size(); ++i) {
    const std::string path = runs.module("named", i);
    ASSERT_EQ(runs.error.count(path), 0u) << runs.named[i] << ": " << runs.error.at(path);
    ASSERT_EQ(runs.trajectory.count(path), 1u) << runs.named[i];
    // Bit for bit (tolerance 0): the module runs nos's reference path's torch operations, in float64, on Debian's
    // python3-torch, the LibTorch nos is built with (docs/using-found-rules.md says "to the last bit").
    EXPECT_TRUE(agree(runs.trajectory.at(path), nos_quadratic(runs.named[i]), 0.0)) << runs.named[i];
  }
}

TEST(ExportPyTorch, EveryPrimitiveAndRandomTokenRulesStepAsNos) {
  const PythonRuns& runs = PythonRuns::get();
  ASSERT_EQ(runs.failure, "");
  EXPECT_GE(runs.random_rules, 50);
  for (size_t i = 0; i < runs.cases.size(); ++i) {
    const std::string path = runs.module("rule", i);
    const std::string& text = runs.cases[i].text;
    ASSERT_EQ(runs.error.count(path), 0u) << text << ": " << runs.error.at(path);
    ASSERT_EQ(runs.trajectory.count(path), 1u) << text;
    EXPECT_TRUE(agree(runs.trajectory.at(path), nos_fixed(runs.cases[i]), 0.0)) << text;
  }
}

TEST(ExportPyTorch, EveryModulePassesPyCompile) {
  const PythonRuns& runs = PythonRuns::get();
  ASSERT_FALSE(runs.files.empty());
  nos::testing::TempDir dir;
  std::string command = std::string(NOS_PYTHON) + " -m py_compile";
  for (const std::string& f : runs.files) command += " " + f;
  const std::string log = dir.file("log");
  EXPECT_EQ(std::system((command + " > " + log + " 2>&1").c_str()), 0) << read_file(log);
}

TEST(ExportPyTorch, DocstringNamesTheCanonicalRuleAndItsHash) {
  const std::string text = "g*exp(sign(m)*sign(g))";
  const std::string source = export_pytorch(dsl_rule(text), "PowerSign");
  const std::string canonical = dsl::canonical_text(dsl::parse(text));
  EXPECT_NE(source.find("rule:  " + canonical), std::string::npos) << source;
  EXPECT_NE(source.find("hash:  " + dsl::hash_hex(dsl::rule_hash(dsl::parse(text)))), std::string::npos);
  EXPECT_NE(source.find("class PowerSign(torch.optim.Optimizer):"), std::string::npos);
  // One statement per instruction.
  const dsl::Program program = dsl::compile(dsl::parse(text));
  for (size_t k = 0; k < program.code().size(); ++k) {
    EXPECT_NE(source.find("        r" + std::to_string(k) + " = "), std::string::npos) << k;
  }
  const std::string named = export_rule(resolve_rule("powersign-cd"), {});
  EXPECT_NE(named.find("class PowersignCd(torch.optim.Optimizer):"), std::string::npos);
  EXPECT_NE(named.find("named: powersign-cd = exp(cd*sign(g)*sign(m))*g"), std::string::npos);
}

// The --to cpp headers of every rule it can express, compiled into one library and called through a wrapper each.
TEST(ExportCpp, HeadersCompileAndStepAsNos) {
  const PythonRuns& runs = PythonRuns::get();
  nos::testing::TempDir dir;
  std::vector<size_t> chosen;
  std::ostringstream all;
  for (size_t i = 0; i < runs.cases.size(); ++i) {
    const dsl::Program program = dsl::compile(dsl::parse(runs.cases[i].text));
    if (program.has_reduction() || program.is_random()) continue;
    const std::string name = "Rule" + std::to_string(i);
    dir.file(name + ".h", export_cpp(dsl_rule(runs.cases[i].text), name));
    all << "#include \"" << name << ".h\"\n"
        << "extern \"C\" void run_" << i
        << "(double* w, const double* g, double* const* state, long long n, double lr, "
        << "long long t, long long T, double wd, double dwd, int bc) {\n"
        << "  " << name << "::Options o;\n  o.weight_decay = wd;\n  o.decoupled_weight_decay = dwd;\n"
        << "  o.bias_correction = bc != 0;\n  " << name << "::step(w, g, state, n, lr, t, T, o);\n}\n";
    chosen.push_back(i);
  }
  ASSERT_GE(chosen.size(), 80u);
  const std::string source = dir.file("all.cpp", all.str()), library = dir.file("all.so"), log = dir.file("log");
  // -O0: the quickest build; the arithmetic is the same IEEE double arithmetic (SSE2, no contraction).
  const std::string command = std::string(NOS_CXX_COMPILER) + " -std=c++17 -O0 -ffp-contract=off " +
                              "-fPIC -shared -I" + dir.path() + " -o " + library + " " + source + " > " + log + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command << "\n" << read_file(log);
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  using Run = void (*)(double*, const double*, double* const*, long long, double, long long, long long, double, double,
                       int);
  for (size_t i : chosen) {
    const RuleCase& c = runs.cases[i];
    auto run = reinterpret_cast<Run>(dlsym(handle, ("run_" + std::to_string(i)).c_str()));
    ASSERT_NE(run, nullptr) << c.text;
    const size_t arrays = dsl::compile(dsl::parse(c.text)).averages().size();
    std::vector<double> state(arrays * kElements, 0.0), w = start_weights();
    std::vector<double*> pointers(arrays + 1, nullptr);
    for (size_t a = 0; a < arrays; ++a) pointers[a] = state.data() + a * kElements;
    Trajectory path;
    for (int k = 1; k <= kRuleSteps; ++k) {
      const std::vector<double> g = fixed_gradient(k);
      run(w.data(), g.data(), pointers.data(), kElements, c.options.lr(), k - 1, c.options.total_steps(),
          c.options.weight_decay(), c.options.decoupled_weight_decay(), c.options.bias_correction() ? 1 : 0);
      path.push_back(w);
    }
    EXPECT_TRUE(agree(path, nos_fixed(c))) << c.text;
  }
  dlclose(handle);
}

// The exported file is a CUDA source nvcc builds as a __global__ kernel (it once compiled, with ~20 warnings, to a host
// loop), and C++ the host compiler builds as the one-thread loop. Where nvcc is missing the CUDA half is skipped,
// saying so.
TEST(ExportCuda, TheFileBuildsAsAKernelWithNvccAndAsAHostLoopWithTheCompiler) {
  nos::testing::TempDir dir;
  const std::string nvcc = NOS_NVCC;
  for (const char* name : {"adam", "powersign-cd", "lion"}) {
    SCOPED_TRACE(name);
    ExportOptions o;
    o.target = ExportTarget::kCuda;
    const std::string source = dir.file(std::string(name) + ".cu", export_rule(resolve_rule(name), o));
    const std::string host = dir.file(std::string(name) + "-host.o"), log = dir.file("log");
    const std::string compile = std::string(NOS_CXX_COMPILER) + " -std=c++17 -x c++ -c -o " + host + " " + source +
                                " > " + log + " 2>&1";
    ASSERT_EQ(std::system(compile.c_str()), 0) << compile << "\n" << read_file(log);
    const std::string symbols = dir.file("symbols");
    ASSERT_EQ(std::system(("nm " + host + " > " + symbols).c_str()), 0);
    EXPECT_NE(read_file(symbols).find(" T nos_update\n"), std::string::npos) << read_file(symbols);
    if (nvcc.empty()) continue;
    const std::string device = dir.file(std::string(name) + "-cuda.o");
    const std::string build = nvcc + " -c -o " + device + " " + source + " > " + log + " 2>&1";
    ASSERT_EQ(std::system(build.c_str()), 0) << build << "\n" << read_file(log);
    EXPECT_EQ(read_file(log).find("warning"), std::string::npos) << read_file(log);
    // A kernel: its device code is embedded (the fat binary) and the host calls it through nvcc's launch stub
    // (the file as it was compiled to a host loop: neither).
    ASSERT_EQ(std::system(("nm " + device + " > " + symbols).c_str()), 0);
    EXPECT_NE(read_file(symbols).find("__fatDeviceText"), std::string::npos) << read_file(symbols);
    EXPECT_NE(read_file(symbols).find("__device_stub__"), std::string::npos) << read_file(symbols);
  }
  if (nvcc.empty()) GTEST_SKIP() << "nvcc not found at configure time: the exported files' CUDA build was not checked";
}

TEST(ExportCuda, IsTheSourceNosRuleCudaSourcePrints) {
  const ResolvedRule rule = resolve_rule("powersign-cd");
  EXPECT_EQ(export_cuda(rule, at::kDouble, true), dsl::elementwise_kernel(*rule.program(), at::kDouble, true).source());
  ExportOptions o;
  o.target = ExportTarget::kCuda;
  EXPECT_EQ(export_rule(rule, o), dsl::elementwise_kernel(*rule.program(), at::kFloat, false).source());
}

// Each refusal is a UserError that names the construct.
void expect_refused(const ResolvedRule& rule, ExportTarget target, const std::string& construct) {
  ExportOptions o;
  o.target = target;
  try {
    export_rule(rule, o);
    ADD_FAILURE() << rule.text << " was exported";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(construct), std::string::npos) << e.what();
  }
}

TEST(Export, RefusesWhatATargetCannotExpress) {
  ResolvedRule lstm;
  lstm.name = lstm.text = "lstm:runs/learn/best.pt";
  lstm.kind = LearnedRule{"runs/learn/best.pt", "0123456789abcdef"};
  for (ExportTarget t : {ExportTarget::kPyTorch, ExportTarget::kCuda, ExportTarget::kCpp}) {
    expect_refused(lstm, t, "lstm:");
    expect_refused(resolve_rule("torch-adam"), t, "'adam'");
  }
  expect_refused(dsl_rule("norm(g)*g"), ExportTarget::kCuda, "reduction");
  expect_refused(dsl_rule("norm(g)*g"), ExportTarget::kCpp, "norm");
  expect_refused(resolve_rule("lamb"), ExportTarget::kCpp, "trust");
  expect_refused(dsl_rule("g + noise"), ExportTarget::kCpp, "noise");
  expect_refused(dsl_rule("drop(g, 0.3)"), ExportTarget::kCpp, "drop");
  // PyTorch expresses them all.
  EXPECT_NO_THROW(export_rule(resolve_rule("lamb"), {}));
  EXPECT_NO_THROW(export_rule(dsl_rule("drop(g, 0.3) + anoise"), {}));
}

TEST(Export, ChecksTargetAndClassName) {
  EXPECT_EQ(export_target("pytorch"), ExportTarget::kPyTorch);
  EXPECT_EQ(export_target("cpp"), ExportTarget::kCpp);
  EXPECT_THROW(export_target("jax"), UserError);
  ExportOptions o;
  for (const char* bad : {"1Rule", "my-rule", "class", "a b"}) {
    o.class_name = bad;
    EXPECT_THROW(export_rule(resolve_rule("adam"), o), UserError) << bad;
  }
  EXPECT_EQ(default_class_name(resolve_rule("powersign-cd")), "PowersignCd");
  EXPECT_EQ(default_class_name(dsl_rule("sign(g)")), "NosRule");
  // Names the generated code uses or its language reserves: the module would not import, the header not compile
  // (issue 34).
  for (const char* bad : {"torch", "math", "std", "size_t", "NULL", "uint64_t", "super", "float", "len", "_exp",
                          "_Rule", "my__rule", "constexpr", "nullptr", "INFINITY"}) {
    o.class_name = bad;
    for (ExportTarget target : {ExportTarget::kPyTorch, ExportTarget::kCpp}) {
      o.target = target;
      try {
        export_rule(resolve_rule("adam"), o);
        ADD_FAILURE() << bad << " was taken as a class name";
      } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("--class-name: '" + std::string(bad) + "' is not a usable class name"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  for (const char* good : {"Lion2", "MyRule", "powersign_v2", "Adam"}) {
    o.class_name = good;
    EXPECT_NO_THROW(export_rule(resolve_rule("adam"), o)) << good;
  }
}

}  // namespace
}  // namespace nos::optimizers
