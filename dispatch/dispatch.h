// nos::dispatch — the evaluation service: children as (rule, task, budget, seed) jobs sent to worker processes,
// threads, populations or MPI ranks, and their records back; the worker protocol's wire format.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a
// module includes only modules to its left (ctest `layout` checks it).
// Uses tasks (the evaluator behind every job); search, experiments and cli use it.
#pragma once

#include "dispatch/make_pool.h"
#include "dispatch/mpi.h"
#include "dispatch/pool.h"
#include "dispatch/population_pool.h"
#include "dispatch/wire.h"
