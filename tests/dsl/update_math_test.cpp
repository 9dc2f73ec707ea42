// What every execution path computes alike, defined once: the table's folds and reads, update_math.h's scalars.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "dsl/dsl.h"
#include "dsl/update_math.h"

namespace nos::dsl {
namespace {

TEST(UpdateMath, PowShortcutsAreAtenSpecialExponents) {
  EXPECT_EQ(pow_shortcut(0), PowShortcut::kOne);
  EXPECT_EQ(pow_shortcut(1), PowShortcut::kIdentity);
  EXPECT_EQ(pow_shortcut(0.5), PowShortcut::kSqrt);
  EXPECT_EQ(pow_shortcut(2), PowShortcut::kSquare);
  EXPECT_EQ(pow_shortcut(3), PowShortcut::kCube);
  EXPECT_EQ(pow_shortcut(-0.5), PowShortcut::kRsqrt);
  EXPECT_EQ(pow_shortcut(-1), PowShortcut::kReciprocal);
  EXPECT_EQ(pow_shortcut(-2), PowShortcut::kReciprocalSquare);
  EXPECT_EQ(pow_shortcut(0.25), PowShortcut::kNone);
  EXPECT_EQ(pow_shortcut(-3), PowShortcut::kNone);
}

TEST(UpdateMath, BiasCorrectionAtTheFirstUpdate) {
  // Kingma & Ba 2015: m̂ = m/(1 − β^t); at t = 1 with β = 0.9 that is m/0.1.
  const BiasCorrection c = bias_correction(0.9, 1, true);
  EXPECT_TRUE(c.applies());
  EXPECT_EQ(c.correction, 1.0 - 0.9);
  EXPECT_EQ(c.scale, 1.0 / (1.0 - 0.9));
  EXPECT_EQ(c.sqrt_scale, 1.0 / std::sqrt(1.0 - 0.9));
  // Off, or β = 0: nothing to multiply by.
  EXPECT_FALSE(bias_correction(0.9, 1, false).applies());
  EXPECT_EQ(bias_correction(0.9, 1, false).scale, 1.0);
  EXPECT_FALSE(bias_correction(0.0, 5, true).applies());
}

TEST(UpdateMath, WeightDecayThenApplyAsAddWithAlpha) {
  auto fma = [](double x, double a, double y) { return std::fma(x, a, y); };
  EXPECT_EQ(decayed_gradient(1.0, 2.0, 0.5, fma), 2.0);   // g + wd·w = 1 + 0.5·2
  EXPECT_EQ(applied_update(3.0, 2.0, -0.25, fma), 2.5);  // w − lr·d = 3 − 0.25·2
}

TEST(PrimitiveTable, FoldsAreWhatCanonicalFormAndTheKernelsFold) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(primitive(Prim::kSign).fold({nan}), 0.0);  // ATen's sign(NaN)
  EXPECT_EQ(primitive(Prim::kSign).fold({-0.0}), 0.0);
  EXPECT_EQ(primitive(Prim::kDiv).fold({1.0, 0.0}), 1.0 / kDivEpsilon);
  EXPECT_EQ(primitive(Prim::kLD).fold({0, 0, nan, 5, 10}), 0.5);
  for (const Primitive& p : primitives()) {
    // A random primitive or one whose value is a tensor has no value on plain numbers.
    const bool scalar_operand = p.uses_decay || p.prim == Prim::kConst || p.prim == Prim::kT;
    const bool tensor_operand = p.role == Role::kOperand && !scalar_operand;
    // A reduction's value depends on the tensor (its size), not on a number alone.
    const bool reduction = p.prim == Prim::kNorm || p.prim == Prim::kTrust;
    EXPECT_EQ(p.fold == nullptr, p.random || tensor_operand || reduction) << p.token;
  }
}

TEST(PrimitiveTable, ReadsNameTheAveragesEachOperandNeeds) {
  EXPECT_TRUE(is_average(Prim::kM));
  EXPECT_TRUE(is_average(Prim::kY));
  EXPECT_FALSE(is_average(Prim::kAdam));
  EXPECT_FALSE(is_average(Prim::kRMSProp));
  EXPECT_FALSE(is_average(Prim::kG));
  const std::vector<Average> adam = required_averages(*parse("adam + m(0.5)"));
  ASSERT_EQ(adam.size(), 3u);
  EXPECT_EQ(average_name(adam[0]), "m(0.5)");
  EXPECT_EQ(average_name(adam[1]), "m(0.9)");
  EXPECT_EQ(average_name(adam[2]), "v(0.999)");
  const std::vector<Average> rmsprop = required_averages(*parse("rmsprop"));
  ASSERT_EQ(rmsprop.size(), 1u);
  EXPECT_EQ(average_name(rmsprop[0]), "v(0.999)");
}

}  // namespace
}  // namespace nos::dsl
