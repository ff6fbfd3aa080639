#include "compiler/passes/constant_folding.h"

#include "compiler/ir/text.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::RunPassOnText;
using testing::Trim;

void ExpectGolden(std::string_view input, std::string_view expected,
                  bool changed, ConstantFoldingOptions options = {},
                  const sym::Bindings& bindings = {{"s0", 3}}) {
  ConstantFolding pass(options);
  auto result = RunPassOnText(pass, input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(expected));
  EXPECT_EQ(result->changed, changed);
  // Folding never changes what the graph computes.
  auto before = ir::ParseGraph(Trim(input));
  ASSERT_TRUE(before.ok());
  auto inputs = testing::RandomInputs(**before, /*seed=*/7, bindings);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_TRUE(testing::SameOutputs(**before, *result->graph, *inputs).ok());
}

TEST(ConstantFoldingTest, FoldsChainsOfConstantNodes) {
  ExpectGolden(R"(
graph(%x: f32[2, 2]) {
  %c = constant([1.0, 2.0, 3.0, 4.0]) : f32[2, 2]
  %d = constant([0.5, 0.5]) : f32[2]
  %add = aten::add.Tensor(%c, %d) : f32[2, 2]
  %neg = aten::neg.default(%add) : f32[2, 2]
  %sum = aten::sum.dim_IntList(%neg, [0]) : f32[2]
  %use = aten::mul.Tensor(%x, %sum) : f32[2, 2]
  return (%use, %neg)
}
)",
               R"(
graph(%x: f32[2, 2]) {
  %neg_c = constant([-1.5, -2.5, -3.5, -4.5]) : f32[2, 2]
  %sum_c = constant([-5.0, -7.0]) : f32[2]
  %use = aten::mul.Tensor(%x, %sum_c) : f32[2, 2]
  return (%use, %neg_c)
}
)",
               /*changed=*/true);
}

TEST(ConstantFoldingTest, KeepsDtypeSemanticsAndLayouts) {
  // Integer division by a constant, a comparison to bool, and a view whose
  // folded constant keeps the view's layout.
  ExpectGolden(R"(
graph(%x: i32[3]) {
  %c = constant([7, -7, 9]) : i32[3]
  %two = constant([2]) : i32[1]
  %q = aten::floor_divide.default(%c, %two) : i32[3]
  %gt = aten::gt.Scalar(%q, 0) : b8[3]
  %h = constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) : f16[2, 3]
  %e = aten::exp.default(%h) : f16[2, 3]
  %v = aten::view.default(%e, [3, 2]) : f16[3, 2]
  %y = aten::add.Tensor(%x, %q) : i32[3]
  return (%y, %gt, %v)
}
)",
               R"(
graph(%x: i32[3]) {
  %q_c = constant([3, -4, 4]) : i32[3]
  %gt_c = constant([True, False, True]) : b8[3]
  %v_c = constant([2.719, 7.39, 20.08, 54.6, 148.4, 403.5]) : f16[3, 2]
  %y = aten::add.Tensor(%x, %q_c) : i32[3]
  return (%y, %gt_c, %v_c)
}
)",
               /*changed=*/true);
}

TEST(ConstantFoldingTest, CreationOpsFoldFromStaticTypes) {
  // zeros_like reads only %x's type; arange and full have no inputs. empty
  // is not folded (its contents are unspecified, and each call is its own
  // buffer), nor are creations of symbolic sizes.
  ExpectGolden(R"(
graph(%x: f32[2, 3], %y: f32[s0]) {
  %z = aten::zeros_like.default(%x) : f32[2, 3]
  %r = aten::arange.default(3, dtype=torch.int64) : i64[3]
  %f = aten::full.default([2], 2.5) : f32[2]
  %e = aten::empty_like.default(%x) : f32[2, 3]
  %o = aten::ones_like.default(%y) : f32[s0]
  %a = aten::add.Tensor(%z, %r) : f32[2, 3]
  return (%a, %f, %e, %o)
}
)",
               R"(
graph(%x: f32[2, 3], %y: f32[s0]) {
  %f_c = constant([2.5, 2.5]) : f32[2]
  %a_c = constant([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]) : f32[2, 3]
  %e = aten::empty_like.default(%x) : f32[2, 3]
  %o = aten::ones_like.default(%y) : f32[s0]
  return (%a_c, %f_c, %e, %o)
}
)",
               /*changed=*/true);
}

TEST(ConstantFoldingTest, LeavesNonConstantAndSymbolicNodes) {
  constexpr char kGraph[] = R"(
graph(%x: f32[s0], %y: f32[4]) {
  %c = constant([1.0, 2.0, 3.0, 4.0]) : f32[4]
  %a = aten::add.Tensor(%y, %c) : f32[4]
  %e = aten::exp.default(%x) : f32[s0]
  return (%a, %e)
}
)";
  ExpectGolden(kGraph, kGraph, /*changed=*/false);
}

TEST(ConstantFoldingTest, LeavesFailuresForRunTime) {
  constexpr char kGraph[] = R"(
graph() {
  %c = constant([7, 8]) : i64[2]
  %z = constant([1, 0]) : i64[2]
  %q = aten::floor_divide.default(%c, %z) : i64[2]
  return (%q)
}
)";
  ConstantFolding pass;
  auto result = RunPassOnText(pass, kGraph);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(kGraph));
  EXPECT_FALSE(result->changed);
}

TEST(ConstantFoldingTest, RespectsTheSizeLimits) {
  constexpr char kGraph[] = R"(
graph() {
  %c = constant([1.0, 2.0, 3.0, 4.0]) : f32[4]
  %a = aten::exp.default(%c) : f32[4]
  %b = aten::neg.default(%c) : f32[4]
  return (%a, %b)
}
)";
  // 16-byte outputs over a 15-byte limit stay.
  ExpectGolden(kGraph, kGraph, /*changed=*/false,
               {.max_constant_bytes = 15, .max_total_bytes = 1 << 20});
  // A 16-byte total budget folds the first node only.
  ExpectGolden(kGraph, R"(
graph() {
  %c = constant([1.0, 2.0, 3.0, 4.0]) : f32[4]
  %a_c = constant([2.7182817, 7.389056, 20.085537, 54.59815]) : f32[4]
  %b = aten::neg.default(%c) : f32[4]
  return (%a_c, %b)
}
)",
               /*changed=*/true,
               {.max_constant_bytes = 64, .max_total_bytes = 16});
}

}  // namespace
}  // namespace kiln::passes
