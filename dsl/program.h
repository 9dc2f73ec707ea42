// A compiled rule: a straight-line program over tensors that computes the update direction for one parameter.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "dsl/ast.h"
#include "dsl/update_math.h"

namespace nos::dsl {

// What one step of one parameter needs beside w and g.
struct StepContext {
  int64_t t = 0;                  // updates already applied to this parameter (the k-th update has t = k - 1)
  int64_t total_steps = 0;        // T, the run's configured number of steps (needed by ld, cd, rd)
  bool bias_correction = true;    // divide m, v, y by (1 - beta^(t+1)); off = PyTorch's SGD-momentum/RMSprop style
  at::Generator* generator = nullptr;  // for noise, anoise, drop; must be on the tensors' device
};

class Program {
 public:
  // The moving averages this rule keeps per parameter, in the order `direction` expects their buffers.
  const std::vector<Average>& averages() const { return averages_; }
  bool uses_decay() const { return uses_decay_; }
  bool is_random() const { return random_; }
  // Whether it has a reduction (norm, trust; Primitive::reduction): the fused CPU kernel runs it in stages, the
  // generated CUDA kernel not at all (dsl::update runs the reference path there).
  bool has_reduction() const { return has_reduction_; }
  const std::string& canonical_text() const { return text_; }

  // Updates each average buffer in place with g (m ← βm + (1−β)g, v with g², y with g³, vmax, s) and then
  // evaluates the rule; mp's buffers are updated after it (Moment::kPrev). w and g may be any views of the same
  // shape (a whole parameter or one slice of a stacked one). Returns a
  // tensor of g's shape: the caller applies w ← w − lr · direction.
  at::Tensor direction(const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                       const StepContext& ctx) const;

  // Checks what one step of this rule needs (internal errors when violated, as the optimizer checks the user's
  // settings first): a buffer per average, w and g of one shape, T for a decay, a generator for a random rule.
  void check_step(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages,
                  const StepContext& ctx) const;

  // Fresh zero buffers for `averages()` shaped like `like`.
  std::vector<at::Tensor> zero_averages(const at::Tensor& like) const;

  struct Instr {
    Prim prim;
    double param;
    // Operand registers (earlier instructions); for an operand that reads moving averages (m, v, y, adam, rmsprop:
    // Primitive::reads), indices into averages() instead.
    int a = -1, b = -1;
  };
  // The straight-line code: register i holds the value of instruction i; the last is the result. Read by the
  // fused paths (dsl/update.h), which evaluate the same code block by block or element by element.
  const std::vector<Instr>& code() const { return code_; }

 private:
  friend Program compile(const NodePtr& rule);
  std::vector<Instr> code_;  // register i holds the value of instruction i; the last is the result
  std::vector<Average> averages_;
  bool uses_decay_ = false;
  bool random_ = false;
  bool has_reduction_ = false;
  std::string text_;
};

// Whether an instruction's value is a scalar known before touching any tensor: a primitive with a fold (a decay
// or constant, a function but drop) whose operands are scalars (keep: its left one). Every evaluation path
// (Program::direction, the CPU planner, the generated kernels) folds these with fold_scalar, so they cannot drift
// apart.
bool folds_to_scalar(Prim prim, bool a_scalar, bool b_scalar);

// The value, in double, of an instruction for which folds_to_scalar holds (its primitive's Primitive::fold); a and
// b are its operands' values.
double fold_scalar(const Program::Instr& in, double a, double b, const StepContext& ctx);

// Whether an instruction's a and b are registers (functions) rather than average indices (operands that read
// moving averages).
inline bool reads_registers(Prim p) { return primitive(p).role != Role::kOperand; }

// Per instruction, whether it folds to a scalar (folds_to_scalar over the code in order; the same at every step).
std::vector<bool> scalar_instructions(const Program& program);
// The scalar instructions' values at this step (fold_scalar in code order; 0 for the others). Every evaluation path
// folds its scalars through these two.
std::vector<double> scalar_values(const Program& program, const std::vector<bool>& scalar, const StepContext& ctx);

// The per-step factors of nadam and radam (update_math.h's formulas at update t + 1), the same for every path:
// nadam {grad, momentum, 1 − β2^t, 0}; radam {1 when rectified else 0, r, √(1 − β2^t), 1 − β1^t}.
std::array<double, 4> step_factors(const Program::Instr& in, const StepContext& ctx);
// Whether a primitive takes step_factors (nadam, radam).
inline bool has_step_factors(Prim p) { return p == Prim::kNAdam || p == Prim::kRAdam; }

// Each average's bias correction at this step (update_math.h), in averages() order: every path takes these.
std::vector<BiasCorrection> bias_corrections(const Program& program, const StepContext& ctx);

// The tensor a random instruction draws from ctx.generator: noise and anoise their noise (shaped like `like`),
// drop its 0/1 keep mask (empty_like(like)). Every evaluation path draws through this, in code order, so one seed
// gives every path the same numbers.
at::Tensor draw_random(const Program::Instr& in, const at::Tensor& like, const StepContext& ctx);

// Canonicalizes the rule and lowers it to a program (common subexpressions computed once, unless random).
Program compile(const NodePtr& rule);

}  // namespace nos::dsl
