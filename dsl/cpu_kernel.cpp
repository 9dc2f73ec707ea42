// The fused CPU kernel: a compiled rule evaluated block by block in one pass over w, g and the moving averages.
//
// Compiled once per CPU capability (CMake sets CPU_CAPABILITY to DEFAULT or AVX2 and the matching -m flags), the way
// ATen compiles its own kernels, so at::vec::Vectorized is the same vector type and the same SLEEF functions that
// the reference path's torch ops use: exp, log and pow agree bit for bit with the reference, and each other
// operation is written in the order ATen's kernel computes it (fmadd where ATen's add-with-alpha uses one).
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "dsl/cpu_block_evaluate.h"
#include "dsl/cpu_block_runner.h"
#include "dsl/cpu_kernel.h"

namespace nos::dsl::cpu {
namespace CPU_CAPABILITY {

namespace {

// Offsets every memory-backed pointer to the block starting at element `begin`.
template <typename T>
Block<T> block_at(const Plan& plan, int64_t begin) {
  Block<T> b;
  b.w = static_cast<T*>(plan.w) + begin;
  b.g_in = static_cast<const T*>(plan.g) + begin;
  for (void* a : plan.average_data) b.averages.push_back(static_cast<T*>(a) + begin);
  for (const void* r : plan.random_data) b.random.push_back(static_cast<const T*>(r) + begin);
  for (void* r : plan.reduction_data) b.reductions.push_back(static_cast<T*>(r) + begin);
  return b;
}

template <typename T>
void run_typed(const Plan& plan) {
  const int64_t full_blocks = plan.numel / kBlock;
  at::parallel_for(0, full_blocks, kGrainBlocks, [&](int64_t first, int64_t last) {
    BlockRunner<T> runner(plan);
    Block<T> blk = block_at<T>(plan, first * kBlock);
    for (int64_t b = first; b < last; ++b) {
      runner.run(blk);
      blk.w += kBlock;
      blk.g_in += kBlock;
      for (T*& a : blk.averages) a += kBlock;
      for (const T*& r : blk.random) r += kBlock;
      for (T*& r : blk.reductions) r += kBlock;
    }
  });
  // The last, partial block runs on copies padded to a whole block (zeros: any value the padding produces is
  // computed and dropped), and only its first `rest` elements are copied back.
  const int64_t begin = full_blocks * kBlock;
  const int64_t rest = plan.numel - begin;
  if (rest == 0) return;
  const size_t nbuf = 2 + plan.average_data.size() + plan.random_data.size() + plan.reduction_data.size();
  std::vector<T> staging(nbuf * kBlock, T(0));
  Block<T> src = block_at<T>(plan, begin);
  Block<T> tmp;
  T* next = staging.data();
  auto stage = [&](const T* from) {
    std::copy(from, from + rest, next);
    T* at = next;
    next += kBlock;
    return at;
  };
  tmp.w = stage(src.w);
  tmp.g_in = stage(src.g_in);
  for (T* a : src.averages) tmp.averages.push_back(stage(a));
  for (const T* r : src.random) tmp.random.push_back(stage(r));
  for (T* r : src.reductions) tmp.reductions.push_back(stage(r));
  BlockRunner<T>(plan).run(tmp);
  std::copy(tmp.w, tmp.w + rest, src.w);
  for (size_t i = 0; i < src.averages.size(); ++i) std::copy(tmp.averages[i], tmp.averages[i] + rest, src.averages[i]);
  for (size_t i = 0; i < src.reductions.size(); ++i) {
    std::copy(tmp.reductions[i], tmp.reductions[i] + rest, src.reductions[i]);
  }
}

}  // namespace

void run(const Plan& plan) {
  if (plan.numel == 0) return;
  if (plan.is_double) {
    run_typed<double>(plan);
  } else {
    run_typed<float>(plan);
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
