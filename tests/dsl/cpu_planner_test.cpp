// The CPU planner's passes, each on a rule whose plan is known by hand (the kernel's results are fused_test's job).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "dsl/cpu_planner.h"
#include "dsl/dsl.h"

namespace nos::dsl::cpu {
namespace {

// A plan for one float32 element at step t = 0 of T = 2 (ld = 1, the corrections of β = 0.9 apply).
struct Planned {
  Program program;
  Plan plan;
  std::vector<at::Tensor> keep_alive;
};

Planned plan_of(const std::string& rule, bool bias_correction = true) {
  Planned p{compile(parse(rule)), {}, {}};
  at::Tensor w = at::zeros({1}), g = at::ones({1});
  std::vector<at::Tensor> averages = p.program.zero_averages(w);
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  const StepContext ctx{0, /*total_steps=*/2, bias_correction, &gen};
  p.plan = make_plan(p.program, w, g, averages, ctx, UpdateArgs{1.0, 0.0}, p.keep_alive);
  return p;
}

// The index of the first instruction computing `prim` (-1 if none).
int find(const Plan& plan, Prim prim) {
  for (size_t k = 0; k < plan.code.size(); ++k) {
    if (plan.code[k].prim == prim) return static_cast<int>(k);
  }
  return -1;
}

TEST(CpuPlanner, FoldsScalarsInDouble) {
  const Planned p = plan_of("(ld + 1)*g");
  const int sum = find(p.plan, Prim::kAdd);
  ASSERT_GE(sum, 0);
  EXPECT_TRUE(p.plan.code[sum].scalar);
  EXPECT_EQ(p.plan.code[sum].value, 2.0);  // ld = 1 at t = 0
  EXPECT_FALSE(p.plan.code.back().scalar);
}

TEST(CpuPlanner, AliasesValuesInMemory) {
  const Planned sgd = plan_of("g");
  EXPECT_EQ(sgd.plan.code.back().alias, 0);
  EXPECT_EQ(sgd.plan.alias_source.back(), kSourceGrad);
  // m̂ is the buffer itself only without a correction to multiply by.
  EXPECT_EQ(plan_of("m", /*bias_correction=*/false).plan.alias_source.back(), kSourceAverage);
  EXPECT_EQ(plan_of("m").plan.code.back().alias, -1);
  // Random tensors are drawn before the pass and read where they are.
  const Planned noisy = plan_of("noise*g");
  EXPECT_EQ(noisy.plan.random_data.size(), 1u);
  EXPECT_EQ(noisy.plan.alias_source[find(noisy.plan, Prim::kNoise)], kSourceRandom);
}

TEST(CpuPlanner, FindsPowerSignsSelects) {
  const Planned p = plan_of("exp(sign(g)*sign(m))*g");
  const int pair = find(p.plan, Prim::kMul);
  const int e = find(p.plan, Prim::kExp);
  ASSERT_GE(pair, 0);
  ASSERT_GE(e, 0);
  EXPECT_EQ(p.plan.code[pair].select, KernelInstr::kSelectOddPair);
  EXPECT_EQ(p.plan.code[e].select, KernelInstr::kSelectExact);
  EXPECT_EQ(p.plan.code[e].sources, 2);
  // sign(m̂) = sign(m): the raw average is a source.
  EXPECT_TRUE(p.plan.code[e].source_average[0] || p.plan.code[e].source_average[1]);
}

TEST(CpuPlanner, RecomputesACorrectedAverageInItsReader) {
  const Planned p = plan_of("2*m + g");
  const int m = find(p.plan, Prim::kM);
  const int scaled = find(p.plan, Prim::kMul);
  ASSERT_GE(m, 0);
  ASSERT_GE(scaled, 0);
  const KernelInstr& in = p.plan.code[scaled];
  const KernelInstr::Fetch& f = p.plan.code[in.a].scalar ? in.fetch_b : in.fetch_a;
  EXPECT_EQ(f.kind, KernelInstr::Fetch::kScaledAverage);
  EXPECT_TRUE(p.plan.code[m].inlined);
}

TEST(CpuPlanner, ReusesBlockBuffers) {
  // PowerSign needs no buffer (one pass); exp(g)·log|g| + sqrt|g| keeps two values live at once.
  EXPECT_EQ(plan_of("exp(sign(g)*sign(m))*g").plan.slots, 0);
  const Planned p = plan_of("exp(g)*log(g) + sqrt(g)");
  ASSERT_EQ(p.program.canonical_text(), "exp(g)*log(g) + sqrt(g)");
  EXPECT_EQ(p.plan.slots, 2);  // exp(g) and log|g|; their product and sqrt|g| take their buffers after them
}

}  // namespace
}  // namespace nos::dsl::cpu
