// The CUDA code generator: a compiled rule as the source of one elementwise kernel (CUDA C++ for NVRTC, and plain
// C++ for a host check), with the arguments of each launch.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dsl/program.h"
#include "dsl/staging.h"
#include "dsl/update.h"

namespace nos::dsl {

// The generated source of one rule's whole update for one dtype: every thread (or host loop iteration) takes an
// element i, reads w[i], g[i] and each average once, updates the averages, evaluates the rule's code as one
// expression per instruction and writes w[i] ← w[i] − lr·direction. Each instruction follows the torch op that
// Program::direction runs for it (the same order of operations, scalars cast to the tensor's dtype where ATen
// casts them, at::pow's special exponents), so only the math library's last bits differ from the reference.
//
// `prelude` holds what every such kernel shares (macros, the pow helper); `body` the rule's Args struct, element
// function and entry point `entry`. Under NVRTC (__CUDACC_RTC__) the entry is an extern "C" __global__ kernel over a
// grid-stride loop; compiled as C++ it is an extern "C" function running the same loop on one thread, so the code
// generator is tested on machines without a GPU.
struct ElementwiseKernel {
  std::string prelude;
  std::string body;
  std::string entry;
  int averages = 0;  // pointers in Args::a (at least one word is laid out even when 0)
  int randoms = 0;   // pointers in Args::r
  int scalars = 0;   // doubles in Args::s
  std::string source() const { return prelude + body; }
  // The size of Args in 8-byte words: n, w, g, then a[], r[] (one word at least each) and s[].
  size_t words() const {
    return 3 + static_cast<size_t>(std::max(1, averages) + std::max(1, randoms) + scalars);
  }
};

// The kernel of `program` for float32 or float64 tensors, with or without weight decay (coupled L2, as in
// reference_update). The source depends on nothing else (not on lr, the step, T or the seed), so callers may cache
// the compiled kernel by its source text.
// A rule with a reduction (norm, trust) has no such kernel: UserError.
ElementwiseKernel elementwise_kernel(const Program& program, at::ScalarType dtype, bool weight_decay,
                                     const std::string& entry = "nos_update");

// One launch of an elementwise kernel: its Args struct as 8-byte words (n, w, g, a[], r[], s[]; every member is 8
// bytes, so the layout is the same for the host compiler and NVRTC), and the random draws it points into.
struct ElementwiseLaunch {
  std::vector<uint64_t> words;
  std::vector<at::Tensor> draws;
};

// The launch for one update of `dense` (from dense_operands): the scalars folded for this step (decays, bias
// corrections, lr, weight decay) and the random tensors drawn from ctx.generator in the reference's order.
ElementwiseLaunch elementwise_launch(const ElementwiseKernel& kernel, const Program& program,
                                     const DenseOperands& dense, const StepContext& ctx, const UpdateArgs& args);

// One update through a compiled kernel: checks the operands as fused_update does, stages them (dense_operands),
// prepares the launch, calls `run` with it (the kernel must have finished, or be ordered before any later use of
// the tensors, when it returns) and writes back. An empty parameter is a no-op.
void elementwise_update(const ElementwiseKernel& kernel, const Program& program, const at::Tensor& w,
                        const at::Tensor& g, std::vector<at::Tensor>& averages, const StepContext& ctx,
                        const UpdateArgs& args, const std::function<void(const ElementwiseLaunch&)>& run);

}  // namespace nos::dsl
