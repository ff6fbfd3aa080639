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

TEST(FusionTest, SoftmaxWithPrologueAndEpilogue) {
  ExpectFusion(R"(
graph(%x: f32[2, 5, 5], %mask: f32[5, 5], %v: f32[2, 5, 8]) {
  %div = aten::div.Tensor(%x, 2.8284271247461903) : f32[2, 5, 5]
  %add = aten::add.Tensor(%div, %mask) : f32[2, 5, 5]
  %sm = aten::_softmax.default(%add, -1, False) : f32[2, 5, 5]
  %half = aten::mul.Tensor(%sm, 0.5) : f32[2, 5, 5]
  %bmm = aten::bmm.default(%half, %v) : f32[2, 5, 8]
  return (%bmm)
}
)",
               R"(
graph(%x: f32[2, 5, 5], %mask: f32[5, 5], %v: f32[2, 5, 8]) {
  %fused = kiln::fused.default([%x, %mask]) : f32[2, 5, 5] {
    kind=softmax, shape=[2, 5, 5], reduce_dims=[2], input_dims=[[0, 1, 2], [1, 2]]
    graph(%x: f32[2, 5, 5], %mask: f32[5, 5]) {
      %div = aten::div.Tensor(%x, 2.8284271247461903) : f32[2, 5, 5]
      %add = aten::add.Tensor(%div, %mask) : f32[2, 5, 5]
      %sm = aten::_softmax.default(%add, -1, False) : f32[2, 5, 5]
      %half = aten::mul.Tensor(%sm, 0.5) : f32[2, 5, 5]
      return (%half)
    }
  }
  %bmm = aten::bmm.default(%fused, %v) : f32[2, 5, 8]
  return (%bmm)
}
)",
               /*kernels_before=*/5, /*kernels_after=*/2);
}

TEST(FusionTest, LayerNormWithResidualPrologueAndEpilogue) {
  ExpectFusion(R"(
graph(%x: f32[2, 5, 16], %res: f32[2, 5, 16], %w: f32[16], %b: f32[16]) {
  %add = aten::add.Tensor(%x, %res) : f32[2, 5, 16]
  %ln = aten::native_layer_norm.default(%add, [16], %w, %b, 1e-05) : (f32[2, 5, 16], f32[2, 5, 1], f32[2, 5, 1])
  %relu = aten::relu.default(%ln#0) : f32[2, 5, 16]
  %scaled = aten::mul.Tensor(%relu, 2.0) : f32[2, 5, 16]
  return (%scaled, %ln#1, %ln#2)
}
)",
               R"(
graph(%x: f32[2, 5, 16], %res: f32[2, 5, 16], %w: f32[16], %b: f32[16]) {
  %fused = kiln::fused.default([%x, %res, %w, %b]) : (f32[2, 5, 1], f32[2, 5, 1], f32[2, 5, 16]) {
    kind=layer_norm, shape=[2, 5, 16], reduce_dims=[2], input_dims=[[0, 1, 2], [0, 1, 2], [2], [2]]
    graph(%x: f32[2, 5, 16], %res: f32[2, 5, 16], %w: f32[16], %b: f32[16]) {
      %add = aten::add.Tensor(%x, %res) : f32[2, 5, 16]
      %ln = aten::native_layer_norm.default(%add, [16], %w, %b, 1e-05) : (f32[2, 5, 16], f32[2, 5, 1], f32[2, 5, 1])
      %relu = aten::relu.default(%ln#0) : f32[2, 5, 16]
      %scaled = aten::mul.Tensor(%relu, 2.0) : f32[2, 5, 16]
      return (%ln#1, %ln#2, %scaled)
    }
  }
  return (%fused#2, %fused#0, %fused#1)
}
)",
               /*kernels_before=*/4, /*kernels_after=*/1);
}

TEST(FusionTest, LogSoftmaxThenReduction) {
  ExpectFusion(R"(
graph(%x: f32[6, 4], %b: f32[4]) {
  %add = aten::add.Tensor(%x, %b) : f32[6, 4]
  %tanh = aten::tanh.default(%add) : f32[6, 4]
  %ls = aten::_log_softmax.default(%tanh, 1, False) : f32[6, 4]
  %neg = aten::neg.default(%ls) : f32[6, 4]
  %sum = aten::sum.dim_IntList(%neg, [1]) : f32[6]
  return (%sum)
}
)",
               R"(
graph(%x: f32[6, 4], %b: f32[4]) {
  %fused = kiln::fused.default([%x, %b]) : f32[6, 4] {
    kind=softmax, shape=[6, 4], reduce_dims=[1], input_dims=[[0, 1], [1]]
    graph(%x: f32[6, 4], %b: f32[4]) {
      %add = aten::add.Tensor(%x, %b) : f32[6, 4]
      %tanh = aten::tanh.default(%add) : f32[6, 4]
      %ls = aten::_log_softmax.default(%tanh, 1, False) : f32[6, 4]
      %neg = aten::neg.default(%ls) : f32[6, 4]
      return (%neg)
    }
  }
  %fused_1 = kiln::fused.default([%fused]) : f32[6] {
    kind=reduction, shape=[6, 4], reduce_dims=[1], input_dims=[[0, 1]]
    graph(%fused: f32[6, 4]) {
      %sum = aten::sum.dim_IntList(%fused, [1]) : f32[6]
      return (%sum)
    }
  }
  return (%fused_1)
}
)",
               /*kernels_before=*/5, /*kernels_after=*/2);
}

TEST(FusionTest, DifferentSizesDoNotFuse) {
  ExpectFusion(R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %e = aten::exp.default(%x) : f32[8]
  %a = aten::add.Tensor(%e, %y) : f32[4, 8]
  %s = aten::sum.dim_IntList(%a, [0]) : f32[8]
  %n = aten::neg.default(%s) : f32[8]
  return (%n)
}
)",
               R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %fused = kiln::fused.default([%x]) : f32[8] {
    kind=pointwise, shape=[8], input_dims=[[0]]
    graph(%x: f32[8]) {
      %e = aten::exp.default(%x) : f32[8]
      return (%e)
    }
  }
  %fused_1 = kiln::fused.default([%fused, %y]) : f32[8] {
    kind=reduction, shape=[4, 8], reduce_dims=[0], input_dims=[[1], [0, 1]]
    graph(%fused: f32[8], %y: f32[4, 8]) {
      %a = aten::add.Tensor(%fused, %y) : f32[4, 8]
      %s = aten::sum.dim_IntList(%a, [0]) : f32[8]
      %n = aten::neg.default(%s) : f32[8]
      return (%n)
    }
  }
  return (%fused_1)
}
)",
               /*kernels_before=*/4, /*kernels_after=*/2);
}

TEST(FusionTest, NodesReadingScalarInputsStayOutside) {
  // Kernels take tensors: the mul by the float graph input %a splits the
  // chain.
  ExpectFusion(R"(
graph(%x: f32[4], %a: float) {
  %e = aten::exp.default(%x) : f32[4]
  %m = aten::mul.Tensor(%e, %a) : f32[4]
  %n = aten::neg.default(%m) : f32[4]
  return (%n)
}
)",
               R"(
graph(%x: f32[4], %a: float) {
  %fused = kiln::fused.default([%x]) : f32[4] {
    kind=pointwise, shape=[4], input_dims=[[0]]
    graph(%x: f32[4]) {
      %e = aten::exp.default(%x) : f32[4]
      return (%e)
    }
  }
  %m = aten::mul.Tensor(%fused, %a) : f32[4]
  %fused_1 = kiln::fused.default([%m]) : f32[4] {
    kind=pointwise, shape=[4], input_dims=[[0]]
    graph(%m: f32[4]) {
      %n = aten::neg.default(%m) : f32[4]
      return (%n)
    }
  }
  return (%fused_1)
}
)",
               /*kernels_before=*/3, /*kernels_after=*/3);
}

TEST(FusionTest, KernelsDoNotSpanWritesToInputs) {
  // %b reads %x after copy_ wrote it; %a is read by the copy. Fusing all
  // three pointwise nodes would read %x before the write.
  ExpectFusion(R"(
graph(%x: f32[4], %y: f32[4]) {
  %a = aten::exp.default(%y) : f32[4]
  %w = aten::copy_.default(%x, %a) : f32[4]
  %b = aten::neg.default(%x) : f32[4]
  %c = aten::add.Tensor(%a, %b) : f32[4]
  return (%c)
}
)",
               R"(
graph(%x: f32[4], %y: f32[4]) {
  %fused = kiln::fused.default([%y]) : f32[4] {
    kind=pointwise, shape=[4], input_dims=[[0]]
    graph(%y: f32[4]) {
      %a = aten::exp.default(%y) : f32[4]
      return (%a)
    }
  }
  %w = aten::copy_.default(%x, %fused) : f32[4]
  %fused_1 = kiln::fused.default([%x, %fused]) : f32[4] {
    kind=pointwise, shape=[4], input_dims=[[0], [0]]
    graph(%x: f32[4], %fused: f32[4]) {
      %b = aten::neg.default(%x) : f32[4]
      %c = aten::add.Tensor(%fused, %b) : f32[4]
      return (%c)
    }
  }
  return (%fused_1)
}
)",
               /*kernels_before=*/4, /*kernels_after=*/3);
}

TEST(FusionTest, OptionsTurnPartsOff) {
  // Without single-node kernels, the exp stays a plain node; without
  // anchors, the sum stays alone.
  constexpr char kInput[] = R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %e = aten::exp.default(%x) : f32[8]
  %a = aten::add.Tensor(%e, %y) : f32[4, 8]
  %s = aten::sum.dim_IntList(%a, [0]) : f32[8]
  %n = aten::neg.default(%s) : f32[8]
  return (%n)
}
)";
  ExpectFusion(kInput, R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %e = aten::exp.default(%x) : f32[8]
  %fused = kiln::fused.default([%e, %y]) : f32[8] {
    kind=reduction, shape=[4, 8], reduce_dims=[0], input_dims=[[1], [0, 1]]
    graph(%e: f32[8], %y: f32[4, 8]) {
      %a = aten::add.Tensor(%e, %y) : f32[4, 8]
      %s = aten::sum.dim_IntList(%a, [0]) : f32[8]
      %n = aten::neg.default(%s) : f32[8]
      return (%n)
    }
  }
  return (%fused)
}
)",
               4, 2, {.wrap_single_nodes = false});
  ExpectFusion(kInput, R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %e = aten::exp.default(%x) : f32[8]
  %a = aten::add.Tensor(%e, %y) : f32[4, 8]
  %s = aten::sum.dim_IntList(%a, [0]) : f32[8]
  %n = aten::neg.default(%s) : f32[8]
  return (%n)
}
)",
               4, 4, {.fuse_anchors = false, .wrap_single_nodes = false});
}

}  // namespace
}  // namespace kiln::passes
