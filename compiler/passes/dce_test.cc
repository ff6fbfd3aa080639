#include "compiler/passes/dce.h"

#include "absl/status/status.h"
#include "compiler/ops/op_def.h"
#include "compiler/passes/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::passes {
namespace {

using testing::RunPassOnText;
using testing::Trim;

// A mutation op for the tests (functionalized graphs write graph inputs
// with aten::copy_).
absl::StatusOr<std::vector<ops::InferredOutput>> InferWrite(
    const ops::InferContext& ctx) {
  return std::vector<ops::InferredOutput>{ctx.tensor(0)};
}
KILN_REGISTER_OP("kiln_test::write_(Tensor(a!) self, Tensor src) -> Tensor(a!)")
    .Category(ops::OpCategory::kMutation)
    .Infer(InferWrite);

void ExpectGolden(std::string_view input, std::string_view expected,
                  bool changed) {
  DeadCodeElimination dce;
  auto result = RunPassOnText(dce, input);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, Trim(expected));
  EXPECT_EQ(result->changed, changed);
}

TEST(DceTest, RemovesDeadChainsAndUnusedConstants) {
  ExpectGolden(R"(
graph(%x: f32[4], %y: f32[4]) {
  %c = constant([1.0, 2.0, 3.0, 4.0]) : f32[4]
  %k = constant([5.0, 6.0, 7.0, 8.0]) : f32[4]
  %a = aten::add.Tensor(%x, %c) : f32[4]
  %b = aten::exp.default(%a) : f32[4]
  %c2 = aten::mul.Tensor(%b, %y) : f32[4]
  %live = aten::neg.default(%x) : f32[4]
  %s = aten::sum.default(%c2) : f32[]
  return (%live, %k)
}
)",
               R"(
graph(%x: f32[4], %y: f32[4]) {
  %k = constant([5.0, 6.0, 7.0, 8.0]) : f32[4]
  %live = aten::neg.default(%x) : f32[4]
  return (%live, %k)
}
)",
               /*changed=*/true);
}

TEST(DceTest, KeepsMutationsOfGraphInputs) {
  ExpectGolden(R"(
graph(%x: f32[4], %y: f32[4]) {
  %a = aten::exp.default(%y) : f32[4]
  %dead = aten::mul.Tensor(%a, %a) : f32[4]
  %w = kiln_test::write_.default(%x, %a) : f32[4]
  return (%y)
}
)",
               R"(
graph(%x: f32[4], %y: f32[4]) {
  %a = aten::exp.default(%y) : f32[4]
  %w = kiln_test::write_.default(%x, %a) : f32[4]
  return (%y)
}
)",
               /*changed=*/true);
}

TEST(DceTest, MultiOutputNodeStaysWhenOneOutputIsUsed) {
  ExpectGolden(R"(
graph(%x: f32[4, 3], %w: f32[3, 2]) {
  %mm = aten::mm.default(%x, %w) : f32[4, 2]
  %v = aten::view.default(%mm, [8]) : f32[8]
  return (%mm)
}
)",
               R"(
graph(%x: f32[4, 3], %w: f32[3, 2]) {
  %mm = aten::mm.default(%x, %w) : f32[4, 2]
  return (%mm)
}
)",
               /*changed=*/true);
}

TEST(DceTest, NothingToRemove) {
  constexpr char kGraph[] = R"(
graph(%x: f32[4]) {
  %a = aten::abs.default(%x) : f32[4]
  return (%a, %x)
}
)";
  ExpectGolden(kGraph, kGraph, /*changed=*/false);
}

TEST(DceTest, KeepsEveryOutputOfADeadlessGraph) {
  // A graph with no nodes at all, and one whose outputs are inputs.
  ExpectGolden("graph() {\n  return ()\n}\n", "graph() {\n  return ()\n}\n",
               false);
}

TEST(DceTest, IsRegistered) {
  auto pass = PassRegistry::Global().Create("dce");
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_EQ((*pass)->name(), "dce");
  EXPECT_EQ(PassRegistry::Global().Create("nope").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kiln::passes
