// nos::tasks — the child problems a rule is evaluated on: analytic objectives, image data sets, models, the trainer
// and the evaluator interface that turns a rule into a reward.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses optimizers; search and every module right of it use it.
#pragma once

#include "tasks/child_policy.h"
#include "tasks/datasets.h"
#include "tasks/evaluator.h"
#include "tasks/lr_choice.h"
#include "tasks/models.h"
#include "tasks/objective_run.h"
#include "tasks/objectives.h"
#include "tasks/population.h"
#include "tasks/trainer.h"
