// The probe: rules that compute the same updates share a fingerprint whatever their text, different ones do not
// (even when they differ only late, only through a decay, or only on sign changes), the probe is deterministic, and
// its verdict rejects junk without training.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <string>
#include <utility>
#include <vector>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

Fingerprint of(const std::string& rule) { return fingerprint(compile(parse(rule))); }

TEST(Probe, EquivalentRulesShareAFingerprint) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"g*g", "g2"},                    // a product and the operand
      {"sign(adam)", "sign(m)"},        // m̂/(√v̂ + ε) has m's sign
      {"sign(m)/1", "sign(m)"},         // `/` adds 1e-8
      {"sqrt(g2)", "sign(g)*g"},        // |g| twice
      {"g + g", "2*g"},
      {"log(exp(g))", "g"},             // exp and log undo each other up to rounding
      {"m*sign(g)*sign(g)", "m*sign(g2)"},
      {"sign(g)*sign(m)", "sign(g*m)"},
      {"cd*g", "rd*g"},                 // one restart (n = 1) is the cosine decay at every step t < T
  };
  for (const auto& [a, b] : pairs) {
    const Fingerprint fa = of(a), fb = of(b);
    EXPECT_TRUE(same_function(fa, fb)) << a << " vs " << b;
    EXPECT_EQ(fa.key, fb.key) << a << " vs " << b;
  }
}

TEST(Probe, DifferentRulesDoNot) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"g", "m"},
      {"v(0.999)", "v(0.9999)"},       // a 0.3% difference in the average over the probe
      {"m(0.9)", "m(0.99)"},
      {"ld*g", "g"},                   // the same at the first step: only the decay schedule differs
      {"ld*g", "cd*g"},                // two schedules
      {"cd*g", "rd(3)*g"},
      {"sign(g)*g", "g"},              // the same wherever g > 0: they differ only on sign changes
      {"adam", "rmsprop"},
      {"g", "g + 0.001*w"},            // a weight term
      {"drop(g, 0.3)", "drop(g, 0.5)"},
  };
  for (const auto& [a, b] : pairs) EXPECT_FALSE(same_function(of(a), of(b))) << a << " vs " << b;
}

// Two calls give the same fingerprint, random primitives included (their streams are seeded per probe). The probe's
// 64 coordinates are far below ATen's parallel grain, so it runs on one thread whatever the thread count: there is
// no thread-count case to test (issue 37 withdrew that claim).
TEST(Probe, IsDeterministicAcrossCalls) {
  for (const std::string rule : {"exp(sign(g)*sign(m))*g", "drop(adam, 0.1)", "g + noise", "(1+cd*sign(g))*g"}) {
    const Fingerprint one = of(rule);
    const Fingerprint two = of(rule);
    EXPECT_EQ(one.directions, two.directions) << rule;
    EXPECT_EQ(one.key, two.key) << rule;
    EXPECT_EQ(one.directions.size(), static_cast<size_t>(kProbeSteps * kProbeSize));
  }
}

TEST(Probe, VerdictRejectsJunkAndKeepsDescentDirections) {
  for (const std::string good : {"g", "adam", "sign(m)", "exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g",
                                 "10*m", "rmsprop", "drop(g, 0.3)", "g + noise",
                                 // trained to the best rewards of issue 15's proxy, yet below 0.15 on the whole vector
                                 "drop(adam, 0.3)", "clip(g2, 1e-05) + drop(adam, 0.3)",
                                 // one-signed, yet it trained to 0.746 there
                                 "sign(sign(g) - sign(ld))"}) {
    const ProbeVerdict v = probe_verdict(of(good));
    EXPECT_TRUE(v.pass) << good << ": " << v.reason;
    EXPECT_GE(v.mean_cosine, kMinMeanCosine) << good;
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"-g", "away from the gradient"},      {"-adam", "away from the gradient"},
      {"w", "away from the gradient"},       {"1", "constant"},
      {"g2", "away from the gradient"},
      {"exp(exp(exp(g2)))", "not finite"},
      // Dead coordinates (g = 0 at every step) keep m at 0: log|m|·g is NaN there, and sign(m)^sign(anoise) is
      // 0^-1 wherever the noise is negative (it diverged on one seed in three on issue 15's proxy, where the search
      // had taken it for sign(m)).
      {"log(m)*g", "not finite"},
      {"sign(m)^sign(anoise)", "not finite"},
  };
  for (const auto& [rule, why] : bad) {
    const ProbeVerdict v = probe_verdict(of(rule));
    EXPECT_FALSE(v.pass) << rule << ": mean cosine " << v.mean_cosine;
    EXPECT_NE(v.reason.find(why), std::string::npos) << rule << ": " << v.reason;
  }
}

}  // namespace
}  // namespace nos::dsl
