// nos::bench — benchmarks: nos's training step beside Python PyTorch (`nos bench train`), and a rule's optimizer
// step (fused and reference paths) beside LibTorch's Adam and SGD and a memory floor (`nos bench step`), and the
// search-efficiency mechanisms stage by stage (`nos bench search`).
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses search (the token space for random rules) and tasks; cli uses it.
#pragma once

#include "bench/python_runner.h"
#include "bench/random_rule.h"
#include "bench/search_bench.h"
#include "bench/step_bench.h"
#include "bench/timing.h"
#include "bench/train_bench.h"
