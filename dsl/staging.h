// Staging: the dense operands both fused paths walk in memory order, and the copy back after a kernel wrote them.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace nos::dsl {

// Tensors a kernel walks element by element in memory order: the originals when they are dense and laid out
// alike, else contiguous copies that `write_back` copies into the originals after the kernel ran.
struct DenseOperands {
  at::Tensor w, g;
  std::vector<at::Tensor> averages;
  bool direct = true;
};
DenseOperands dense_operands(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages);

// `t` itself when it walks memory in the same order as `like`, else a copy that does (same logical values).
at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like);

// After a kernel wrote through raw pointers: copies staged tensors back, or tells autograd that w changed.
void write_back(const DenseOperands& dense, const at::Tensor& w, std::vector<at::Tensor>& averages);

}  // namespace nos::dsl
