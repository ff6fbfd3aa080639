#include "compiler/passes/memory_planning.h"

#include "compiler/ir/text.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::RunPassOnText;
using testing::Trim;

std::string Plan(std::string_view input) {
  MemoryPlanning pass;
  auto result = RunPassOnText(pass, input);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return "";
  auto check = testing::CheckMemoryPlan(*result->graph);
  EXPECT_TRUE(check.ok()) << check;
  return result->text;
}

TEST(MemoryPlanningTest, ChainReusesSlots) {
  EXPECT_EQ(Plan(R"(
graph(%x: f32[4, 4]) {
  %a = aten::exp.default(%x) : f32[4, 4]
  %b = aten::neg.default(%a) : f32[4, 4]
  %c = aten::log.default(%b) : f32[4, 4]
  %d = aten::tanh.default(%c) : f32[4, 4]
  %e = aten::sigmoid.default(%d) : f32[4, 4]
  return (%e)
}
)"),
            Trim(R"(
graph(%x: f32[4, 4]) {
  %a = aten::exp.default(%x) : f32[4, 4]  // slot 0
  %b = aten::neg.default(%a) : f32[4, 4]  // slot 1
  %c = aten::log.default(%b) : f32[4, 4]  // slot 0
  %d = aten::tanh.default(%c) : f32[4, 4]  // slot 1
  %e = aten::sigmoid.default(%d) : f32[4, 4]
  return (%e)
}
// memory plan: peak 128 bytes in 2 slots (unshared 256 bytes)
//   slot 0: 64 bytes at 0
//   slot 1: 64 bytes at 64
)"));
}

TEST(MemoryPlanningTest, ViewsExtendLifetimesAndOutputsEscape) {
  // %a lives as long as its view %v is used; %b is returned through a view
  // and is not planned; %s (a smaller buffer) takes a free slot.
  EXPECT_EQ(Plan(R"(
graph(%x: f32[4, 4], %w: f32[4, 4]) {
  %a = aten::exp.default(%x) : f32[4, 4]
  %v = aten::view.default(%a, [16]) : f32[16]
  %b = aten::neg.default(%x) : f32[4, 4]
  %bv = aten::view.default(%b, [16]) : f32[16]
  %c = aten::mm.default(%b, %w) : f32[4, 4]
  %s = aten::sum.dim_IntList(%c, [1]) : f32[4]
  %u = aten::sum.default(%v) : f32[]
  %r = aten::mul.Tensor(%s, %u) : f32[4]
  return (%r, %bv)
}
)"),
            Trim(R"(
graph(%x: f32[4, 4], %w: f32[4, 4]) {
  %a = aten::exp.default(%x) : f32[4, 4]  // slot 0
  %v = aten::view.default(%a, [16]) : f32[16]
  %b = aten::neg.default(%x) : f32[4, 4]
  %bv = aten::view.default(%b, [16]) : f32[16]
  %c = aten::mm.default(%b, %w) : f32[4, 4]  // slot 1
  %s = aten::sum.dim_IntList(%c, [1]) : f32[4]  // slot 2
  %u = aten::sum.default(%v) : f32[]  // slot 1
  %r = aten::mul.Tensor(%s, %u) : f32[4]
  return (%r, %bv)
}
// memory plan: peak 192 bytes in 3 slots (unshared 256 bytes)
//   slot 0: 64 bytes at 0
//   slot 1: 64 bytes at 64
//   slot 2: 64 bytes at 128
)"));
}

TEST(MemoryPlanningTest, SymbolicSizesShareSlotsWithMax) {
  EXPECT_EQ(Plan(R"(
graph(%x: f32[s0, 8], %y: f32[8]) {
  %a = aten::exp.default(%x) : f32[s0, 8]
  %b = aten::sum.dim_IntList(%a, [0]) : f32[8]
  %c = aten::add.Tensor(%b, %y) : f32[8]
  %d = aten::mul.Tensor(%x, %c) : f32[s0, 8]
  %e = aten::neg.default(%d) : f32[s0, 8]
  return (%e)
}
)"),
            Trim(R"(
graph(%x: f32[s0, 8], %y: f32[8]) {
  %a = aten::exp.default(%x) : f32[s0, 8]  // slot 0
  %b = aten::sum.dim_IntList(%a, [0]) : f32[8]  // slot 1
  %c = aten::add.Tensor(%b, %y) : f32[8]  // slot 0
  %d = aten::mul.Tensor(%x, %c) : f32[s0, 8]  // slot 1
  %e = aten::neg.default(%d) : f32[s0, 8]
  return (%e)
}
// memory plan: peak 2*Max(64*FloorDiv(32*s0 + 63, 64), 64) bytes in 2 slots (unshared 128*FloorDiv(32*s0 + 63, 64) + 128 bytes)
//   slot 0: Max(64*FloorDiv(32*s0 + 63, 64), 64) bytes at 0
//   slot 1: Max(64*FloorDiv(32*s0 + 63, 64), 64) bytes at Max(64*FloorDiv(32*s0 + 63, 64), 64)
)"));
}

TEST(MemoryPlanningTest, InPlaceWritesKeepTheirSourceAlive) {
  // copy_ writes into the input %x: %a must live until the copy.
  EXPECT_EQ(Plan(R"(
graph(%x: f32[4], %y: f32[4]) {
  %a = aten::exp.default(%y) : f32[4]
  %b = aten::neg.default(%y) : f32[4]
  %c = aten::log.default(%b) : f32[4]
  %w = aten::copy_.default(%x, %a) : f32[4]
  return (%c)
}
)"),
            Trim(R"(
graph(%x: f32[4], %y: f32[4]) {
  %a = aten::exp.default(%y) : f32[4]  // slot 0
  %b = aten::neg.default(%y) : f32[4]  // slot 1
  %c = aten::log.default(%b) : f32[4]
  %w = aten::copy_.default(%x, %a) : f32[4]
  return (%c)
}
// memory plan: peak 128 bytes in 2 slots (unshared 128 bytes)
//   slot 0: 64 bytes at 0
//   slot 1: 64 bytes at 64
)"));
}

TEST(MemoryPlanningTest, FusedKernelOutputsAreBuffers) {
  // Both outputs of %fused are live at %mm; the kernel bodies' values are
  // never materialized.
  EXPECT_EQ(Plan(R"(
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
  return (%fused_1)
}
)"),
            Trim(R"(
graph(%x: f32[4, 8], %w: f32[8, 8]) {
  %fused = kiln::fused.default([%x]) : (f32[4, 8], f32[4, 8]) {  // slots 0, 1
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1]]
    graph(%x: f32[4, 8]) {
      %e = aten::exp.default(%x) : f32[4, 8]
      %l = aten::log.default(%x) : f32[4, 8]
      %a = aten::add.Tensor(%e, %l) : f32[4, 8]
      return (%e, %a)
    }
  }
  %mm = aten::mm.default(%fused#0, %w) : f32[4, 8]  // slot 2
  %fused_1 = kiln::fused.default([%fused#1, %mm]) : f32[4, 8] {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1], [0, 1]]
    graph(%fused_1: f32[4, 8], %mm: f32[4, 8]) {
      %s = aten::sub.Tensor(%fused_1, %mm) : f32[4, 8]
      %t = aten::tanh.default(%s) : f32[4, 8]
      return (%t)
    }
  }
  return (%fused_1)
}
// memory plan: peak 384 bytes in 3 slots (unshared 384 bytes)
//   slot 0: 128 bytes at 0
//   slot 1: 128 bytes at 128
//   slot 2: 128 bytes at 256
)"));
}

TEST(MemoryPlanningTest, RunningTwiceChangesNothing) {
  MemoryPlanning pass;
  auto result = RunPassOnText(pass, R"(
graph(%x: f32[4]) {
  %a = aten::exp.default(%x) : f32[4]
  %b = aten::neg.default(%a) : f32[4]
  return (%b)
}
)");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->changed);
  auto again = pass.Run(*result->graph);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(ir::PrintGraph(*result->graph), result->text);
}

}  // namespace
}  // namespace kiln::passes
