// Canonical form: equivalent spellings of a rule print and hash alike (what the search's cache keys on).
#pragma once

#include <cstdint>
#include <string>

#include "dsl/ast.h"

namespace nos::dsl {

// The version of the canonical form: raised whenever a rule's canonical text (and so its hash) can change. Stores
// and shared caches record it and bring rows written under an older version up to date (search/). 2: issue 36,
// sign of a positively scaled direction (sign(adam) = sign(m), sign(rmsprop) = sign(g), ...).
inline constexpr int kCanonicalVersion = 2;

// The canonical text under kCanonicalVersion of a canonical text written by an older version (it is parsed and
// canonicalised again); a text that no longer parses is returned unchanged.
std::string recanonicalized(const std::string& canonical);

// The canonical tree (see docs/dsl.md, "Canonical form", for what is and is not normalised). Idempotent.
NodePtr canonicalize(const NodePtr& rule);

// to_infix(canonicalize(rule)).
std::string canonical_text(const NodePtr& rule);

// 64-bit FNV-1a of the canonical text; equal for every spelling of the same canonical rule.
uint64_t rule_hash(const NodePtr& rule);
std::string hash_hex(uint64_t hash);  // 16 lowercase hex digits

}  // namespace nos::dsl
