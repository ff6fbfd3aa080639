#include "compiler/ir/convert.h"

#include "compiler/ir/text.h"
#include "compiler/ir/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/v1/graph.pb.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::ir {
namespace {

using ::testing::HasSubstr;

v1::Graph ProtoOf(const std::string& text) {
  auto p = ParseGraphToProto(text);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : v1::Graph();
}

// The conversion error for `text`, or "" if it converts.
std::string ErrorOf(const v1::Graph& proto, absl::StatusCode* code = nullptr) {
  auto g = GraphFromProto(proto);
  if (g.ok()) return "";
  if (code) *code = g.status().code();
  return std::string(g.status().message());
}
std::string ErrorOf(const std::string& text) { return ErrorOf(ProtoOf(text)); }

constexpr char kTwoInputs[] = "graph(%x: f32[2, 3], %y: f32[3]) {\n";

TEST(ConvertTest, AcceptsAValidGraphAndRoundTrips) {
  auto g = ParseGraph(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y, alpha=2) : f32[2, 3]
  %s = aten::sum.dim_IntList(%a, [0], dtype=torch.float64) : f64[3]
  return (%s, %a)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(VerifyGraph(**g).ok());
  v1::Graph proto = GraphToProto(**g);
  // Positional arguments up to the last non-default, kwargs for the rest.
  ASSERT_EQ(proto.nodes(0).args_size(), 2);
  ASSERT_EQ(proto.nodes(0).kwargs_size(), 1);
  EXPECT_EQ(proto.nodes(0).kwargs(0).name(), "alpha");
  EXPECT_EQ(proto.nodes(0).kwargs(0).value().int_value(), 2);
  EXPECT_EQ(proto.nodes(1).args_size(), 2);
  EXPECT_EQ(proto.nodes(1).kwargs(0).value().dtype(), v1::FLOAT64);
  auto again = GraphFromProto(proto);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(PrintGraph(**again), PrintGraph(**g));
  // Users lists.
  const Value* x = (*g)->placeholder(0);
  ASSERT_EQ(x->users().size(), 1);
  EXPECT_EQ(x->users()[0], (*g)->node(0));
  EXPECT_EQ((*g)->node(0)->output(0)->num_output_uses(), 1);
}

TEST(ConvertTest, UnknownAndMalformedOps) {
  v1::Graph p = ProtoOf(std::string(kTwoInputs) + R"(
  %a = aten::frobnicate.default(%x) : f32[2, 3]
  return (%a)
})");
  absl::StatusCode code;
  EXPECT_EQ(ErrorOf(p, &code),
            "graph.nodes[0] (aten::frobnicate.default): unknown op "
            "aten::frobnicate.default");
  EXPECT_EQ(code, absl::StatusCode::kInvalidArgument);
  p.mutable_nodes(0)->set_target("add");
  EXPECT_THAT(ErrorOf(p), HasSubstr("graph.nodes[0].target: malformed op "
                                    "name 'add'"));
}

TEST(ConvertTest, ArgumentCountsNamesAndKinds) {
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%x, %y) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0] (aten::neg.default): takes at most 1 positional "
            "arguments but 2 were given");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::mm.default(%x) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0] (aten::mm.default): missing argument 'mat2'");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::mm.default(%x, 1.5) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[1] (aten::mm.default, mat2): expected "
            "Tensor, got float");
  // Pointwise ops take Python numbers for Tensor arguments, as ATen does.
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, 1.5) : f32[2, 3]
  return (%a)
})"),
            "");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, "1.5") : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[1] (aten::add.Tensor, other): expected "
            "Tensor, got str");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y, beta=2) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].kwargs[0] (aten::add.Tensor, beta): unexpected "
            "keyword argument 'beta'");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y, other=%y) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].kwargs[0] (aten::add.Tensor, other): argument "
            "'other' given twice");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::view.default(%x, [2.0, 3.0]) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[1] (aten::view.default, size): expected "
            "SymInt[], got float list");
  EXPECT_THAT(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::gelu.default(%x, approximate="fast") : f32[2, 3]
  return (%a)
})"),
              HasSubstr("approximate argument must be either none or tanh"));
}

TEST(ConvertTest, ReferencesLaterMissingAndCyclic) {
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%b) : f32[2, 3]
  %b = aten::neg.default(%x) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[0] (aten::neg.default, self).ref: reference "
            "to 'b' (graph.nodes[1]), which comes later; nodes must be in "
            "topological order");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%b) : f32[2, 3]
  %b = aten::neg.default(%a) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[0] (aten::neg.default, self).ref: cycle: b "
            "-> a -> b");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%a) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[0] (aten::neg.default, self).ref: cycle: "
            "node 'a' uses itself");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%q) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[0] (aten::neg.default, self).ref: reference "
            "to unknown value 'q'");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%x#1) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0].args[0] (aten::neg.default, self).ref: 'x' has no "
            "output 1 (it has 1)");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  return (%nothing)
})"),
            "graph.outputs[0].ref: reference to unknown value 'nothing'");
}

TEST(ConvertTest, DtypeBroadcastAndOpRules) {
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::bitwise_and.Tensor(%x, %y) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0] (aten::bitwise_and.Tensor): bitwise_and is not "
            "supported for f32 (supported: i8, i16, i32, i64, u8, b8)");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[2, 3], %y: f32[2]) {
  %a = aten::add.Tensor(%x, %y) : f32[2, 3]
  return (%a)
})"),
            "graph.nodes[0] (aten::add.Tensor): shapes [2, 3] and [2] do not "
            "broadcast: 3 vs 2 at dimension 1");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[s0, 3], %y: f32[s1, 3]) {
  %a = aten::add.Tensor(%x, %y) : f32[s0, 3]
  return (%a)
})"),
            "graph.nodes[0] (aten::add.Tensor): shapes [s0, 3] and [s1, 3] do "
            "not broadcast: s0 vs s1 at dimension 0");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[2, 3], %y: f32[4, 2]) {
  %a = aten::mm.default(%x, %y) : f32[2, 2]
  return (%a)
})"),
            "graph.nodes[0] (aten::mm.default): inner dimensions 3 and 4 "
            "differ");
  EXPECT_EQ(ErrorOf(R"(graph(%x: i64[2]) {
  %a = aten::add.Tensor(%x, %x, alpha=0.5) : i64[2]
  return (%a)
})"),
            "graph.nodes[0] (aten::add.Tensor): for integral input tensors, "
            "argument alpha must not be a floating point number");
}

TEST(ConvertTest, DeclaredOutputsMustMatchInference) {
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y) : f64[2, 3]
  return (%a)
})"),
            "graph.nodes[0].outputs[0] (aten::add.Tensor): declared f64[2, 3] "
            "disagrees with inference f32[2, 3] (dtype)");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y) : f32[2, 4]
  return (%a)
})"),
            "graph.nodes[0].outputs[0] (aten::add.Tensor): declared f32[2, 4] "
            "disagrees with inference f32[2, 3] (size of dimension 1)");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y) : f32[2, 3]{1, 2}
  return (%a)
})"),
            "graph.nodes[0].outputs[0] (aten::add.Tensor): declared f32[2, "
            "3]{1, 2} disagrees with inference f32[2, 3] (stride of dimension "
            "0)");
  EXPECT_EQ(ErrorOf(std::string(kTwoInputs) + R"(
  %a = aten::add.Tensor(%x, %y) : (f32[2, 3], f32[2, 3])
  return (%a)
})"),
            "graph.nodes[0] (aten::add.Tensor): declares 2 outputs but the op "
            "returns 1");
}

TEST(ConvertTest, TensorMetadataSymbolsAndNames) {
  v1::Graph p = ProtoOf(std::string(kTwoInputs) + "  return (%x)\n}");
  p.mutable_placeholders(0)
      ->mutable_tensor()
      ->mutable_sizes(1)
      ->set_static_size(-3);
  EXPECT_EQ(ErrorOf(p),
            "graph.placeholders[0].tensor.sizes[1]: size -3 is negative");

  p = ProtoOf(std::string(kTwoInputs) + "  return (%x)\n}");
  p.mutable_placeholders(0)->mutable_tensor()->set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_EQ(ErrorOf(p), "graph.placeholders[0].tensor.dtype: dtype is not set");

  p = ProtoOf(std::string(kTwoInputs) + "  return (%x)\n}");
  p.mutable_placeholders(0)->mutable_tensor()->add_strides()->set_static_size(
      1);
  EXPECT_EQ(ErrorOf(p), "graph.placeholders[0].tensor: 2 sizes but 3 strides");

  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[4611686018427387904, 4]) {
  return (%x)
})"),
            "graph.placeholders[0].tensor: tensor of sizes "
            "[4611686018427387904, 4] overflows int64");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[2*s0]) {
  return (%x)
})"),
            "graph.placeholders[0]: symbol s0 is not bound by any placeholder "
            "(a bare size or a SymInt input)");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[s0]) {
  %v = aten::view.default(%x, [s1]) : f32[s1]
  return (%v)
})"),
            "graph.nodes[0]: symbol s1 is not bound by any placeholder (a "
            "bare size or a SymInt input)");
  EXPECT_EQ(ErrorOf(R"(graph(%x: f32[2], %x: f32[2]) {
  return (%x)
})"),
            "graph.placeholders[1].name: name 'x' is already used by "
            "graph.placeholders[0].name");
  p = ProtoOf(std::string(kTwoInputs) + "  return (%x)\n}");
  p.mutable_placeholders(1)->set_name("");
  EXPECT_EQ(ErrorOf(p), "graph.placeholders[1].name: name is empty");
}

TEST(ConvertTest, Limits) {
  v1::Graph p = ProtoOf(std::string(kTwoInputs) + R"(
  %a = aten::neg.default(%x) : f32[2, 3]
  %b = aten::neg.default(%a) : f32[2, 3]
  return (%b)
})");
  ConvertOptions options;
  options.max_nodes = 1;
  auto g = GraphFromProto(p, options);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  options.max_nodes = 0;
  options.max_inputs = 1;
  g = GraphFromProto(p, options);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace kiln::ir
