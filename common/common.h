// nos::common — left of every module: the error types (UserError, NOS_CHECK), text formatting, values from text
// (parse.h: the parsers of every config key and flag), JSON (written and read), clocks and the YAML config reader.
// Nothing here knows about rules, tensors or searches.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses no other module and not LibTorch; every module uses it.
#pragma once

#include "common/clock.h"
#include "common/error.h"
#include "common/executable.h"
#include "common/files.h"
#include "common/json.h"
#include "common/json_text.h"
#include "common/overloaded.h"
#include "common/parse.h"
#include "common/text.h"
