// The helper source the exported files carry, as string literals: the Python module's functions and a random rule's
// generator methods (--to pytorch), and the C++ header's functions (--to cpp).
#include "optimizers/export_common.h"

namespace nos::optimizers::exporting {

// The helpers every exported module carries: C's arithmetic on Python floats for the scalar instructions (Python's
// math raises where C returns inf or NaN), the decays, the bias correction and the NAdam/RAdam factors, each as nos
// computes it (dsl/primitives.cpp, dsl/update_math.h).
const char* const kPythonHelpers = R"PY(

# ---- scalar arithmetic as nos folds it in double (dsl/primitives.cpp): IEEE results where Python's math raises ----


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x):
    x = abs(x)
    return -math.inf if x == 0.0 else math.log(x)


def _sign(x):
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def _clip(x, c):
    return -c if x < -c else (c if c < x else x)


def _div(x, y):
    d = y + 1e-08
    if d == 0.0:
        return math.nan if x != x or x == 0.0 else math.copysign(math.inf, x)
    return x / d


def _odd(y):
    return math.isfinite(y) and math.fmod(y, 2.0) in (1.0, -1.0)


def _pow(x, y):
    try:
        return math.pow(x, y)
    except OverflowError:
        return -math.inf if x < 0 and _odd(y) else math.inf
    except ValueError:
        if x == 0.0:
            return math.copysign(math.inf, x) if _odd(y) else math.inf
        return math.nan


def _max(x, y):
    return math.nan if x != x or y != y else (y if x < y else x)


def _min(x, y):
    return math.nan if x != x or y != y else (y if y < x else x)


# ---- the decays of Bello et al. 2017 with TensorFlow's sign_decay.py formulas: t clipped to T ----


def _linear_decay(t, T):
    s = float(min(t, T))
    return max(0.0, (float(T) - s) / float(T))


def _cosine_decay(t, T, n):
    s = float(min(t, T))
    return 0.5 * (1.0 + math.cos(math.pi * 2.0 * n * s / float(T)))


def _restart_decay(t, T, n):
    s = float(min(t, T))
    return 0.5 * (1.0 + math.cos(math.pi * (math.fmod(n * s, float(T)) / float(T))))


# ---- per-step factors (nos's dsl/update_math.h) ----


def _bias_correction(beta, step, enabled):
    """(1/(1 - beta^step), 1/sqrt(1 - beta^step)); (1.0, 1.0) when off or for beta 0 (Kingma & Ba 2015, sec. 3)."""
    if not enabled:
        return 1.0, 1.0
    c = 1.0 - math.pow(beta, float(step))
    if c == 1.0:
        return 1.0, 1.0
    return 1.0 / c, 1.0 / math.sqrt(c)


def _nadam_factors(step, beta1, beta2, momentum_decay=4e-3):
    """NAdam's (grad, momentum, 1 - beta2^step, 0) as torch.optim.NAdam in PyTorch 2 (Dozat 2016)."""

    def mu(k):
        return beta1 * (1.0 - 0.5 * math.pow(0.96, k * momentum_decay))

    product = 1.0
    k = 1
    while k <= step and product >= 2.0 ** -60:
        product *= mu(k)
        k += 1
    following = mu(step + 1)
    return ((1.0 - mu(step)) / (1.0 - product), following / (1.0 - product * following),
            1.0 - math.pow(beta2, float(step)), 0.0)


def _radam_factors(step, beta1, beta2):
    """RAdam's (rectified, r, sqrt(1 - beta2^step), 1 - beta1^step) as torch.optim.RAdam (Liu et al. 2020)."""
    power = math.pow(beta2, float(step))
    correction = 1.0 - power
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho = rho_inf - 2.0 * step * power / correction
    rectified, rect = 0.0, 1.0
    if rho > 5.0:
        rectified = 1.0
        rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return rectified, rect, math.sqrt(correction), 1.0 - math.pow(beta1, float(step))


def _trust(x, w):
    """x * |w|/|x| over the tensor, x itself where either norm is 0 (LARS/LAMB's trust ratio)."""
    nw = w.norm()
    nx = x.norm()
    return x * torch.where(nw.gt(0).logical_and(nx.gt(0)), nw / nx, torch.ones_like(nw))
)PY";

// The methods of a random rule's optimizer: its generators, saved in state_dict beside the parameters' state.
const char* const kPythonGenerators = R"PY(
    def _generator(self, device, seed):
        # One generator per (device, seed), seeded as nos seeds its own: a fresh torch.Generator.manual_seed(seed).
        key = (str(device), int(seed))
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(int(seed))
            self._generators[key] = gen
        return gen

    def state_dict(self):
        state = super().state_dict()
        state["generators"] = [(device, seed, gen.get_state()) for (device, seed), gen in self._generators.items()]
        return state

    def load_state_dict(self, state_dict):
        generators = state_dict.get("generators", [])
        super().load_state_dict(state_dict)
        self._generators = {}
        for device, seed, gen_state in generators:
            self._generator(torch.device(device), seed).set_state(gen_state)
)PY";

// The helpers every exported header shares (guarded, so several headers go into one translation unit): nos's folds
// of the decays and functions (dsl/primitives.cpp), the bias correction and NAdam's and RAdam's factors
// (dsl/update_math.h), in the same arithmetic.
const char* const kCppHelpers = R"CPP(
#ifndef NOS_EXPORT_HELPERS
#define NOS_EXPORT_HELPERS
namespace nos_export {
constexpr double kPi = 3.14159265358979323846;
// Bello et al. 2017's decays with TensorFlow's sign_decay.py formulas: t clipped to T.
inline double linear_decay(long long t, long long T) {
  const double s = static_cast<double>(t < T ? t : T);
  const double x = (static_cast<double>(T) - s) / static_cast<double>(T);
  return 0.0 < x ? x : 0.0;
}
inline double cosine_decay(long long t, long long T, double n) {
  const double s = static_cast<double>(t < T ? t : T);
  return 0.5 * (1.0 + std::cos(kPi * 2.0 * n * s / static_cast<double>(T)));
}
inline double restart_decay(long long t, long long T, double n) {
  const double s = static_cast<double>(t < T ? t : T);
  return 0.5 * (1.0 + std::cos(kPi * (std::fmod(n * s, static_cast<double>(T)) / static_cast<double>(T))));
}
inline double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }
inline double clip(double x, double c) { return x < -c ? -c : (c < x ? c : x); }
inline double max(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN() : (x < y ? y : x);
}
inline double min(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN() : (y < x ? y : x);
}
// Adam's bias correction at update number `step` (Kingma & Ba 2015, sec. 3): 1/(1 - beta^step) and its square root.
struct BiasCorrection {
  double scale = 1;
  double sqrt_scale = 1;
};
inline BiasCorrection bias_correction(double beta, long long step, bool enabled) {
  BiasCorrection c;
  if (!enabled) return c;
  const double correction = 1.0 - std::pow(beta, static_cast<double>(step));
  c.scale = 1.0 / correction;
  c.sqrt_scale = 1.0 / std::sqrt(correction);
  return c;
}
// NAdam's factors (grad, momentum, 1 - beta2^step, 0) as torch.optim.NAdam in PyTorch 2 (Dozat 2016).
inline void nadam_factors(long long step, double beta1, double beta2, double* f) {
  auto mu = [&](long long k) { return beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(k) * 4e-3)); };
  double product = 1;
  for (long long k = 1; k <= step && product >= 0x1p-60; ++k) product *= mu(k);
  const double next = mu(step + 1);
  f[0] = (1.0 - mu(step)) / (1.0 - product);
  f[1] = next / (1.0 - product * next);
  f[2] = 1.0 - std::pow(beta2, static_cast<double>(step));
  f[3] = 0.0;
}
// RAdam's factors (rectified, r, sqrt(1 - beta2^step), 1 - beta1^step) as torch.optim.RAdam (Liu et al. 2020).
inline void radam_factors(long long step, double beta1, double beta2, double* f) {
  const double power = std::pow(beta2, static_cast<double>(step));
  const double correction = 1.0 - power;
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho = rho_inf - 2.0 * static_cast<double>(step) * power / correction;
  f[0] = 0.0;
  f[1] = 1.0;
  if (rho > 5.0) {
    f[0] = 1.0;
    f[1] = std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
  }
  f[2] = std::sqrt(correction);
  f[3] = 1.0 - std::pow(beta1, static_cast<double>(step));
}
}  // namespace nos_export
#endif  // NOS_EXPORT_HELPERS
)CPP";

}  // namespace nos::optimizers::exporting
