// A rule's behaviour on fixed probe sequences: its fingerprint (rules that compute the same updates share one,
// whatever their text: AutoML-Zero's functional-equivalence cache) and cheap facts about its updates (finite, sign,
// agreement with the gradient) that reject junk without training.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dsl/program.h"

namespace nos::dsl {

// The probe: kProbeSize coordinates over kProbeSteps steps (T = kProbeSteps, so ld, cd and rd run their whole
// course), in float64 on the reference path (Program::direction), with bias correction. Coordinate i has the
// gradient scale 10^(-4 + 0.75·(i mod 8)) (1e-4 … 18); three in four keep their gradient's sign from step to step
// (noise of ±50%; half of them positive, half negative, in each scale), one in four draws a fresh sign each step;
// one in sixteen has a zero gradient at every other step; two (one of each sign) are dead (zero at every step, as a
// ReLU unit that never fires).
// The weights are seeded N(0, 0.1²) with a small drift per step and are not moved by the rule (the probe reads
// directions, not a trajectory). Everything is drawn from a fixed seed by a generator of nos's own (splitmix64), so
// the probe is the same on every machine and LibTorch. Random primitives (noise, drop) draw from a CPU generator
// seeded 0: two random rules match only when they draw the same numbers for the same purpose.
inline constexpr int kProbeSteps = 16;
inline constexpr int64_t kProbeSize = 64;

// Two directions agree when |a − b| ≤ kProbeTolerance·max(|a|, |b|) (or both are below 1e-30, or both NaN, or the
// same infinity). 1e-6 merges what differs only by rounding or by the 1e-8 that `/` adds (`sign(m)/1` = `sign(m)`)
// and keeps apart rules whose updates differ by more (`v(0.999)` and `v(0.9999)` differ by 0.3% over the probe).
inline constexpr double kProbeTolerance = 1e-6;

struct Fingerprint {
  std::vector<double> directions;  // kProbeSteps × kProbeSize, step by step
  // A hash of a coarse rounding of some directions (sign and quarter decade, centred on the powers of ten): rules
  // with the same function have the same key (but for a direction within 1e-8 of a boundary, 10^((2k+1)/8)), so a
  // cache looks up candidates by it and then compares whole fingerprints with same_function.
  uint64_t key = 0;
};

// Runs the rule's whole update (moving averages, decays, weight terms) on the probe.
Fingerprint fingerprint(const Program& program);

// Whether two fingerprints agree in every direction (kProbeTolerance).
bool same_function(const Fingerprint& a, const Fingerprint& b);

// What a fingerprint says about a rule before any training. A rule is rejected when its updates are not finite,
// do not depend on the gradient at all (the same at every coordinate and step), or do not descend: the mean of cos(direction, gradient) below kMinMeanCosine (ENOS uses 0.15), the cosine taken within each
// group of coordinates of one gradient scale at each step (on the whole vector the largest scale decides alone, and
// adam-like rules, which equalise scales, score below 0.15: issue 15's measurement rejected drop(adam, 0.3) so).
inline constexpr double kMinMeanCosine = 0.15;
struct ProbeVerdict {
  bool pass = true;
  std::string reason;        // "" when pass; else why (e.g. "updates point uphill: mean cosine with g -0.98")
  double mean_cosine = 0;    // over the steps, of the whole direction with the whole gradient (0 for a zero step)
};
ProbeVerdict probe_verdict(const Fingerprint& fingerprint);

// The probe's gradient at `step` (kProbeSize values), as the fingerprint saw it.
std::vector<double> probe_gradient(int step);

}  // namespace nos::dsl
