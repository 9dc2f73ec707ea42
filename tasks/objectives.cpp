// The analytic objectives (ensmallen's test functions, plus a seeded ill-conditioned quadratic).
#include "tasks/objectives.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <sstream>

#include "common/error.h"

namespace nos::tasks {

namespace {

using LossFn = std::function<torch::Tensor(const torch::Tensor&)>;

// Wraps `f` with a check of the argument's shape and dtype (a wrong one is a bug in the caller, not the user's).
LossFn checked(std::string name, int64_t dims, LossFn f) {
  return [name = std::move(name), dims, f = std::move(f)](const torch::Tensor& x) {
    NOS_CHECK(x.dim() == 1 && x.size(0) == dims, "objective '" << name << "' takes a 1-D tensor of " << dims
                                                               << " elements, got shape " << x.sizes());
    NOS_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
              "objective '" << name << "' takes float32 or float64, got " << x.scalar_type());
    return f(x);
  };
}

// f(x, y) = (1 − x)² + 100 (y − x²)². Start (−1.2, 1) as in ensmallen and Nocedal & Wright; f(start) = 24.2.
Objective rosenbrock() {
  Objective o;
  o.name = "rosenbrock";
  o.dims = 2;
  o.start = {-1.2, 1.0};
  o.optimum = {1.0, 1.0};
  o.optimum_value = 0.0;
  o.loss = checked(o.name, o.dims, [](const torch::Tensor& x) {
    torch::Tensor a = x.select(0, 0);
    torch::Tensor b = x.select(0, 1);
    return (1 - a).square() + 100 * (b - a.square()).square();
  });
  o.description = "Rosenbrock's banana valley, 2-D: (1-x)^2 + 100 (y-x^2)^2; start (-1.2, 1), minimum 0 at (1, 1)";
  return o;
}

// f(x) = ½ (x − x*)ᵀ A (x − x*), A = Qᵀ diag(λ) Q. Everything random comes from one torch CPU generator seeded
// with `seed`, drawn in this order: a 100×100 standard normal matrix whose QR factor (columns signed so that R has
// a positive diagonal, i.e. Haar-distributed) is Q; the optimum x* ~ N(0, I); the start ~ N(0, I). The eigenvalues
// λ_i = 0.01 · 100^(i/99), i = 0..99, are log-spaced over [0.01, 1]: condition number 100.
Objective quadratic(uint64_t seed) {
  const int64_t n = kQuadraticDims;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor gaussian = torch::randn({n, n}, generator, f64);
  torch::Tensor optimum = torch::randn({n}, generator, f64);
  torch::Tensor start = torch::randn({n}, generator, f64);

  auto [q, r] = torch::linalg_qr(gaussian);
  q = q * torch::sign(torch::diagonal(r)).unsqueeze(0);
  torch::Tensor eigenvalues = torch::logspace(std::log10(kQuadraticMinEigenvalue), 0.0, n, 10.0, f64);
  torch::Tensor a = q.t().matmul(eigenvalues.unsqueeze(1) * q);
  a = 0.5 * (a + a.t());

  // Both dtypes are prepared once, so a call converts at most the device.
  const torch::Tensor a64 = a.contiguous();
  const torch::Tensor a32 = a64.to(torch::kFloat32);
  const torch::Tensor opt64 = optimum.contiguous();
  const torch::Tensor opt32 = opt64.to(torch::kFloat32);

  Objective o;
  o.name = "quadratic";
  o.dims = n;
  o.start.assign(start.data_ptr<double>(), start.data_ptr<double>() + n);
  o.optimum.assign(opt64.data_ptr<double>(), opt64.data_ptr<double>() + n);
  o.optimum_value = 0.0;
  o.loss = checked(o.name, o.dims, [a64, a32, opt64, opt32](const torch::Tensor& x) {
    const bool single = x.scalar_type() == torch::kFloat32;
    torch::Tensor mat = (single ? a32 : a64).to(x.device());
    torch::Tensor d = x - (single ? opt32 : opt64).to(x.device());
    return 0.5 * torch::dot(d, torch::mv(mat, d));
  });
  std::ostringstream description;
  description << "ill-conditioned quadratic, " << n << "-D: 0.5 (x-x*)^T A (x-x*), A = Q^T diag(l) Q with Q random "
              << "orthogonal and l log-spaced over [0.01, 1] (condition number 100); Q, x* and the start are drawn "
                 "from the seed ("
              << seed << "); minimum 0 at x*";
  o.description = description.str();
  return o;
}

// f(x) = Σ x_i². 2-D, start (−5, 5) as ensmallen's SphereFunction ([−5, 5, −5, ...]); f(start) = 50.
Objective sphere() {
  Objective o;
  o.name = "sphere";
  o.dims = 2;
  o.start = {-5.0, 5.0};
  o.optimum = {0.0, 0.0};
  o.optimum_value = 0.0;
  o.loss = checked(o.name, o.dims, [](const torch::Tensor& x) { return x.square().sum(); });
  o.description = "sphere, 2-D: x^2 + y^2; start (-5, 5), minimum 0 at (0, 0)";
  return o;
}

// f(x) = ½ Σ (x_i⁴ − 16 x_i² + 5 x_i). 2-D, start (−5, −5) as ensmallen's StyblinskiTangFunction; f(start) = 200.
// Each coordinate of the minimiser is the root of f' = 2x³ − 16x + 2.5 near −2.9035 (ensmallen: −2.903534,
// f ≈ −39.16599 per dimension); it is computed here to full double precision.
Objective styblinski_tang() {
  double root = -2.903534;
  for (int i = 0; i < 50; ++i) {
    const double f = 4 * root * root * root - 32 * root + 5;
    const double df = 12 * root * root - 32;
    root -= f / df;
  }
  const double per_dim = 0.5 * (std::pow(root, 4) - 16 * root * root + 5 * root);

  Objective o;
  o.name = "styblinski-tang";
  o.dims = 2;
  o.start = {-5.0, -5.0};
  o.optimum = {root, root};
  o.optimum_value = 2 * per_dim;
  o.loss = checked(o.name, o.dims, [](const torch::Tensor& x) {
    return 0.5 * (x.pow(4) - 16 * x.square() + 5 * x).sum();
  });
  o.description = "Styblinski-Tang, 2-D: 0.5 sum(x^4 - 16 x^2 + 5 x); start (-5, -5), minimum about -78.33 at "
                  "(-2.9035, -2.9035)";
  return o;
}

// f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)². Start (2.8, 0.35) as ensmallen's
// BealeFunction; f(start) = 0.1482685025.
Objective beale() {
  Objective o;
  o.name = "beale";
  o.dims = 2;
  o.start = {2.8, 0.35};
  o.optimum = {3.0, 0.5};
  o.optimum_value = 0.0;
  o.loss = checked(o.name, o.dims, [](const torch::Tensor& x) {
    torch::Tensor a = x.select(0, 0);
    torch::Tensor b = x.select(0, 1);
    return (1.5 - a + a * b).square() + (2.25 - a + a * b.square()).square() +
           (2.625 - a + a * b.pow(3)).square();
  });
  o.description = "Beale, 2-D: (1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2; start (2.8, 0.35), minimum 0 at "
                  "(3, 0.5)";
  return o;
}

// f(x, y) = (x + 2y − 7)² + (2x + y − 5)². Start (−9, −9) as ensmallen's BoothFunction; f(start) = 2180.
Objective booth() {
  Objective o;
  o.name = "booth";
  o.dims = 2;
  o.start = {-9.0, -9.0};
  o.optimum = {1.0, 3.0};
  o.optimum_value = 0.0;
  o.loss = checked(o.name, o.dims, [](const torch::Tensor& x) {
    torch::Tensor a = x.select(0, 0);
    torch::Tensor b = x.select(0, 1);
    return (a + 2 * b - 7).square() + (2 * a + b - 5).square();
  });
  o.description = "Booth, 2-D: (x+2y-7)^2 + (2x+y-5)^2; start (-9, -9), minimum 0 at (1, 3)";
  return o;
}

}  // namespace

std::vector<std::string> objective_names() {
  return {"rosenbrock", "quadratic", "sphere", "styblinski-tang", "beale", "booth"};
}

Objective make_objective(std::string_view name, uint64_t seed) {
  if (name == "rosenbrock") return rosenbrock();
  if (name == "quadratic") return quadratic(seed);
  if (name == "sphere") return sphere();
  if (name == "styblinski-tang") return styblinski_tang();
  if (name == "beale") return beale();
  if (name == "booth") return booth();
  std::ostringstream message;
  message << "unknown objective '" << name << "' (known:";
  for (const std::string& known : objective_names()) message << " " << known;
  message << ")";
  throw UserError(message.str());
}

}  // namespace nos::tasks
