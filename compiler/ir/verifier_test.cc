#include "compiler/ir/verifier.h"

#include "compiler/ir/text.h"
#include "compiler/ops/op_def.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ir {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Graph> Parse(const std::string& text) {
  auto g = ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : nullptr;
}

constexpr char kGraph[] = R"(
graph(%x: f32[2, 3], %y: f32[3]) {
  %a = aten::add.Tensor(%x, %y) : f32[2, 3]
  %b = aten::neg.default(%a) : f32[2, 3]
  return (%b, %a)
})";

TEST(VerifierTest, AcceptsConvertedGraphs) {
  auto g = Parse(kGraph);
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(VerifyGraph(*g).ok());
}

TEST(VerifierTest, MutationsKeepBookkeeping) {
  auto g = Parse(kGraph);
  ASSERT_NE(g, nullptr);
  Node* a = g->node(0);
  Node* b = g->node(1);
  // neg(x) instead of neg(a), then a has only its output use.
  g->SetArg(b, 0, Arg::OfValue(g->placeholder(0)));
  EXPECT_TRUE(VerifyGraph(*g).ok());
  EXPECT_TRUE(a->output(0)->users().empty());
  // Insert relu(x) before b and route everything through it.
  Node* r = g->AddNode(ops::GetOp("aten::relu.default"),
                       {Arg::OfValue(g->placeholder(0))},
                       {a->output(0)->type()}, g->FreshName("relu"), b);
  EXPECT_EQ(r->index(), 1);
  g->SetArg(b, 0, Arg::OfValue(r->output(0)));
  g->ReplaceAllUsesWith(a->output(0), b->output(0));
  EXPECT_TRUE(VerifyGraph(*g).ok());
  EXPECT_FALSE(a->output(0)->HasUses());
  g->RemoveNode(a);
  EXPECT_TRUE(VerifyGraph(*g).ok());
  EXPECT_EQ(PrintGraph(*g), R"(graph(%x: f32[2, 3], %y: f32[3]) {
  %relu = aten::relu.default(%x) : f32[2, 3]
  %b = aten::neg.default(%relu) : f32[2, 3]
  return (%b, %b)
}
)");
}

TEST(VerifierTest, CatchesUseBeforeDefinition) {
  auto g = Parse(kGraph);
  ASSERT_NE(g, nullptr);
  // Make a use b's output: b comes later.
  g->SetArg(g->node(0), 0, Arg::OfValue(g->node(1)->output(0)));
  absl::Status st = VerifyGraph(*g);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("nodes[0] (aten::add.Tensor, \"a\"): argument 'self' "
                        "uses 'b' before its definition"));
}

TEST(VerifierTest, CatchesTypesThatDisagreeWithInference) {
  auto g = Parse(kGraph);
  ASSERT_NE(g, nullptr);
  TensorType wrong = g->node(1)->output(0)->type();
  wrong.dtype = DType::kFloat64;
  g->node(1)->output(0)->set_type(wrong);
  absl::Status st = VerifyGraph(*g);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("nodes[1] (aten::neg.default, \"b\"): output 0: "
                        "declared f64[2, 3] disagrees with inference f32[2, 3] "
                        "(dtype)"));
}

TEST(VerifierTest, CatchesWrongArgumentKinds) {
  auto g = Parse(kGraph);
  ASSERT_NE(g, nullptr);
  // A number where a Tensor is expected is fine for pointwise ops (ATen
  // wraps it) but not for others.
  g->SetArg(g->node(0), 1, Arg::Float(1.5));
  EXPECT_TRUE(VerifyGraph(*g).ok());
  g->SetArg(g->node(0), 1, Arg::String("x"));
  absl::Status st = VerifyGraph(*g);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("argument 'other' is a str, the schema wants Tensor"));
  auto mm = Parse(R"(
graph(%x: f32[2, 2]) {
  %m = aten::mm.default(%x, %x) : f32[2, 2]
  return (%m)
})");
  ASSERT_NE(mm, nullptr);
  mm->SetArg(mm->node(0), 1, Arg::Float(1.5));
  st = VerifyGraph(*mm);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("argument 'mat2' is a float, the schema wants Tensor"));
}

}  // namespace
}  // namespace kiln::ir
