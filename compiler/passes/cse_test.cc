#include "compiler/passes/cse.h"

#include "compiler/ops/op_def.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::RunPassOnText;
using testing::Trim;

absl::StatusOr<std::vector<ops::InferredOutput>> InferFirst(
    const ops::InferContext& ctx) {
  return std::vector<ops::InferredOutput>{ctx.tensor(0)};
}
// Test ops: a mutation (as aten::copy_) and an uninitialized allocation
// (as aten::empty_like).
KILN_REGISTER_OP("kiln_test::write_(Tensor(a!) self, Tensor src) -> Tensor(a!)")
    .Category(ops::OpCategory::kMutation)
    .Infer(InferFirst);
KILN_REGISTER_OP("kiln_test::empty_like(Tensor self) -> Tensor")
    .Category(ops::OpCategory::kCreation)
    .Infer(InferFirst);

void ExpectGolden(std::string_view input, std::string_view expected,
                  bool changed) {
  CommonSubexpressionElimination cse;
  auto result = RunPassOnText(cse, input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(expected));
  EXPECT_EQ(result->changed, changed);
}

TEST(CseTest, MergesEqualNodesTransitively) {
  ExpectGolden(R"(
graph(%x: f32[4, 3], %y: f32[3]) {
  %a = aten::add.Tensor(%x, %y, alpha=2) : f32[4, 3]
  %b = aten::add.Tensor(%x, %y, alpha=2) : f32[4, 3]
  %c = aten::add.Tensor(%x, %y) : f32[4, 3]
  %d = aten::add.Tensor(%y, %x, alpha=2) : f32[4, 3]
  %ea = aten::exp.default(%a) : f32[4, 3]
  %eb = aten::exp.default(%b) : f32[4, 3]
  %sa = aten::sum.dim_IntList(%ea, [1]) : f32[4]
  %sb = aten::sum.dim_IntList(%eb, [1]) : f32[4]
  %sc = aten::sum.dim_IntList(%eb, [1], True) : f32[4, 1]
  %va = aten::view.default(%ea, [12]) : f32[12]
  %vb = aten::view.default(%eb, [12]) : f32[12]
  return (%sa, %sb, %sc, %c, %d, %va, %vb)
}
)",
               R"(
graph(%x: f32[4, 3], %y: f32[3]) {
  %a = aten::add.Tensor(%x, %y, alpha=2) : f32[4, 3]
  %c = aten::add.Tensor(%x, %y) : f32[4, 3]
  %d = aten::add.Tensor(%y, %x, alpha=2) : f32[4, 3]
  %ea = aten::exp.default(%a) : f32[4, 3]
  %sa = aten::sum.dim_IntList(%ea, [1]) : f32[4]
  %sc = aten::sum.dim_IntList(%ea, [1], True) : f32[4, 1]
  %va = aten::view.default(%ea, [12]) : f32[12]
  return (%sa, %sa, %sc, %c, %d, %va, %va)
}
)",
               /*changed=*/true);
}

TEST(CseTest, ScalarsCompareByValueAndType) {
  ExpectGolden(R"(
graph(%x: f32[4]) {
  %a = aten::mul.Scalar(%x, 2) : f32[4]
  %b = aten::mul.Scalar(%x, 2.0) : f32[4]
  %c = aten::mul.Scalar(%x, 2.0) : f32[4]
  %d = aten::mul.Scalar(%x, -0.0) : f32[4]
  %e = aten::mul.Scalar(%x, 0.0) : f32[4]
  return (%a, %b, %c, %d, %e)
}
)",
               R"(
graph(%x: f32[4]) {
  %a = aten::mul.Scalar(%x, 2) : f32[4]
  %b = aten::mul.Scalar(%x, 2.0) : f32[4]
  %d = aten::mul.Scalar(%x, -0.0) : f32[4]
  %e = aten::mul.Scalar(%x, 0.0) : f32[4]
  return (%a, %b, %b, %d, %e)
}
)",
               /*changed=*/true);
}

TEST(CseTest, SymbolicArgumentsInNormalForm) {
  ExpectGolden(R"(
graph(%x: f32[s0, 4]) {
  %a = aten::view.default(%x, [4*s0]) : f32[4*s0]
  %b = aten::view.default(%x, [s0*4]) : f32[4*s0]
  %c = aten::view.default(%x, [2*s0 + 2*s0]) : f32[4*s0]
  return (%a, %b, %c)
}
)",
               R"(
graph(%x: f32[s0, 4]) {
  %a = aten::view.default(%x, [4*s0]) : f32[4*s0]
  return (%a, %a, %a)
}
)",
               /*changed=*/true);
}

TEST(CseTest, KeepsNondeterministicAndMutatingNodes) {
  ExpectGolden(R"(
graph(%x: f32[4], %y: f32[4]) {
  %e1 = kiln_test::empty_like.default(%x) : f32[4]
  %e2 = kiln_test::empty_like.default(%x) : f32[4]
  %a = aten::exp.default(%x) : f32[4]
  %w = kiln_test::write_.default(%x, %y) : f32[4]
  %b = aten::exp.default(%x) : f32[4]
  %c = aten::exp.default(%x) : f32[4]
  return (%e1, %e2, %a, %b, %c)
}
)",
               R"(
graph(%x: f32[4], %y: f32[4]) {
  %e1 = kiln_test::empty_like.default(%x) : f32[4]
  %e2 = kiln_test::empty_like.default(%x) : f32[4]
  %a = aten::exp.default(%x) : f32[4]
  %w = kiln_test::write_.default(%x, %y) : f32[4]
  %b = aten::exp.default(%x) : f32[4]
  return (%e1, %e2, %a, %b, %b)
}
)",
               /*changed=*/true);
}

TEST(CseTest, NothingToMerge) {
  constexpr char kGraph[] = R"(
graph(%x: f32[4]) {
  %a = aten::exp.default(%x) : f32[4]
  %b = aten::log.default(%x) : f32[4]
  return (%a, %b)
}
)";
  ExpectGolden(kGraph, kGraph, /*changed=*/false);
}

}  // namespace
}  // namespace kiln::passes
