// nos::optimizers — compiled rules as torch::optim optimizers (RuleOptimizer) and the library of named rules.
#pragma once

#include "optimizers/named.h"
#include "optimizers/rule_optimizer.h"
