// nos::search — search jobs: propose, dedupe, prefilter, send children to dispatch's pools, store, resume.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses the controller and dispatch (children go to its pools); experiments, bench and cli use it. Comparisons are not here (experiments/).
#pragma once

#include "dispatch/dispatch.h"
#include "search/config.h"
#include "search/demo_config.h"
#include "search/prefilter.h"
#include "search/proposer.h"
#include "search/run.h"
#include "search/store.h"
#include "search/summary.h"
#include "search/token_space.h"
