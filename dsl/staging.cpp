// Staging: dense operands for the fused kernels (contiguous copies where needed) and the copy back.
#include "dsl/staging.h"

namespace nos::dsl {

at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  return at::empty_like(like).copy_(t);
}

DenseOperands dense_operands(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages) {
  DenseOperands dense;
  dense.direct = w.is_non_overlapping_and_dense() && g.strides() == w.strides();
  for (const at::Tensor& a : averages) dense.direct = dense.direct && a.strides() == w.strides();
  dense.w = dense.direct ? w : w.contiguous();
  dense.g = dense.direct ? g : g.contiguous();
  for (const at::Tensor& a : averages) dense.averages.push_back(dense.direct ? a : a.contiguous());
  return dense;
}

void write_back(const DenseOperands& dense, const at::Tensor& w, std::vector<at::Tensor>& averages) {
  if (!dense.direct) {
    if (!dense.w.is_same(w)) w.copy_(dense.w);
    for (size_t i = 0; i < averages.size(); ++i) {
      if (!dense.averages[i].is_same(averages[i])) averages[i].copy_(dense.averages[i]);
    }
  } else if (!w.is_inference()) {
    // The kernel wrote through raw pointers: tell autograd w changed, as w.add_ would.
    w.unsafeGetTensorImpl()->bump_version();
  }
}

}  // namespace nos::dsl
