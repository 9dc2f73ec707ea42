// nos::optimizers — compiled rules as torch::optim optimizers (RuleOptimizer), the library of named rules, and their
// export for use outside nos (PyTorch module, CUDA kernel, standalone C++ header).
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses dsl; tasks and every module right of them use it.
#pragma once

#include "optimizers/export.h"
#include "optimizers/named.h"
#include "optimizers/rule_optimizer.h"
