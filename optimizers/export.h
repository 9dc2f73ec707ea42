// Exporting a compiled rule for use outside nos: a PyTorch optimizer module, the CUDA kernel, a standalone C++ header.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <string_view>

#include "optimizers/named.h"

namespace nos::optimizers {

// Where a rule goes (`nos export --to`).
enum class ExportTarget { kPyTorch, kCuda, kCpp };

// "pytorch", "cuda" or "cpp"; anything else is a UserError listing them.
ExportTarget export_target(std::string_view name);

struct ExportOptions {
  ExportTarget target = ExportTarget::kPyTorch;
  // The Python class or C++ struct; empty: default_class_name(rule). Must be an identifier ([A-Za-z_][A-Za-z0-9_]*).
  std::string class_name;
  at::ScalarType dtype = at::kFloat;  // kCuda only: float32 or float64, as `nos rule --cuda-source --dtype`
  bool weight_decay = false;          // kCuda only: the kernel that adds weight decay to g
};

// The class name an export takes when none is given: a named rule's name in CamelCase ("powersign-cd" →
// "PowersignCd"), else "NosRule".
std::string default_class_name(const ResolvedRule& rule);

// The source text of `rule` (resolve_rule's answer) for `options.target`. Every target refuses a learned optimizer
// (lstm:) and a native row (torch-adam: export its twin) with a UserError naming the construct; kCuda refuses what
// dsl::elementwise_kernel refuses (a reduction: norm, trust); kCpp refuses reductions and random primitives (noise,
// anoise, drop: the header cannot draw ATen's streams). docs/using-found-rules.md describes each output.
std::string export_rule(const ResolvedRule& rule, const ExportOptions& options);

// The targets one by one (export_rule checks the rule and the name, then calls one of these).
//
// A self-contained Python module defining `class_name`, a torch.optim.Optimizer subclass: the rule's moving averages
// and step count live in self.state[p] (so state_dict()/load_state_dict() carry them; the random stream of a rule
// with noise is saved beside them), the options are RuleOptions' (lr, weight_decay, decoupled_weight_decay,
// total_steps, seed, bias_correction) with the rule's defaults, and each instruction of the compiled program is one
// statement computing what Program::direction's torch op computes.
std::string export_pytorch(const ResolvedRule& rule, const std::string& class_name);
// dsl::elementwise_kernel's source: what `nos rule --cuda-source` prints.
std::string export_cuda(const ResolvedRule& rule, at::ScalarType dtype, bool weight_decay);
// A standalone C++17 header (no LibTorch): struct `class_name` with step() over plain float or double arrays, built
// on the elementwise kernel's host form (the loop the CUDA kernel runs) and the per-step scalars nos folds.
std::string export_cpp(const ResolvedRule& rule, const std::string& class_name);

}  // namespace nos::optimizers
