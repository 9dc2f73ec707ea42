// nos::common — left of every module: the error types (UserError, NOS_CHECK), text formatting, JSON text and the
// YAML config reader. Nothing here knows about rules, tensors or searches.
#pragma once

#include "common/error.h"
#include "common/json_text.h"
#include "common/text.h"
