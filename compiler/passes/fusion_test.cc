#include "compiler/passes/fusion.h"

#include "compiler/ir/fusion.h"
#include "compiler/ir/text.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::KernelCount;
using testing::RunPassOnText;
using testing::Trim;

// Golden test: the fused text, the kernel counts before and after, and the
// fused graph computing bit for bit what the original computes (for two
// values of the symbols).
void ExpectFusion(std::string_view input, std::string_view expected,
                  int kernels_before, int kernels_after,
                  FusionOptions options = {}) {
  EXPECT_EQ(KernelCount(input), kernels_before);
  Fusion pass(options);
  auto result = RunPassOnText(pass, input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(expected));
  EXPECT_EQ(result->changed, Trim(input) != Trim(expected));
  EXPECT_EQ(KernelCount(result->text), kernels_after);
  auto before = ir::ParseGraph(Trim(input));
  ASSERT_TRUE(before.ok());
  for (int64_t s0 : {1, 3}) {
    auto inputs = testing::RandomInputs(**before, /*seed=*/s0, {{"s0", s0}});
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    auto same = testing::SameOutputs(**before, *result->graph, *inputs);
    EXPECT_TRUE(same.ok()) << same;
  }
}

TEST(FusionTest, PointwiseChainIsOneKernel) {
  ExpectFusion(R"(
graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1]) {
  %add = aten::add.Tensor(%x, %b) : f32[4, 8]
  %mul = aten::mul.Tensor(%add, %c) : f32[4, 8]
  %relu = aten::relu.default(%mul) : f32[4, 8]
  %neg = aten::neg.default(%relu) : f32[4, 8]
  return (%neg)
}
)",
               R"(
graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1]) {
  %fused = kiln::fused.default([%x, %b, %c]) : f32[4, 8] {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1], [1], [0, -1]]
    graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1]) {
      %add = aten::add.Tensor(%x, %b) : f32[4, 8]
      %mul = aten::mul.Tensor(%add, %c) : f32[4, 8]
      %relu = aten::relu.default(%mul) : f32[4, 8]
      %neg = aten::neg.default(%relu) : f32[4, 8]
      return (%neg)
    }
  }
  return (%fused)
}
)",
               /*kernels_before=*/4, /*kernels_after=*/1);
}

TEST(FusionTest, DiamondsFuseButNotAcrossAMatmul) {
  ExpectFusion(R"(
graph(%x: f32[4, 8], %w: f32[8, 8]) {
  %e = aten::exp.default(%x) : f32[4, 8]
  %l = aten::log.default(%x) : f32[4, 8]
  %a = aten::add.Tensor(%e, %l) : f32[4, 8]
  %mm = aten::mm.default(%e, %w) : f32[4, 8]
  %s = aten::sub.Tensor(%a, %mm) : f32[4, 8]
  %t = aten::tanh.default(%s) : f32[4, 8]
  return (%t, %a)
}
)",
               R"(
graph(%x: f32[4, 8], %w: f32[8, 8]) {
  %fused = kiln::fused.default([%x]) : (f32[4, 8], f32[4, 8]) {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1]]
    graph(%x: f32[4, 8]) {
      %e = aten::exp.default(%x) : f32[4, 8]
      %l = aten::log.default(%x) : f32[4, 8]
      %a = aten::add.Tensor(%e, %l) : f32[4, 8]
      return (%e, %a)
    }
  }
  %mm = aten::mm.default(%fused#0, %w) : f32[4, 8]
  %fused_1 = kiln::fused.default([%fused#1, %mm]) : f32[4, 8] {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1], [0, 1]]
    graph(%fused_1: f32[4, 8], %mm: f32[4, 8]) {
      %s = aten::sub.Tensor(%fused_1, %mm) : f32[4, 8]
      %t = aten::tanh.default(%s) : f32[4, 8]
      return (%t)
    }
  }
  return (%fused_1, %fused#1)
}
)",
               /*kernels_before=*/6, /*kernels_after=*/3);
}

TEST(FusionTest, ReductionPrologueAndEpilogue) {
  ExpectFusion(R"(
graph(%x: f32[4, 8], %y: f32[8], %bias: f32[4]) {
  %mul = aten::mul.Tensor(%x, %y) : f32[4, 8]
  %exp = aten::exp.default(%mul) : f32[4, 8]
  %sum = aten::sum.dim_IntList(%exp, [1]) : f32[4]
  %div = aten::div.Tensor(%sum, 8) : f32[4]
  %add = aten::add.Tensor(%div, %bias) : f32[4]
  %kept = aten::sum.dim_IntList(%exp, [1], True) : f32[4, 1]
  %sub = aten::sub.Tensor(%exp, %kept) : f32[4, 8]
  return (%add, %sub)
}
)",
               R"(
graph(%x: f32[4, 8], %y: f32[8], %bias: f32[4]) {
  %fused = kiln::fused.default([%x, %y, %bias]) : (f32[4, 8], f32[4]) {
    kind=reduction, shape=[4, 8], reduce_dims=[1], input_dims=[[0, 1], [1], [0]]
    graph(%x: f32[4, 8], %y: f32[8], %bias: f32[4]) {
      %mul = aten::mul.Tensor(%x, %y) : f32[4, 8]
      %exp = aten::exp.default(%mul) : f32[4, 8]
      %sum = aten::sum.dim_IntList(%exp, [1]) : f32[4]
      %div = aten::div.Tensor(%sum, 8) : f32[4]
      %add = aten::add.Tensor(%div, %bias) : f32[4]
      return (%exp, %add)
    }
  }
  %fused_1 = kiln::fused.default([%fused#0]) : f32[4, 1] {
    kind=reduction, shape=[4, 8], reduce_dims=[1], input_dims=[[0, 1]]
    graph(%fused_0: f32[4, 8]) {
      %kept = aten::sum.dim_IntList(%fused_0, [1], True) : f32[4, 1]
      return (%kept)
    }
  }
  %fused_2 = kiln::fused.default([%fused#0, %fused_1]) : f32[4, 8] {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1], [0, -1]]
    graph(%fused_0: f32[4, 8], %fused_1: f32[4, 1]) {
      %sub = aten::sub.Tensor(%fused_0, %fused_1) : f32[4, 8]
      return (%sub)
    }
  }
  return (%fused#1, %fused_2)
}
)",
               /*kernels_before=*/7, /*kernels_after=*/3);
}

TEST(FusionTest, SymbolicShapesAndMultiOutputAnchors) {
  ExpectFusion(R"(
graph(%x: f32[s0, 8], %v: f32[8], %m: b8[s0, 8]) {
  %ev = aten::exp.default(%v) : f32[8]
  %add = aten::add.Tensor(%x, %ev) : f32[s0, 8]
  %w = aten::where.self(%m, %add, 0.0) : f32[s0, 8]
  %mx = aten::max.dim(%w, 1) : (f32[s0], i64[s0])
  %sig = aten::sigmoid.default(%mx#0) : f32[s0]
  %f = aten::mul.Tensor(%mx#1, 2) : i64[s0]
  return (%sig, %f)
}
)",
               R"(
graph(%x: f32[s0, 8], %v: f32[8], %m: b8[s0, 8]) {
  %fused = kiln::fused.default([%v]) : f32[8] {
    kind=pointwise, shape=[8], input_dims=[[0]]
    graph(%v: f32[8]) {
      %ev = aten::exp.default(%v) : f32[8]
      return (%ev)
    }
  }
  %fused_1 = kiln::fused.default([%x, %fused, %m]) : (f32[s0], i64[s0]) {
    kind=reduction, shape=[s0, 8], reduce_dims=[1], input_dims=[[0, 1], [1], [0, 1]]
    graph(%x: f32[s0, 8], %fused: f32[8], %m: b8[s0, 8]) {
      %add = aten::add.Tensor(%x, %fused) : f32[s0, 8]
      %w = aten::where.self(%m, %add, 0.0) : f32[s0, 8]
      %mx = aten::max.dim(%w, 1) : (f32[s0], i64[s0])
      %sig = aten::sigmoid.default(%mx#0) : f32[s0]
      %f = aten::mul.Tensor(%mx#1, 2) : i64[s0]
      return (%sig, %f)
    }
  }
  return (%fused_1#0, %fused_1#1)
}
)",
               /*kernels_before=*/6, /*kernels_after=*/2);
}

}  // namespace
}  // namespace kiln::passes
