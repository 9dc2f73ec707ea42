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

// NAdam's two step sizes at update number `step` (Dozat 2016, as PyTorch 2 computes them in torch/optim/nadam.py):
// μ_k = β1·(1 − ½·0.96^(k·ψ)), ψ = 4e-3 (momentum_decay), Π_t = μ_1···μ_t; the direction is
// (grad·g + momentum·m)/(√(v/(1 − β2^t)) + ε) with grad = (1 − μ_t)/(1 − Π_t) and momentum = μ_{t+1}/(1 − Π_t·μ_{t+1}).
// (PyTorch 1.13, Debian's, multiplies μ_t into the second product twice; pytorch/pytorch#92699 fixed it in 2.0.)
struct NAdamFactors {
  double grad = 0;
  double momentum = 0;
};
inline NAdamFactors nadam_factors(int64_t step, double beta1, double momentum_decay = 4e-3) {
  auto mu = [&](int64_t k) { return beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(k) * momentum_decay)); };
  // Π_t only enters as 1 − Π_t and 1 − Π_t·μ_{t+1}; once it is below 2^-60 both are exactly 1 in double and stay
  // so, so the product stops there (the same factors, and a bounded loop on every step of a long run).
  double product = 1;
  for (int64_t k = 1; k <= step && product >= 0x1p-60; ++k) product *= mu(k);
  const double next = mu(step + 1);
  return {(1.0 - mu(step)) / (1.0 - product), next / (1.0 - product * next)};
}

// RAdam's rectification at update number `step` (Liu et al. 2020, as torch/optim/radam.py computes it):
// ρ∞ = 2/(1 − β2) − 1, ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t); when ρ_t > 5 the direction is
// m̂·√(1 − β2^t)/(√v + ε)·r with r = √((ρ_t − 4)(ρ_t − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_t)), else m̂ alone.
struct RAdamFactors {
  bool rectified = false;
  double rect = 1;
  double sqrt_correction = 1;  // √(1 − β2^t)
};
inline RAdamFactors radam_factors(int64_t step, double beta2) {
  const double power = std::pow(beta2, static_cast<double>(step));
  const double correction = 1.0 - power;
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho = rho_inf - 2.0 * static_cast<double>(step) * power / correction;
  RAdamFactors f;
  f.sqrt_correction = std::sqrt(correction);
  if (rho > 5.0) {
    f.rectified = true;
    f.rect = std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
  }
  return f;
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
