// nos::search — search jobs: propose, dedupe, prefilter, evaluate in parallel, store, resume.
//
// Module line: common → dsl → optimizers → tasks → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses the controller and tasks; experiments, bench and cli use it. Comparisons are not here (experiments/).
#pragma once

#include "search/config.h"
#include "search/demo_config.h"
#include "search/pool.h"
#include "search/population_pool.h"
#include "search/prefilter.h"
#include "search/proposer.h"
#include "search/run.h"
#include "search/store.h"
#include "search/summary.h"
#include "search/token_space.h"
#include "search/wire.h"
