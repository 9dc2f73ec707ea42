// Canonical form: equivalent spellings of a rule print and hash alike (what the search's cache keys on).
#pragma once

#include <cstdint>
#include <string>

#include "dsl/ast.h"

namespace nos::dsl {

// The canonical tree (see docs/dsl.md, "Canonical form", for what is and is not normalised). Idempotent.
NodePtr canonicalize(const NodePtr& rule);

// to_infix(canonicalize(rule)).
std::string canonical_text(const NodePtr& rule);

// 64-bit FNV-1a of the canonical text; equal for every spelling of the same canonical rule.
uint64_t rule_hash(const NodePtr& rule);
std::string hash_hex(uint64_t hash);  // 16 lowercase hex digits

}  // namespace nos::dsl
