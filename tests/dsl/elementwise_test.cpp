// The generated elementwise kernels (the CUDA fused path's code) against the reference path. Each kernel's source
// is also valid C++: the test compiles every rule's kernel with the host compiler, runs it on the CPU and holds it
// to the reference; and where NVRTC (the CUDA toolkit) is installed, it compiles the same sources to PTX.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "dsl/dsl.h"
#include "dsl/cuda_codegen.h"
#include "tests/dsl/agreement.h"
#include "tests/temp_dir.h"

namespace nos::dsl {
namespace {

using namespace agreement;

// Every rule of agreement.h, float32 and float64, with and without weight decay: one kernel each, in one shared
// library built once for the whole suite.
struct Case {
  std::string rule;
  at::ScalarType dtype;
  bool weight_decay;
  ElementwiseKernel kernel;
};

std::vector<Case> make_cases() {
  std::vector<Case> cases;
  for (const std::string& rule : rules_for_every_primitive()) {
    if (!elementwise(rule)) continue;  // a reduction: the reference path on CUDA (Fused.ReductionsRunInStages)
    const Program program = compile(parse(rule));
    for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
      for (bool weight_decay : {false, true}) {
        const std::string entry = "nos_k" + std::to_string(cases.size());
        cases.push_back({rule, dtype, weight_decay, elementwise_kernel(program, dtype, weight_decay, entry)});
      }
    }
  }
  return cases;
}

// One translation unit: the shared prelude once (it guards itself), then every body.
std::string all_sources(const std::vector<Case>& cases) {
  std::string text = cases.front().kernel.prelude;
  for (const Case& c : cases) text += c.kernel.body;
  return text;
}

class HostKernels {
 public:
  HostKernels() : cases_(make_cases()) {
    const std::string source = dir_.file("kernels.cpp", all_sources(cases_));
    const std::string library = dir_.file("kernels.so"), log = dir_.file("compile.log");
    // The compiler that built the tests; no contraction of a*b + c, as in ATen's CPU kernels.
    const std::string command = std::string(NOS_CXX_COMPILER) + " -std=c++17 -O2 -ffp-contract=off -fPIC -shared -o " +
                                library + " " + source + " > " + log + " 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::ifstream in(log);
      error_ = "host compile failed: " + command + "\n" + std::string(std::istreambuf_iterator<char>(in), {});
      return;
    }
    handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) error_ = std::string("dlopen: ") + dlerror();
  }
  ~HostKernels() {
    if (handle_ != nullptr) dlclose(handle_);
  }

  const std::vector<Case>& cases() const { return cases_; }
  const std::string& error() const { return error_; }

  // The update through case i's host-compiled kernel.
  Path path(size_t i) const {
    using Entry = void (*)(const void*);
    auto entry = reinterpret_cast<Entry>(dlsym(handle_, cases_[i].kernel.entry.c_str()));
    const ElementwiseKernel kernel = cases_[i].kernel;
    return [entry, kernel](const Program& program, const at::Tensor& w, const at::Tensor& g,
                           std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
      ASSERT_NE(entry, nullptr) << "no symbol " << kernel.entry;
      elementwise_update(kernel, program, w, g, averages, ctx, args,
                         [entry](const ElementwiseLaunch& launch) { entry(launch.words.data()); });
    };
  }
  size_t find(const std::string& rule, at::ScalarType dtype, bool weight_decay) const {
    for (size_t i = 0; i < cases_.size(); ++i) {
      if (cases_[i].rule == rule && cases_[i].dtype == dtype && cases_[i].weight_decay == weight_decay) return i;
    }
    ADD_FAILURE() << "no case for " << rule;
    return 0;
  }

  static const HostKernels& get() {
    static const HostKernels kernels;
    return kernels;
  }

 private:
  std::vector<Case> cases_;
  nos::testing::TempDir dir_;  // removed with nftw (see temp_dir.h: not std::filesystem with a wheel's libtorch)
  std::string error_;
  void* handle_ = nullptr;
};

// The host's libm (exp, log, pow) is not ATen's SLEEF, so the generated code is held to the reference relative to
// each tensor's scale (as the baseline CPU kernel is against ATen's vector kernels), with NaN and ±inf in the same
// places.
double tolerance(at::ScalarType dtype) { return dtype == at::kFloat ? 1e-5 : 1e-12; }

TEST(Elementwise, HostBuildOfEveryKernelAgreesWithTheReference) {
  const HostKernels& kernels = HostKernels::get();
  ASSERT_EQ(kernels.error(), "");
  ASSERT_GT(kernels.cases().size(), 400u);
  double worst = 0;
  std::string worst_case;
  for (size_t i = 0; i < kernels.cases().size(); ++i) {
    const Case& c = kernels.cases()[i];
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}}) {
      SCOPED_TRACE("rule " + c.rule + ", " + c10::toString(c.dtype) + (c.weight_decay ? ", weight decay" : "") +
                   ", size " + std::to_string(n));
      at::Tensor like = at::empty({n}, at::TensorOptions().dtype(c.dtype));
      const Compared r = compare(c.rule, c.dtype, like, c.weight_decay ? 0.05 : 0.0, 3, kernels.path(i));
      EXPECT_TRUE(r.same_nonfinite);
      EXPECT_LT(r.normwise, tolerance(c.dtype));
      if (r.normwise / tolerance(c.dtype) > worst) {
        worst = r.normwise / tolerance(c.dtype);
        worst_case = c.rule + " (" + c10::toString(c.dtype) + ")";
      }
    }
  }
  std::cout << kernels.cases().size() << " kernels: largest relative difference " << worst
            << " of the tolerance (" << worst_case << ")\n";
}

TEST(Elementwise, ExactForRulesWithoutLibmCalls) {
  // Products, sums, bias corrections, square roots and divisions round alike everywhere (IEEE), so where ATen's
  // kernels use no SLEEF call and the same multiply-adds, the generated code gives the reference's bits.
  const HostKernels& kernels = HostKernels::get();
  ASSERT_EQ(kernels.error(), "");
  at::Tensor like = at::empty({1}, at::TensorOptions().dtype(at::kDouble));
  for (const char* rule : {"g", "m*g", "10*m", "(g+m)*(g+m)-(g-m)", "keep(g,m)*2", "sign(w)*sign(g)*w"}) {
    SCOPED_TRACE(rule);
    const Compared r = compare(rule, at::kDouble, like, 0.0, 3, kernels.path(kernels.find(rule, at::kDouble, false)));
    EXPECT_EQ(r.direction_ulp, 0);
    EXPECT_EQ(r.state_ulp, 0);
  }
}

TEST(Elementwise, StridedChannelsLastAndStackedParameters) {
  const HostKernels& kernels = HostKernels::get();
  ASSERT_EQ(kernels.error(), "");
  const std::string rule = "clip(adam,0.001)*exp(log(g)+sqrt(w))";
  const Program program = compile(parse(rule));
  const Path path = kernels.path(kernels.find(rule, at::kFloat, false));
  for (const ViewRun& run : run_on_views(program, path)) {
    SCOPED_TRACE(::testing::Message() << "sizes " << run.start.sizes() << " strides " << run.by_path.strides());
    Compared c;
    add_normwise(c, run.by_path, run.by_reference);
    EXPECT_TRUE(c.same_nonfinite);
    EXPECT_LT(c.normwise, tolerance(at::kFloat));
    EXPECT_FALSE(at::equal(run.by_path, run.start));  // it moved, in place
  }
  // A slice of a stacked parameter: only that slice changes; an empty parameter is a no-op.
  expect_only_the_slice_changes(program, path);
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  at::Tensor empty = at::empty({0}, at::TensorOptions().dtype(at::kFloat));
  std::vector<at::Tensor> none = program.zero_averages(empty);
  EXPECT_NO_THROW(path(program, empty, empty.clone(), none, {0, 20, true, &gen}, {0.1, 0.0}));
}

TEST(Elementwise, SourceDependsOnTheRuleDtypeAndWeightDecayOnly) {
  const Program a = compile(parse("exp(sign(g)*sign(m))*g")), b = compile(parse("g*exp(sign(m)*sign(g))"));
  EXPECT_EQ(elementwise_kernel(a, at::kFloat, false).source(), elementwise_kernel(b, at::kFloat, false).source());
  EXPECT_NE(elementwise_kernel(a, at::kFloat, false).source(), elementwise_kernel(a, at::kDouble, false).source());
  EXPECT_NE(elementwise_kernel(a, at::kFloat, false).source(), elementwise_kernel(a, at::kFloat, true).source());
  const ElementwiseKernel k = elementwise_kernel(compile(parse("drop(g,0.3)+drop(m,0.5)*noise*ld")), at::kFloat, false);
  EXPECT_EQ(k.averages, 1);
  EXPECT_EQ(k.randoms, 3);
  EXPECT_NE(k.body.find("extern \"C\" __global__ void nos_update("), std::string::npos);
  EXPECT_THROW(elementwise_kernel(a, at::kHalf, false), InternalError);
}

TEST(Elementwise, CudaPathDeclinesWhatItCannotRun) {
  // CPU tensors (and, in a build without the CUDA path, everything): a reason, and nothing changed.
  const Program program = compile(parse("adam"));
  at::Tensor w = at::ones({5}), g = at::full({5}, 0.5);
  std::vector<at::Tensor> averages = program.zero_averages(w);
  EXPECT_NE(cuda_fused_unsupported_reason(w, g, averages), "");
  EXPECT_FALSE(cuda_fused_update(program, w, g, averages, {0, 10, true, nullptr}, {0.1, 0.0}));
  EXPECT_TRUE(at::equal(w, at::ones({5})));
  EXPECT_TRUE(at::equal(averages[0], at::zeros({5})));
  // update() takes the CPU kernel for them, as before.
  update(program, w, g, averages, {0, 10, true, nullptr}, {0.1, 0.0});
  EXPECT_FALSE(at::equal(w, at::ones({5})));
}

// NVRTC, loaded at run time as ATen loads it (its C API, declared here: the test needs no CUDA headers).
struct Nvrtc {
  using Program = void*;
  int (*create)(Program*, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  int (*compile)(Program, int, const char* const*) = nullptr;
  int (*log_size)(Program, size_t*) = nullptr;
  int (*log)(Program, char*) = nullptr;
  int (*ptx_size)(Program, size_t*) = nullptr;
  int (*ptx)(Program, char*) = nullptr;
  int (*destroy)(Program*) = nullptr;
  void* handle = nullptr;

  Nvrtc() {
    // The toolkit's unversioned name, or a versioned one (what the nvidia-cuda-nvrtc wheels ship).
    std::vector<std::string> candidates = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"};
    if (const char* home = std::getenv("CUDA_HOME")) candidates.push_back(std::string(home) + "/lib64/libnvrtc.so");
    candidates.push_back("/usr/local/cuda/lib64/libnvrtc.so");
    for (const std::string& name : candidates) {
      handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle != nullptr) break;
    }
    if (handle == nullptr) return;
    auto get = [&](auto& f, const char* name) { f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(handle, name)); };
    get(create, "nvrtcCreateProgram");
    get(compile, "nvrtcCompileProgram");
    get(log_size, "nvrtcGetProgramLogSize");
    get(log, "nvrtcGetProgramLog");
    get(ptx_size, "nvrtcGetPTXSize");
    get(ptx, "nvrtcGetPTX");
    get(destroy, "nvrtcDestroyProgram");
  }
  bool found() const { return handle != nullptr && create && compile && log_size && log && ptx_size && ptx && destroy; }
};

TEST(Elementwise, NvrtcCompilesEveryKernel) {
  static Nvrtc nvrtc;
  if (!nvrtc.found()) GTEST_SKIP() << "NVRTC (libnvrtc.so of the CUDA toolkit) is not installed here";
  const HostKernels& kernels = HostKernels::get();
  const std::string source = all_sources(kernels.cases());
  void* program = nullptr;
  ASSERT_EQ(nvrtc.create(&program, source.c_str(), "nos_kernels.cu", 0, nullptr, nullptr), 0);
  // The options the CUDA path compiles with (dsl/cuda_launch.cpp), for an architecture every NVRTC since CUDA 11 has.
  const char* options[] = {"--std=c++17", "--gpu-architecture=compute_80"};
  const int status = nvrtc.compile(program, 2, options);
  size_t log_size = 0;
  nvrtc.log_size(program, &log_size);
  std::string log(log_size, '\0');
  nvrtc.log(program, log.data());
  EXPECT_EQ(status, 0) << log;
  if (status == 0) {
    size_t ptx_size = 0;
    nvrtc.ptx_size(program, &ptx_size);
    std::string ptx(ptx_size, '\0');
    nvrtc.ptx(program, ptx.data());
    for (const Case& c : kernels.cases()) {
      // One parameter, the Args struct, as many bytes as the words the launch passes (cuda_launch.cpp hands the
      // kernel a pointer to those words).
      const std::string param =
          ".param .align 8 .b8 " + c.kernel.entry + "_param_0[" + std::to_string(8 * c.kernel.words()) + "]";
      const size_t entry = ptx.find(".entry " + c.kernel.entry + "(");
      ASSERT_NE(entry, std::string::npos) << c.kernel.entry;
      EXPECT_NE(ptx.find(param, entry), std::string::npos) << c.rule << ": no " << param;
      EXPECT_EQ(ptx.find(c.kernel.entry + "_param_1", entry), std::string::npos) << c.rule;
    }
    std::cout << kernels.cases().size() << " kernels compiled by NVRTC to " << ptx.size() << " bytes of PTX\n";
  }
  nvrtc.destroy(&program);
}

}  // namespace
}  // namespace nos::dsl
