// nos::optimizers — compiled rules as torch::optim optimizers (RuleOptimizer) and the library of named rules.
//
// Module line: common → dsl → optimizers → tasks → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses dsl; tasks and every module right of them use it.
#pragma once

#include "optimizers/named.h"
#include "optimizers/rule_optimizer.h"
