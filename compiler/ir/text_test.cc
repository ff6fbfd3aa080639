#include "compiler/ir/text.h"

#include <fstream>
#include <sstream>

#include "compiler/ir/convert.h"
#include "compiler/ir/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ir {
namespace {

using ::testing::HasSubstr;

std::string ReadTestData(const std::string& name) {
  std::ifstream in("compiler/ir/testdata/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Drops `//` comment lines and blank lines: the printer emits neither.
std::string StripComments(const std::string& text) {
  std::stringstream in(text), out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("//", 0) == 0) continue;
    out << line << "\n";
  }
  return out.str();
}

TEST(TextTest, GoldenFilesRoundTripExactly) {
  for (const char* name : {"slice.kir", "pointwise.kir"}) {
    std::string text = ReadTestData(name);
    ASSERT_FALSE(text.empty()) << name;
    auto g = ParseGraph(text);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status();
    EXPECT_TRUE(VerifyGraph(**g).ok());
    std::string printed = PrintGraph(**g);
    EXPECT_EQ(printed, StripComments(text)) << name;
    // Through the wire form and back.
    auto again = GraphFromProto(GraphToProto(**g));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(PrintGraph(**again), printed);
  }
}

TEST(TextTest, DefaultsAreFilledAndNotPrinted) {
  auto g = ParseGraph(R"(
graph(%x: f32[2]) {
  %a = aten::add.Tensor(%x, %x, alpha=1) : f32[2]
  %b = aten::leaky_relu.default(%x, 0.01) : f32[2]
  %c = aten::leaky_relu.default(%x, 0.2) : f32[2]
  return (%a, %b, %c)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(PrintGraph(**g), R"(graph(%x: f32[2]) {
  %a = aten::add.Tensor(%x, %x) : f32[2]
  %b = aten::leaky_relu.default(%x) : f32[2]
  %c = aten::leaky_relu.default(%x, 0.2) : f32[2]
  return (%a, %b, %c)
}
)");
  // Normalized: alpha is an argument even when omitted.
  const Node* a = (*g)->node(0);
  ASSERT_EQ(a->args().size(), 3);
  EXPECT_EQ(a->arg(2).AsInt(), 1);
}

TEST(TextTest, KeywordAndPositionalFormsGiveTheSameGraph) {
  auto pos = ParseGraph(R"(
graph(%x: f32[2, 3]) {
  %s = aten::sum.dim_IntList(%x, [0], True) : f32[1, 3]
  return (%s)
})");
  auto kw = ParseGraph(R"(
graph(%x: f32[2, 3]) {
  %s = aten::sum.dim_IntList(%x, keepdim=True, dim=[0]) : f32[1, 3]
  return (%s)
})");
  ASSERT_TRUE(pos.ok()) << pos.status();
  ASSERT_TRUE(kw.ok()) << kw.status();
  EXPECT_EQ(PrintGraph(**pos), PrintGraph(**kw));
}

TEST(TextTest, FloatsKeepTheirBits) {
  auto g = ParseGraph(R"(
graph(%x: f64[1]) {
  %a = aten::add.Scalar(%x, 0.1) : f64[1]
  %b = aten::add.Scalar(%x, -0.0) : f64[1]
  %c = aten::add.Scalar(%x, 1e+300) : f64[1]
  %d = aten::add.Scalar(%x, nan) : f64[1]
  %e = aten::add.Scalar(%x, 3.0) : f64[1]
  return (%a, %b, %c, %d, %e)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  std::string printed = PrintGraph(**g);
  EXPECT_THAT(printed, HasSubstr("aten::add.Scalar(%x, 0.1)"));
  EXPECT_THAT(printed, HasSubstr("aten::add.Scalar(%x, -0.0)"));
  EXPECT_THAT(printed, HasSubstr("aten::add.Scalar(%x, 1e+300)"));
  EXPECT_THAT(printed, HasSubstr("aten::add.Scalar(%x, nan)"));
  EXPECT_THAT(printed, HasSubstr("aten::add.Scalar(%x, 3.0)"));
  EXPECT_EQ((*g)->node(0)->arg(1).f, 0.1);
  EXPECT_TRUE(std::signbit((*g)->node(1)->arg(1).f));
}

TEST(TextTest, SyntaxErrorsNameLineAndColumn) {
  auto g =
      ParseGraph("graph(%x: f32[2]) {\n  %a = aten::neg.default(%x) f32[2]\n");
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("line 2, column 30: expected ':'"));
  auto bad_dtype = ParseGraph("graph(%x: f31[2]) {\n return (%x)\n}");
  ASSERT_FALSE(bad_dtype.ok());
  EXPECT_THAT(std::string(bad_dtype.status().message()),
              HasSubstr("unknown dtype 'f31'"));
}

TEST(TextTest, SemanticErrorsComeFromTheConverter) {
  auto g = ParseGraph(R"(
graph(%x: f32[2, 3], %y: f32[4, 2]) {
  %mm = aten::mm.default(%x, %y) : f32[2, 2]
  return (%mm)
})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(std::string(g.status().message()),
            "graph.nodes[0] (aten::mm.default): inner dimensions 3 and 4 "
            "differ");
}

}  // namespace
}  // namespace kiln::ir
