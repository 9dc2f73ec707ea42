// nos::experiments — comparisons of rules on a task, to the right of the search: the config, the rows, the plan of
// runs (lr tuned per rule, then K seeds), the resumable journal, run_compare on a worker pool, and the report files.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses search (worker pools, run stores) and tasks; cli uses it. The search never sees it.
#pragma once

#include "experiments/compare_config.h"
#include "experiments/csv.h"
#include "experiments/folder.h"
#include "experiments/funnel.h"
#include "experiments/journal.h"
#include "experiments/learn.h"
#include "experiments/machine.h"
#include "experiments/plan.h"
#include "experiments/progress.h"
#include "experiments/report.h"
#include "experiments/rows.h"
#include "experiments/run_compare.h"
#include "experiments/workers.h"
