#include "compiler/passes/view_simplification.h"

#include "compiler/ir/text.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::RunPassOnText;
using testing::Trim;

void ExpectGolden(std::string_view input, std::string_view expected,
                  bool changed) {
  ViewSimplification pass;
  auto result = RunPassOnText(pass, input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(expected));
  EXPECT_EQ(result->changed, changed);
  auto before = ir::ParseGraph(Trim(input));
  ASSERT_TRUE(before.ok());
  auto inputs = testing::RandomInputs(**before, /*seed=*/3, {{"s0", 5}});
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  auto same = testing::SameOutputs(**before, *result->graph, *inputs);
  EXPECT_TRUE(same.ok()) << same;
}

TEST(ViewSimplificationTest, DoubleTransposesVanish) {
  ExpectGolden(R"(
graph(%x: f32[3, 4], %y: f32[2, 3, 4]) {
  %t = aten::t.default(%x) : f32[4, 3]{1, 4}
  %tt = aten::t.default(%t) : f32[3, 4]
  %a = aten::transpose.int(%y, 0, 2) : f32[4, 3, 2]{1, 4, 12}
  %b = aten::transpose.int(%a, -1, 0) : f32[2, 3, 4]
  %add = aten::add.Tensor(%tt, %b) : f32[2, 3, 4]
  return (%add)
}
)",
               R"(
graph(%x: f32[3, 4], %y: f32[2, 3, 4]) {
  %add = aten::add.Tensor(%x, %y) : f32[2, 3, 4]
  return (%add)
}
)",
               /*changed=*/true);
}

TEST(ViewSimplificationTest, PermutationChainsBecomeOnePermute) {
  ExpectGolden(R"(
graph(%x: f32[2, 3, 4]) {
  %p = aten::permute.default(%x, [1, 2, 0]) : f32[3, 4, 2]{4, 1, 12}
  %q = aten::transpose.int(%p, 0, 1) : f32[4, 3, 2]{1, 4, 12}
  %r = aten::permute.default(%q, [0, 2, 1]) : f32[4, 2, 3]{1, 12, 4}
  %e = aten::exp.default(%r) : f32[4, 2, 3]{1, 12, 4}
  return (%e)
}
)",
               R"(
graph(%x: f32[2, 3, 4]) {
  %r = aten::permute.default(%x, [2, 0, 1]) : f32[4, 2, 3]{1, 12, 4}
  %e = aten::exp.default(%r) : f32[4, 2, 3]{1, 12, 4}
  return (%e)
}
)",
               /*changed=*/true);
}

TEST(ViewSimplificationTest, IdentityViewsAreTheirInputs) {
  ExpectGolden(R"(
graph(%x: f32[s0, 4]) {
  %v = aten::view.default(%x, [s0, 4]) : f32[s0, 4]
  %p = aten::permute.default(%v, [0, 1]) : f32[s0, 4]
  %u = aten::unsqueeze.default(%p, 1) : f32[s0, 1, 4]
  %s = aten::squeeze.dim(%u, 1) : f32[s0, 4]
  %e = aten::expand.default(%s, [s0, 4]) : f32[s0, 4]
  %sl = aten::slice.Tensor(%e, 1, 0, 9223372036854775807) : f32[s0, 4]
  %a = aten::alias.default(%sl) : f32[s0, 4]
  %d = aten::detach.default(%a) : f32[s0, 4]
  %c = aten::contiguous.default(%d) : f32[s0, 4]
  %neg = aten::neg.default(%c) : f32[s0, 4]
  return (%neg)
}
)",
               R"(
graph(%x: f32[s0, 4]) {
  %neg = aten::neg.default(%x) : f32[s0, 4]
  return (%neg)
}
)",
               /*changed=*/true);
}

TEST(ViewSimplificationTest, ReshapeAndExpandChainsCollapse) {
  ExpectGolden(R"(
graph(%x: f32[2, 3, 4], %y: f32[1, 4]) {
  %a = aten::view.default(%x, [6, 4]) : f32[6, 4]
  %b = aten::_unsafe_view.default(%a, [24]) : f32[24]
  %c = aten::view.default(%b, [4, 6]) : f32[4, 6]
  %e1 = aten::expand.default(%y, [3, 4]) : f32[3, 4]{0, 1}
  %e2 = aten::expand.default(%e1, [2, 3, 4]) : f32[2, 3, 4]{0, 0, 1}
  %add = aten::add.Tensor(%x, %e2) : f32[2, 3, 4]
  return (%c, %add)
}
)",
               R"(
graph(%x: f32[2, 3, 4], %y: f32[1, 4]) {
  %c = aten::view.default(%x, [4, 6]) : f32[4, 6]
  %e2 = aten::expand.default(%y, [2, 3, 4]) : f32[2, 3, 4]{0, 0, 1}
  %add = aten::add.Tensor(%x, %e2) : f32[2, 3, 4]
  return (%c, %add)
}
)",
               /*changed=*/true);
}

TEST(ViewSimplificationTest, KeepsViewsThatChangeSomething) {
  constexpr char kGraph[] = R"(
graph(%x: f32[3, 4]) {
  %t = aten::t.default(%x) : f32[4, 3]{1, 4}
  %v = aten::view.default(%x, [12]) : f32[12]
  %s = aten::slice.Tensor(%x, 1, 1, 3) : f32[3, 2]{4, 1} offset(1)
  %u = aten::unsqueeze.default(%x, 0) : f32[1, 3, 4]
  return (%t, %v, %s, %u)
}
)";
  ExpectGolden(kGraph, kGraph, /*changed=*/false);
}

TEST(ViewSimplificationTest, ViewOfTransposeNeedsTheTranspose) {
  // reshape of a transposed tensor copies: it must keep reading %t, and a
  // view chain through it does not collapse to %x.
  constexpr char kGraph[] = R"(
graph(%x: f32[3, 4]) {
  %t = aten::t.default(%x) : f32[4, 3]{1, 4}
  %r = aten::reshape.default(%t, [12]) : f32[12]
  %v = aten::view.default(%r, [3, 4]) : f32[3, 4]
  return (%v)
}
)";
  ExpectGolden(kGraph, kGraph, /*changed=*/false);
}

}  // namespace
}  // namespace kiln::passes
