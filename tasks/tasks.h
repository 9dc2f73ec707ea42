// nos::tasks — the child problems a rule is evaluated on: analytic objectives and a run of a rule on one of them.
#pragma once

#include "tasks/objective_run.h"
#include "tasks/objectives.h"
