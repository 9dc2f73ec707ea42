// The fused kernel against the reference path: every primitive, float32 and float64, odd sizes, strided and
// channels-last parameters, weight decay, reproducible randomness.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <tuple>
#include <utility>
#include <string>
#include <vector>

#include "dsl/cuda_codegen.h"
#include "dsl/dsl.h"
#include "dsl/update.h"
#include "tests/dsl/agreement.h"

namespace nos::dsl {
namespace {

using namespace agreement;

// The bound the fused path keeps to: ATen computes the tail of a tensor (numel mod 8 elements) with scalar code
// (std::exp rather than SLEEF, no FMA), so an element there may differ by an ulp or two, and a rule can compound
// a few such differences.
constexpr int64_t kMaxUlp = 4;

class FusedEveryPrimitive : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(FusedEveryPrimitive, AgreesWithTheReferenceAtOddSizes) {
  const at::ScalarType dtype = GetParam();
  const std::vector<std::string> rules = rules_for_every_primitive();
  ASSERT_GT(rules.size(), 90u);
  int64_t worst = 0;
  std::string worst_rule;
  // (1 << 17) + 3 elements: 64 blocks of kBlock, 4 tasks of at::parallel_for (32 Ki grain) and a tail.
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, int64_t{(1 << 17) + 3}}) {
    at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
    for (const std::string& rule : rules) {
      SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n));
      // The large size takes one step (the kernel's blocks and threads are what it adds); the others three.
      const Compared c = compare(rule, dtype, like, 0.0, n > 100000 ? 0 : 3);
      EXPECT_LE(c.direction_ulp, kMaxUlp);
      EXPECT_LE(c.state_ulp, kMaxUlp);
      if (std::max(c.direction_ulp, c.state_ulp) > worst) {
        worst = std::max(c.direction_ulp, c.state_ulp);
        worst_rule = rule + " at size " + std::to_string(n);
      }
    }
  }
  std::cout << rules.size() << " rules, 4 sizes: largest difference " << worst << " ulp (" << worst_rule << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedEveryPrimitive, ::testing::Values(at::kFloat, at::kDouble),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

// The AVX2 build (auto takes AVX-512 where the CPU has it; elsewhere this runs the AVX2 build again): the same
// bound.
TEST(Fused, Avx2KernelAgreesToo) {
  set_fused_capability("avx2");
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {int64_t{7}, int64_t{1029}, int64_t{65541}}) {
      at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
      for (const std::string& rule : rules_for_every_primitive()) {
        SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n) + ", kernel " + fused_capability());
        const Compared c = compare(rule, dtype, like);
        EXPECT_LE(c.direction_ulp, kMaxUlp);
        EXPECT_LE(c.state_ulp, kMaxUlp);
      }
    }
  }
  set_fused_capability("auto");
}

// The baseline build of the kernel (what a CPU without AVX2 runs). Against ATen's baseline kernels (ctest runs this
// test a second time with ATEN_CPU_CAPABILITY=default) it keeps the ulp bound. Against ATen's AVX2 kernels, which
// fuse multiply-adds the baseline cannot, roundings differ and cancellations (m ← 0.9m + 0.1g near 0) magnify
// them in ulps, so there the test bounds the error relative to each tensor's scale.
TEST(Fused, BaselineKernelAgreesToo) {
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const bool strict = aten != nullptr && std::string(aten) == "default";
  set_fused_capability("default");
  EXPECT_EQ(fused_capability(), "default");
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (int64_t n : {int64_t{7}, int64_t{1029}}) {
      at::Tensor like = at::empty({n}, at::TensorOptions().dtype(dtype));
      for (const std::string& rule : rules_for_every_primitive()) {
        SCOPED_TRACE("rule " + rule + ", size " + std::to_string(n));
        const Compared c = compare(rule, dtype, like);
        if (strict) {
          EXPECT_LE(c.direction_ulp, kMaxUlp);
          EXPECT_LE(c.state_ulp, kMaxUlp);
        } else {
          EXPECT_TRUE(c.same_nonfinite);
          EXPECT_LT(c.normwise, dtype == at::kFloat ? 1e-5 : 1e-12);
        }
      }
    }
  }
  set_fused_capability("auto");
  EXPECT_THROW(set_fused_capability("avx1024"), UserError);
}

// Auto runs the widest build that an explicit choice accepts; a build refused on a CPU that has its instructions
// (asked of the CPU here, independently of the kernel's probe) is refused for lack of it in this build of nos.
TEST(Fused, AutoPicksTheWidestBuildThatRuns) {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  std::string widest = "default";
  for (const auto& [name, cpu_has] : {std::pair<std::string, bool>{"avx512", avx512}, {"avx2", avx2}}) {
    try {
      set_fused_capability(name);
      EXPECT_EQ(fused_capability(), name);
      EXPECT_TRUE(cpu_has) << name << " accepted on a CPU without it";
      if (widest == "default") widest = name;
    } catch (const UserError& e) {
      const std::string why = e.what();
      EXPECT_NE(why.find(cpu_has ? "build of nos" : "CPU lacks"), std::string::npos) << why;
    }
  }
  set_fused_capability("auto");
  EXPECT_EQ(fused_capability(), widest);
}

// An explicit build the CPU cannot run is an error, never a silent fall-back to a narrower one (a CPU without
// AVX-512 is simulated by limiting what the CPU is taken to run).
TEST(Fused, ExplicitBuildTheCpuLacksIsAnError) {
  limit_fused_capability_for_testing("avx2");
  try {
    set_fused_capability("avx512");
    ADD_FAILURE() << "avx512 was accepted on a CPU limited to AVX2; it runs " << fused_capability();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("avx512"), std::string::npos) << e.what();
  }
  EXPECT_NE(fused_capability(), "avx512");
  limit_fused_capability_for_testing("default");
  EXPECT_THROW(set_fused_capability("avx2"), UserError);
  EXPECT_EQ(fused_capability(), "default");
  set_fused_capability("default");
  EXPECT_EQ(fused_capability(), "default");
  limit_fused_capability_for_testing("avx512");
  set_fused_capability("auto");
}

TEST(Fused, ExactWhereATenHasNoScalarTail) {
  // A multiple of the vector width: ATen's kernels run vectorised throughout, with the same SLEEF calls and FMAs
  // as the kernel's AVX2 build (ATen 1.13 runs AVX2 kernels).
  set_fused_capability("avx2");
  at::Tensor like = at::empty({4096}, at::TensorOptions().dtype(at::kFloat));
  for (const char* rule : {"adam", "exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "10*m", "g/sqrt(v(0.99))"}) {
    SCOPED_TRACE(rule);
    const Compared c = compare(rule, at::kFloat, like, /*weight_decay=*/1e-4);
    EXPECT_EQ(c.direction_ulp, 0);
    EXPECT_EQ(c.state_ulp, 0);
  }
  set_fused_capability("auto");
}

TEST(Fused, WeightDecayIsAddedToTheGradient) {
  at::Tensor like = at::empty({1027}, at::TensorOptions().dtype(at::kDouble));
  for (const char* rule : {"g", "adam", "exp(sign(g)*sign(m))*g", "w*g"}) {
    SCOPED_TRACE(rule);
    const Compared c = compare(rule, at::kDouble, like, /*weight_decay=*/0.05);
    EXPECT_LE(c.direction_ulp, kMaxUlp);
    EXPECT_LE(c.state_ulp, kMaxUlp);
  }
}

TEST(Fused, StridedAndChannelsLastParameters) {
  const Program program = compile(parse("exp(sign(g)*sign(m))*g + 0.1*adam - w*ld"));
  for (const ViewRun& run : run_on_views(program, fused_path)) {
    SCOPED_TRACE(::testing::Message() << "sizes " << run.start.sizes() << " strides " << run.by_path.strides());
    EXPECT_LE(max_ulp(run.by_path, run.by_reference), kMaxUlp);
    EXPECT_FALSE(at::equal(run.by_path, run.start));  // it moved
  }
  expect_only_the_slice_changes(program, fused_path);
}

TEST(Fused, RandomRulesAreReproducibleForASeed) {
  at::Tensor like = at::empty({5000}, at::TensorOptions().dtype(at::kFloat));
  for (const char* rule : {"g + noise", "anoise*m", "drop(g, 0.5)", "drop(ld, 0.3)*g"}) {
    SCOPED_TRACE(rule);
    const Program program = compile(parse(rule));
    auto run = [&](uint64_t seed) {
      PathRun r(program, like.zero_(), seed);
      for (int64_t t = 0; t < 3; ++t) r.step(gradient({5000}, at::kFloat, t), t, {0.1, 0.0}, fused_path);
      return r.w;
    };
    EXPECT_TRUE(at::equal(run(3), run(3)));
    EXPECT_FALSE(at::equal(run(3), run(4)));
  }
}

TEST(Fused, EmptyParameterIsANoOp) {
  const Program program = compile(parse("adam"));
  at::Tensor w = at::empty({0, 4});
  std::vector<at::Tensor> averages = program.zero_averages(w);
  fused_update(program, w, at::empty({0, 4}), averages, {0, 0, true, nullptr}, {0.1, 0.0});
  EXPECT_EQ(w.numel(), 0);
}

TEST(Fused, ReasonsItDoesNotApply) {
  at::Tensor w = at::zeros({3});
  EXPECT_EQ(fused_unsupported_reason(w, at::zeros({3}), {}), "");
  EXPECT_NE(fused_unsupported_reason(w.to(at::kHalf), at::zeros({3}, at::kHalf), {}).find("dtype Half"),
            std::string::npos);
  EXPECT_NE(fused_unsupported_reason(w, at::zeros({4}), {}).find("gradient"), std::string::npos);
  EXPECT_NE(fused_unsupported_reason(w, at::zeros({3}), {at::zeros({3}, at::kDouble)}).find("moving average"),
            std::string::npos);
  // update() falls back to the reference path for what the kernel does not run.
  const Program program = compile(parse("g"));
  at::Tensor h = at::ones({3}, at::kHalf);
  std::vector<at::Tensor> none;
  update(program, h, at::ones({3}, at::kHalf), none, {0, 0, true, nullptr}, {0.5, 0.0});
  EXPECT_TRUE(at::equal(h, at::full({3}, 0.5, at::kHalf)));
}

TEST(Fused, NamesTheCapabilityItRuns) {
  const std::string cap = fused_capability();
  EXPECT_TRUE(cap == "avx512" || cap == "avx2" || cap == "default") << cap;
  set_fused_capability("avx2");
  const std::string narrower = fused_capability();
  EXPECT_TRUE(narrower == "avx2" || narrower == "default") << narrower;
  set_fused_capability("auto");
  EXPECT_EQ(fused_capability(), cap);
}


// The passes over a block: the named rules in one (their averages updated in the same pass, sign products
// chosen from three values), and a product kept as a tensor where its zeros' signs matter.
TEST(Fused, NamedRulesTakeOnePass) {
  auto passes = [](const std::string& rule, bool weight_decay = false) {
    return fused_shape(compile(parse(rule)), weight_decay).passes;
  };
  for (const char* r : {"g", "m", "adam", "rmsprop", "exp(sign(g)*sign(m))*g", "exp(cd*sign(g)*sign(m))*g",
                        "(1+sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "sign(m)*g", "m*g", "1"}) {
    EXPECT_EQ(passes(r), 1) << r;
  }
  EXPECT_EQ(passes("adam", true), 2);
  // pow(±0, −1) = ±inf: sign(g)·sign(m) is evaluated, then the pow.
  EXPECT_EQ(passes("(sign(g)*sign(m))^(-1)"), 2);
  // log is not recomputed per read: g + m, log|·| of it (in the same buffer), then the product with g.
  EXPECT_EQ(passes("log(g+m)*g"), 3);
  EXPECT_EQ(fused_shape(compile(parse("log(g+m)*g"))).buffers, 1);
  EXPECT_EQ(fused_shape(compile(parse("exp(sign(g)*sign(m))*g"))).buffers, 0);
}

}  // namespace
}  // namespace nos::dsl

namespace nos::dsl {
namespace {

// A rule with reductions (norm, trust) runs in stages, one per level of nesting and one that applies the update;
// its reductions are ATen's over the same operand, so a norm is the reference's to the bit (w = 0, lr = 1: the
// update is −‖g‖ everywhere, over several blocks and threads). The generated CUDA kernel has no form for them:
// elementwise_kernel refuses the rule with a UserError (on CUDA, dsl::update runs the reference path).
TEST(Fused, ReductionsRunInStages) {
  EXPECT_EQ(fused_shape(compile(parse("g*m"))).stages, 1);
  EXPECT_EQ(fused_shape(compile(parse("norm(g)*g"))).stages, 2);
  EXPECT_EQ(fused_shape(compile(parse("trust(adam(1e-6) + 0.01*w)"))).stages, 2);
  EXPECT_EQ(fused_shape(compile(parse("norm(w)/norm(g)*g"))).stages, 2);
  EXPECT_EQ(fused_shape(compile(parse("norm(norm(g)*m)*g"))).stages, 3);
  EXPECT_EQ(fused_shape(compile(parse("norm(trust(norm(g)*g))*sign(m)"))).stages, 4);
  // keep drops its second operand: no reduction is evaluated.
  EXPECT_EQ(fused_shape(compile(parse("keep(g, norm(m))"))).stages, 1);
  // Stage 1 copies g out, ATen reads it, stage 2 fills ‖g‖ and multiplies (applied as computed).
  EXPECT_EQ(fused_shape(compile(parse("norm(g)*g"))).passes, 4);
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    const Program program = compile(parse("norm(g)"));
    const at::Tensor g = agreement::gradient({(1 << 18) + 5}, dtype, 3);
    at::Tensor w1 = at::zeros_like(g), w2 = at::zeros_like(g);
    std::vector<at::Tensor> a1, a2;
    fused_update(program, w1, g, a1, {0, 10, true, nullptr}, {1.0, 0.0});
    reference_update(program, w2, g, a2, {0, 10, true, nullptr}, {1.0, 0.0});
    EXPECT_TRUE(at::equal(w1, w2));
    EXPECT_TRUE(at::equal(w1, at::full_like(g, -g.norm().item<double>())));
  }
  for (const char* rule : {"norm(g)*g", "trust(adam(1e-6) + 0.01*w)"}) {
    try {
      elementwise_kernel(compile(parse(rule)), at::kFloat, false);
      ADD_FAILURE() << rule << ": expected a UserError";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("reduction"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace nos::dsl

namespace nos::dsl {
namespace {

// radam's rectified branch starts at update 6 (ρ_t > 5), after the three steps of the agreement rules: ten steps of
// the fused kernel against the reference, both dtypes, within the same ulp bound.
TEST(Fused, RadamAndNadamAgreeOverTenSteps) {
  for (const char* rule : {"radam", "nadam", "radam(1e-6)*sign(m)"}) {
    for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
      SCOPED_TRACE(std::string(rule) + " " + c10::toString(dtype));
      const Program program = compile(parse(rule));
      ASSERT_FALSE(program.has_reduction());
      at::Tensor w1 = at::randn({1029}, at::TensorOptions().dtype(dtype)), w2 = w1.clone();
      std::vector<at::Tensor> a1 = program.zero_averages(w1), a2 = program.zero_averages(w2);
      for (int64_t t = 0; t < 10; ++t) {
        const at::Tensor g = at::randn({1029}, at::TensorOptions().dtype(dtype));
        fused_update(program, w1, g, a1, {t, 10, true, nullptr}, {0.01, 0.0});
        reference_update(program, w2, g, a2, {t, 10, true, nullptr}, {0.01, 0.0});
      }
      EXPECT_LE(agreement::max_ulp(w1, w2), 4);
      for (size_t i = 0; i < a1.size(); ++i) EXPECT_LE(agreement::max_ulp(a1[i], a2[i]), 4);
    }
  }
}

}  // namespace
}  // namespace nos::dsl
