#include "compiler/ir/fusion.h"

#include "compiler/ir/convert.h"
#include "compiler/ir/text.h"
#include "compiler/ir/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ir {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Graph> MustParse(const std::string& text) {
  auto g = ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : nullptr;
}

std::string ParseError(const std::string& text) {
  auto g = ParseGraph(text);
  EXPECT_FALSE(g.ok());
  return g.ok() ? "" : std::string(g.status().message());
}

// A graph whose only node is a body we want the layout of.
absl::StatusOr<FusionLayout> LayoutOf(FusionKind kind,
                                      const std::string& body_text) {
  auto body = ParseGraph(body_text);
  if (!body.ok()) return body.status();
  return ComputeFusionLayout(kind, **body);
}

constexpr char kReductionGraph[] =
    R"(graph(%x: f32[4, 8], %b: f32[8], %c: f32[4]) {
  %f = kiln::fused.default([%x, %b, %c]) : (f32[4, 8], f32[4]) {
    kind=reduction, shape=[4, 8], reduce_dims=[1], input_dims=[[0, 1], [1], [0]]
    graph(%x: f32[4, 8], %b: f32[8], %c: f32[4]) {
      %mul = aten::mul.Tensor(%x, %b) : f32[4, 8]
      %sum = aten::sum.dim_IntList(%mul, [1]) : f32[4]
      %add = aten::add.Tensor(%sum, %c) : f32[4]
      return (%mul, %add)
    }
  }
  %neg = aten::neg.default(%f#1) : f32[4]
  return (%f#0, %neg)
}
)";

TEST(FusionTest, TextRoundTripsAndVerifies) {
  auto g = MustParse(kReductionGraph);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(PrintGraph(*g), kReductionGraph);
  EXPECT_TRUE(VerifyGraph(*g).ok());
  const Node* f = g->node(0);
  ASSERT_NE(f->fused(), nullptr);
  EXPECT_EQ(f->fused()->kind, FusionKind::kReduction);
  EXPECT_THAT(f->fused()->reduce_dims, ElementsAre(1));
  EXPECT_EQ(FindAnchor(*f->fused()->body)->name(), "sum");
  EXPECT_EQ(CountKernels(*g), 2);
  EXPECT_EQ(f->Operands().size(), 3);
  EXPECT_EQ(g->placeholder(0)->users().size(), 1);
}

TEST(FusionTest, WrongLayoutIsRejected) {
  std::string text = kReductionGraph;
  text.replace(text.find("[[0, 1], [1], [0]]"), 18, "[[0, 1], [0], [0]]");
  EXPECT_THAT(ParseError(text),
              HasSubstr("shape, reduce_dims or input_dims differ"));
}

TEST(FusionTest, SignatureMustMatchTheBody) {
  std::string text = kReductionGraph;
  text.replace(text.find("%c: f32[4]) {\n      %mul"), 10, "%c: f32[1]");
  EXPECT_THAT(ParseError(text), HasSubstr("does not match body input 'c'"));
}

TEST(FusionTest, WireGraphsCannotNameTheFusedOp) {
  auto g = MustParse(kReductionGraph);
  ASSERT_NE(g, nullptr);
  auto back = GraphFromProto(GraphToProto(*g));
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(std::string(back.status().message()),
              HasSubstr("kiln::fused is internal to the compiler"));
}

TEST(FusionTest, PointwiseLayoutBroadcasts) {
  auto layout = LayoutOf(FusionKind::kPointwise, R"(
graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1], %s: f32[]) {
  %add = aten::add.Tensor(%x, %b) : f32[4, 8]
  %mul = aten::mul.Tensor(%add, %c) : f32[4, 8]
  %sub = aten::sub.Tensor(%mul, %s) : f32[4, 8]
  return (%sub)
})");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(ExprListToString(layout->shape), "[4, 8]");
  EXPECT_TRUE(layout->reduce_dims.empty());
  EXPECT_THAT(layout->input_dims,
              ElementsAre(ElementsAre(0, 1), ElementsAre(1), ElementsAre(0, -1),
                          ElementsAre()));
}

TEST(FusionTest, PointwiseNodesShareOneShape) {
  auto layout = LayoutOf(FusionKind::kPointwise, R"(
graph(%x: f32[8], %y: f32[4, 8]) {
  %exp = aten::exp.default(%x) : f32[8]
  %add = aten::add.Tensor(%exp, %y) : f32[4, 8]
  return (%add)
})");
  ASSERT_FALSE(layout.ok());
  EXPECT_THAT(std::string(layout.status().message()),
              HasSubstr("body node 'add' (aten::add.Tensor): sizes [4, 8], "
                        "not the iteration shape [8]"));
}

TEST(FusionTest, ReductionWithKeepdimEpilogue) {
  auto layout = LayoutOf(FusionKind::kReduction, R"(
graph(%x: f32[4, 8], %c: f32[4, 1]) {
  %exp = aten::exp.default(%x) : f32[4, 8]
  %sum = aten::sum.dim_IntList(%exp, [-1], True) : f32[4, 1]
  %mul = aten::mul.Tensor(%sum, %c) : f32[4, 1]
  return (%mul)
})");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_THAT(layout->reduce_dims, ElementsAre(1));
  EXPECT_THAT(layout->input_dims,
              ElementsAre(ElementsAre(0, 1), ElementsAre(0, -1)));
}

TEST(FusionTest, ReductionEpilogueMustStayInTheReducedSpace) {
  // x - sum(x) needs a second pass over the row: not a reduction kernel.
  auto layout = LayoutOf(FusionKind::kReduction, R"(
graph(%x: f32[4, 8]) {
  %sum = aten::sum.dim_IntList(%x, [1], True) : f32[4, 1]
  %sub = aten::sub.Tensor(%x, %sum) : f32[4, 8]
  return (%sub)
})");
  ASSERT_FALSE(layout.ok());
  EXPECT_THAT(std::string(layout.status().message()),
              HasSubstr("an epilogue node of sizes [4, 8]"));
}

TEST(FusionTest, FullReductionAndKindMismatch) {
  auto layout = LayoutOf(FusionKind::kReduction, R"(
graph(%x: f32[4, 8]) {
  %sum = aten::sum.default(%x) : f32[]
  return (%sum)
})");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_THAT(layout->reduce_dims, ElementsAre(0, 1));
  auto wrong = LayoutOf(FusionKind::kPointwise, R"(
graph(%x: f32[4, 8]) {
  %sum = aten::sum.default(%x) : f32[]
  return (%sum)
})");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("a pointwise kernel has no anchor"));
}

TEST(FusionTest, AnchorKinds) {
  EXPECT_EQ(AnchorKind(ops::GetOp("aten::sum.dim_IntList")),
            FusionKind::kReduction);
  EXPECT_EQ(AnchorKind(ops::GetOp("aten::add.Tensor")), std::nullopt);
  EXPECT_EQ(AnchorKind(ops::GetOp("aten::mm.default")), std::nullopt);
  EXPECT_EQ(AnchorKind(FusedOp()), std::nullopt);
  for (FusionKind k : {FusionKind::kPointwise, FusionKind::kReduction,
                       FusionKind::kSoftmax, FusionKind::kLayerNorm}) {
    EXPECT_EQ(FusionKindFromName(FusionKindName(k)), k);
  }
}

TEST(ConstantTest, TextRoundTripsExactly) {
  constexpr char kText[] = R"(graph(%x: f32[3]) {
  %c = constant([0.1, -2.5, 3.4028235e+38]) : f32[3]
  %h = constant([0.1, 65504.0, -inf]) : f16[3]
  %d = constant([0.1, 1e-300, nan]) : f64[3]
  %i = constant([1, -2, 9223372036854775807]) : i64[3]
  %u = constant([255, 0]) : u8[2]
  %b = constant([True, False]) : b8[2]
  %t = constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) : bf16[3, 2]{1, 3}
  %add = aten::add.Tensor(%x, %c) : f32[3]
  return (%add, %h, %d, %i, %u, %b, %t)
}
)";
  auto g = MustParse(kText);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(PrintGraph(*g), kText);
  EXPECT_TRUE(VerifyGraph(*g).ok());
  EXPECT_EQ(g->num_constants(), 7);
  EXPECT_TRUE(g->FindValue("c")->is_constant());
  EXPECT_FALSE(g->FindValue("c")->is_placeholder());
  EXPECT_EQ(g->FindValue("c")->constant_data().size(), 12);
  // Through the wire form and back.
  auto back = GraphFromProto(GraphToProto(*g));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(PrintGraph(**back), kText);
}

TEST(ConstantTest, BadConstantsAreRejected) {
  EXPECT_THAT(ParseError(R"(graph() {
  %c = constant([1.0, 2.0]) : f32[3]
  return (%c)
})"),
              HasSubstr("2 values for a constant of 3 elements"));
  v1::Graph proto;
  v1::GraphConstant* c = proto.add_constants();
  c->set_name("c");
  c->mutable_value()->set_dtype(v1::BOOL);
  c->mutable_value()->add_sizes(2);
  c->mutable_value()->add_strides(1);
  c->mutable_value()->set_raw(std::string("\x01\x07", 2));
  proto.add_outputs()->mutable_ref()->set_node("c");
  auto g = GraphFromProto(proto);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("graph.constants[0].value.raw: bool element 1 is 7"));
  c->mutable_value()->set_raw(std::string("\x01", 1));
  g = GraphFromProto(proto);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("1 bytes, expected 2"));
}

}  // namespace
}  // namespace kiln::ir
