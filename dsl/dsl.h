// nos::dsl — the rule language: parse infix or token form, check, print canonically, hash, compile to a program.
#pragma once

#include "dsl/ast.h"
#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/fused.h"
#include "dsl/parse.h"
#include "dsl/primitives.h"
#include "dsl/program.h"
#include "dsl/tokens.h"
