// nos::dsl — the rule language: one table of primitives; parse infix or token form, check, print canonically, hash,
// compile to a program; run a program's update on the reference path (torch ops), the fused CPU kernel or the
// generated CUDA kernel.
//
// The compile pipeline: parse (parse.h) or parse_tokens (tokens.h) → canonicalize (canonical.h) → compile
// (program.h). An update (update.h) then runs on one of three paths that compute the same numbers: the reference
// path (Program::direction), the CPU planner's passes (cpu_planner.h) feeding the fused CPU kernel (cpu_kernel.h),
// and the CUDA code generator (cuda_codegen.h) whose kernel cuda_launch.cpp compiles and launches. What they must
// compute alike is defined once: the primitives' folds (primitives.h), the bias corrections, at::pow's special
// exponents and the steps around the rule (update_math.h).
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses common and LibTorch; optimizers and every module right of them use it.
#pragma once

#include "dsl/ast.h"
#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/parse.h"
#include "dsl/primitives.h"
#include "dsl/probe.h"
#include "dsl/program.h"
#include "dsl/tokens.h"
#include "dsl/update.h"
