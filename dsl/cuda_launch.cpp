// The fused CUDA path: a rule's generated elementwise kernel (dsl/cuda_codegen.h) compiled at run time with NVRTC,
// through the NVRTC and driver-API stub a CUDA LibTorch loads lazily (at::globalContext().getNVRTC(), as PyTorch's
// jiterator does), and launched on the current stream. Built only against a CUDA LibTorch (dsl/CMakeLists.txt).
#include <ATen/Context.h>
#include <ATen/cuda/nvrtc_stub/ATenNVRTC.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>

#include "dsl/cuda_codegen.h"
#include "dsl/update.h"

namespace nos::dsl {

namespace {

constexpr int kThreads = 256;
// Grid-stride loop: enough blocks to fill any current GPU several times over, few enough to launch cheaply.
constexpr int64_t kMaxBlocks = 65536;
// The CUDA limit on a kernel's parameters.
constexpr size_t kMaxParamBytes = 4096;

// Why a compile failed, kept so later calls fall back at once (and the warning is printed once).
struct State {
  std::mutex mutex;
  // By rule, dtype, weight decay and device: the source's description (for the launch's arguments) and the function.
  std::map<std::tuple<std::string, int, bool, int>, std::pair<ElementwiseKernel, CUfunction>> kernels;
  std::string failure;
};
State& state() {
  static State s;
  return s;
}

std::string driver_error(CUresult result, const char* what) {
  const char* text = nullptr;
  at::globalContext().getNVRTC().cuGetErrorString(result, &text);
  return std::string(what) + ": " + (text != nullptr ? text : "unknown CUDA driver error");
}

void check_driver(CUresult result, const char* what) {
  if (result != CUDA_SUCCESS) throw std::runtime_error(driver_error(result, what));
}

void check_nvrtc(nvrtcResult result, const char* what) {
  if (result == NVRTC_SUCCESS) return;
  throw std::runtime_error(std::string(what) + ": " + at::globalContext().getNVRTC().nvrtcGetErrorString(result));
}

// Compiles the kernel for `device` (current): to a cubin for the device's architecture where NVRTC can (CUDA ≥ 11.1),
// else to PTX for the driver to finish. Throws std::runtime_error with NVRTC's log.
CUfunction compile(const ElementwiseKernel& kernel, int device) {
  const at::cuda::NVRTC& nvrtc = at::globalContext().getNVRTC();
  // The driver API needs the device's primary context current on this thread (the runtime makes it so).
  CUcontext context = nullptr;
  check_driver(nvrtc.cuCtxGetCurrent(&context), "cuCtxGetCurrent");
  if (context == nullptr) cudaFree(nullptr);
  int major = 0, minor = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  // A GPU newer than this NVRTC knows: PTX for the newest architecture it does, which the driver compiles for the
  // GPU (as PyTorch's jiterator does). Otherwise a cubin for the GPU's own architecture, where NVRTC makes them.
  int nvrtc_major = 0, nvrtc_minor = 0;
  check_nvrtc(nvrtc.nvrtcVersion(&nvrtc_major, &nvrtc_minor), "nvrtcVersion");
  const int newest = nvrtc_major < 11 ? 75
                     : nvrtc_major == 11 && nvrtc_minor == 0 ? 80
                     : nvrtc_major == 11 && nvrtc_minor < 8 ? 86
                     : nvrtc_major == 11 || (nvrtc_major == 12 && nvrtc_minor < 8) ? 90
                     : 120;
  bool cubin = CUDA_VERSION >= 11010;
  if (major * 10 + minor > newest) {
    major = newest / 10;
    minor = newest % 10;
    cubin = false;
  }
  const std::string arch = std::string("--gpu-architecture=") + (cubin ? "sm_" : "compute_") + std::to_string(major) +
                           std::to_string(minor);
  const std::string source = kernel.source();
  nvrtcProgram program = nullptr;
  check_nvrtc(nvrtc.nvrtcCreateProgram(&program, source.c_str(), "nos_rule.cu", 0, nullptr, nullptr),
              "nvrtcCreateProgram");
  const char* options[] = {"--std=c++17", arch.c_str()};
  const nvrtcResult compiled = nvrtc.nvrtcCompileProgram(program, 2, options);
  std::string image;
  if (compiled == NVRTC_SUCCESS) {
    size_t size = 0;
#if CUDA_VERSION >= 11010
    if (cubin) {
      check_nvrtc(nvrtc.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
      image.resize(size);
      check_nvrtc(nvrtc.nvrtcGetCUBIN(program, image.data()), "nvrtcGetCUBIN");
    }
#endif
    if (!cubin) {
      check_nvrtc(nvrtc.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
      image.resize(size);
      check_nvrtc(nvrtc.nvrtcGetPTX(program, image.data()), "nvrtcGetPTX");
    }
  } else {
    size_t size = 0;
    nvrtc.nvrtcGetProgramLogSize(program, &size);
    std::string log(size, '\0');
    nvrtc.nvrtcGetProgramLog(program, log.data());
    nvrtc.nvrtcDestroyProgram(&program);
    throw std::runtime_error(std::string("NVRTC could not compile the kernel (") + nvrtc.nvrtcGetErrorString(compiled) +
                             ", " + arch + "):\n" + log + "\n" + source);
  }
  nvrtc.nvrtcDestroyProgram(&program);
  CUmodule module = nullptr;
  check_driver(nvrtc.cuModuleLoadData(&module, image.data()), "cuModuleLoadData");
  CUfunction function = nullptr;
  check_driver(nvrtc.cuModuleGetFunction(&function, module, kernel.entry.c_str()), "cuModuleGetFunction");
  return function;  // the module stays loaded for the process, as the cache keeps its function
}

}  // namespace

bool cuda_fused_built() { return true; }

std::string cuda_fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g,
                                          const std::vector<at::Tensor>& averages) {
  if (!w.is_cuda()) return "the parameter is on " + w.device().str() + " (the CUDA fused path runs on CUDA)";
  const std::string mismatch = fused_operand_mismatch(w, g, averages);
  if (!mismatch.empty()) return mismatch;
  std::lock_guard<std::mutex> lock(state().mutex);
  if (!state().failure.empty()) return "the CUDA fused kernel could not be built: " + state().failure;
  return "";
}

bool cuda_fused_update(const Program& program, const at::Tensor& w, const at::Tensor& g,
                       std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
  const std::string reason = cuda_fused_unsupported_reason(w, g, averages);
  if (!reason.empty() || program.has_reduction()) return false;
  const c10::cuda::CUDAGuard guard(w.device());
  const int device = w.get_device();
  const bool weight_decay = args.weight_decay != 0;
  const ElementwiseKernel* kernel = nullptr;
  CUfunction function = nullptr;
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    const auto key = std::make_tuple(program.canonical_text(), static_cast<int>(w.scalar_type()), weight_decay, device);
    auto found = state().kernels.find(key);
    if (found == state().kernels.end()) {
      ElementwiseKernel made = elementwise_kernel(program, w.scalar_type(), weight_decay);
      // A rule too large for one kernel's parameters (hundreds of folded scalars) is cached without a function: it
      // runs on the reference path.
      const bool fits = made.words() * sizeof(uint64_t) <= kMaxParamBytes;
      try {
        if (fits) function = compile(made, device);
      } catch (const std::exception& e) {
        // The CUDA LibTorch without a loadable NVRTC, or a GPU this NVRTC does not know: the reference path runs.
        state().failure = e.what();
        TORCH_WARN("nos: the fused CUDA kernel is not available, rules run as chains of torch ops: ", e.what());
        return false;
      }
      found = state().kernels.emplace(key, std::make_pair(std::move(made), function)).first;
    }
    // std::map's elements stay where they are while others are added.
    kernel = &found->second.first;
    function = found->second.second;
  }
  if (function == nullptr) return false;
  const CUstream stream = c10::cuda::getCurrentCUDAStream(device).stream();
  CUresult launched = CUDA_SUCCESS;
  elementwise_update(*kernel, program, w, g, averages, ctx, args, [&](const ElementwiseLaunch& launch) {
    const int64_t n = static_cast<int64_t>(launch.words[0]);
    const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
    void* params[] = {const_cast<uint64_t*>(launch.words.data())};
    launched =
        at::globalContext().getNVRTC().cuLaunchKernel(function, blocks, 1, 1, kThreads, 1, 1, 0, stream, params, nullptr);
  });
  if (launched != CUDA_SUCCESS) {
    // Nothing ran (a launch fails before the kernel starts) and the staged copies hold the old values: the
    // reference path takes this step and every later one.
    const std::string error = driver_error(launched, "cuLaunchKernel");
    {
      std::lock_guard<std::mutex> lock(state().mutex);
      state().failure = error;
    }
    TORCH_WARN("nos: the fused CUDA kernel could not be launched, rules run as chains of torch ops: ", error);
    return false;
  }
  return true;
}

}  // namespace nos::dsl
