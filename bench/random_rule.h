// Random rules for benchmarks, drawn from the search's token space: what a search's deep candidates look like.
#pragma once

#include <cstdint>
#include <string>

namespace nos::bench {

// The deepest random rule a benchmark takes, in units.
inline constexpr int kMaxRandomDepth = 12;

// A rule of `depth` units (1..kMaxRandomDepth) drawn uniformly from search::TokenSpace over the default vocabulary
// without the random tokens (noise, drop: the step must do the same work every time) and without id and keep
// (they make a unit shallower), seeded with `seed`; every unit is live (an unused unit k becomes op1 of unit
// k+1), so its binary functions nest `depth` deep. Returned as infix text (the units' tree as built, not
// simplified).
std::string random_rule(int depth, uint64_t seed);

// "random:DEPTH:SEED" (SEED defaults to 1) → random_rule(DEPTH, SEED); anything else as given. `where` names the
// spec in messages ("--rule random:x"); a bad depth or seed throws nos::UserError.
std::string bench_rule_text(const std::string& spec, const std::string& where);

}  // namespace nos::bench
