// The arithmetic every execution path must compute as the reference path's torch ops do, defined once.
//
// The fused CPU kernel (Vectorized values), the generated kernel (source text) and the reference path (tensors)
// each spell these in their own language; what they spell (which exponents, which operands in which order) is
// written here only, and each spelling is a switch or template the compiler checks against it.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace nos::dsl {

// Adam's bias correction of one moving average with decay β at update number `step` (t + 1; Kingma & Ba 2015,
// §3): the average is divided by 1 − β^step, as a multiplication by `scale` made once in double (a division per
// element costs several multiplications' time, and is within an ulp of it), and its square root by √(1 − β^step),
// as a multiplication by `sqrt_scale`. Without bias correction, or for β = 0, the correction is 1 and does not
// apply: every path then reads the raw average, multiplying by nothing.
struct BiasCorrection {
  double correction = 1;  // 1 − β^step
  double scale = 1;       // 1/(1 − β^step)
  double sqrt_scale = 1;  // 1/√(1 − β^step)
  bool applies() const { return correction != 1.0; }
};
inline BiasCorrection bias_correction(double beta, int64_t step, bool enabled) {
  BiasCorrection c;
  if (!enabled) return c;
  c.correction = 1.0 - std::pow(beta, static_cast<double>(step));
  c.scale = 1.0 / c.correction;
  c.sqrt_scale = 1.0 / std::sqrt(c.correction);
  return c;
}

// at::pow(x, e) for a scalar exponent e does not call pow for these exponents (ATen's
// pow_tensor_scalar_optimized_kernel and its 0 and 1 shortcuts): a path that computes pow(x, e) for them would
// differ from the reference in the last bits. Each fused path tests kPowSpecials in this order and spells each
// shortcut in a switch over PowShortcut without default.
enum class PowShortcut { kNone, kOne, kIdentity, kSqrt, kSquare, kCube, kRsqrt, kReciprocal, kReciprocalSquare };
struct PowSpecial {
  double exponent;
  PowShortcut shortcut;
};
inline constexpr std::array<PowSpecial, 8> kPowSpecials = {{
    {0, PowShortcut::kOne},
    {1, PowShortcut::kIdentity},
    {0.5, PowShortcut::kSqrt},
    {2, PowShortcut::kSquare},
    {3, PowShortcut::kCube},
    {-0.5, PowShortcut::kRsqrt},
    {-1, PowShortcut::kReciprocal},
    {-2, PowShortcut::kReciprocalSquare},
}};
// The shortcut at::pow takes for exponent e (kNone: it computes pow).
inline PowShortcut pow_shortcut(double e) {
  for (const PowSpecial& s : kPowSpecials) {
    if (e == s.exponent) return s.shortcut;
  }
  return PowShortcut::kNone;
}

// The two steps around a rule, as reference_update runs them with ATen's add with alpha (self + alpha·other, one
// fused multiply-add in ATen's kernels): the decayed gradient g' = g + weight_decay·w (coupled L2, as PyTorch's
// SGD and Adam add it), which the rule sees instead of g, and after the rule the update w ← w − lr·direction. Each
// path passes its value type X (a tensor, a vector of lanes, the source text of an expression), its scalar type S
// and its fused multiply-add fma(x, a, y) = x·a + y.
template <typename X, typename S, typename Fma>
X decayed_gradient(const X& g, const X& w, const S& weight_decay, Fma fma) {
  return fma(w, weight_decay, g);
}
template <typename X, typename S, typename Fma>
X applied_update(const X& w, const X& direction, const S& minus_lr, Fma fma) {
  return fma(direction, minus_lr, w);
}

}  // namespace nos::dsl
