// The codegen rule against the interpreter: a chain of pointwise nodes is
// emitted as one fused C++ loop (EmitPointwiseNode, intermediates inlined),
// compiled by the host compiler with runtime/scalar_math.h, run, and every
// output compared bit for bit with the reference interpreter.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"
#include "compiler/ops/pointwise.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

constexpr char kGraph[] = R"(
graph(%x: f16[8], %y: f32[8], %i: i32[8], %m: b8[8], %s: float) {
  %a = aten::add.Tensor(%x, %y, alpha=2) : f32[8]
  %b = aten::mul.Scalar(%a, %s) : f32[8]
  %c = aten::gelu.default(%b, approximate="tanh") : f32[8]
  %d = aten::where.self(%m, %c, %i) : f32[8]
  %e = aten::lt.Scalar(%i, -1) : b8[8]
  %f = aten::div.Tensor_mode(%i, %i, rounding_mode="floor") : i32[8]
  %g = aten::neg.default(%x) : f16[8]
  %h = aten::mul.Tensor(%g, %x) : f16[8]
  %k = aten::sigmoid.default(%h) : f16[8]
  %n = aten::remainder.Scalar(%i, -3) : i32[8]
  %p = aten::pow.Tensor_Scalar(%y, 3) : f32[8]
  %q = aten::clamp.default(%p, -1.5, 2.5) : f32[8]
  %r = aten::masked_fill.Scalar(%q, %e, -inf) : f32[8]
  return (%d, %e, %f, %k, %n, %r)
})";

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir && ws) return std::string(srcdir) + "/" + ws + "/" + path;
  return path;
}

TEST(PointwiseCodegenTest, FusedChainMatchesInterpreterBitForBit) {
  auto g = ir::ParseGraph(kGraph);
  ASSERT_TRUE(g.ok()) << g.status();
  const ir::Graph& graph = **g;

  // Inputs.
  std::vector<double> xv = {0.5, -1.25, 3.0, 100.5, -0.0, 7.75, 1e-3, -2.0};
  std::vector<double> yv = {1.0, 2.5, -3.0, 0.1, 1e4, -7.0, 0.25, 1.5};
  std::vector<int64_t> iv = {1, -2, 3, -4, 5, 0, 7, -9};
  std::vector<int64_t> mv = {1, 0, 1, 0, 1, 1, 0, 0};
  for (int64_t& v : iv) {
    if (v == 0) v = 6;  // floor division by zero is a separate test
  }
  std::vector<RuntimeValue> inputs = {
      RuntimeValue::OfTensor(
          rt::Tensor::FromDoubles(ir::DType::kFloat16, {8}, xv)),
      RuntimeValue::OfTensor(
          rt::Tensor::FromDoubles(ir::DType::kFloat32, {8}, yv)),
      RuntimeValue::OfTensor(rt::Tensor::FromInts(ir::DType::kInt32, {8}, iv)),
      RuntimeValue::OfTensor(rt::Tensor::FromInts(ir::DType::kBool, {8}, mv)),
      RuntimeValue::OfScalar(rt::Scalar::Float(0.75))};
  auto expected = interp::RunGraph(graph, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status();

  // Emit one fused loop: every node's expression with its producers inlined.
  absl::flat_hash_map<const ir::Value*, std::string> expr;
  expr[graph.placeholder(0)] = "x[j]";
  expr[graph.placeholder(1)] = "y[j]";
  expr[graph.placeholder(2)] = "i[j]";
  expr[graph.placeholder(3)] = "m[j]";
  expr[graph.placeholder(4)] = "s";
  for (const auto& node : graph.nodes()) {
    auto low = LowerPointwise(*node);
    ASSERT_TRUE(low.ok()) << low.status();
    expr[node->output(0)] = EmitPointwiseNode(
        *low,
        [&](const PointwiseLowering::Input& in) { return expr[in.value]; });
  }
  std::string src = absl::StrCat(
      "#include \"scalar_math.h\"\n#include <cstdio>\n",
      "using kiln::pw::Half;\n", "int main() {\n  const double s = 0.75;\n");
  auto array = [&](const char* type, const char* name, const rt::Tensor& t) {
    std::string out = absl::StrCat("  ", type, " ", name, "[8] = {");
    for (double v : t.ToDoubles()) {
      absl::StrAppend(&out, "kiln::pw::Convert<", type, ">(",
                      absl::StrFormat("%a", v), "), ");
    }
    return out + "};\n";
  };
  absl::StrAppend(&src, array("Half", "x", inputs[0].tensor),
                  array("float", "y", inputs[1].tensor),
                  array("int32_t", "i", inputs[2].tensor),
                  array("bool", "m", inputs[3].tensor));
  absl::StrAppend(&src, "  for (int j = 0; j < 8; ++j) {\n");
  for (const ir::Arg& out : graph.outputs()) {
    absl::StrAppend(&src, "    std::printf(\"%a \", kiln::pw::Convert<double>(",
                    expr[out.value], "));\n");
  }
  absl::StrAppend(&src, "    std::printf(\"\\n\");\n  }\n}\n");

  std::string dir =
      std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  std::ofstream(dir + "/kernel.cc") << src;
  std::string header_dir = Runfile("compiler/runtime");
  std::string cmd = absl::StrCat("c++ -std=c++17 -O2 -I", header_dir, " ", dir,
                                 "/kernel.cc -o ", dir, "/kernel 2>&1");
  FILE* cc = popen(cmd.c_str(), "r");
  ASSERT_NE(cc, nullptr);
  std::string diagnostics;
  char buf[512];
  while (fgets(buf, sizeof(buf), cc)) diagnostics += buf;
  ASSERT_EQ(pclose(cc), 0) << diagnostics << "\n" << src;

  FILE* run = popen((dir + "/kernel").c_str(), "r");
  ASSERT_NE(run, nullptr);
  std::vector<std::vector<double>> got(graph.outputs().size());
  for (int j = 0; j < 8; ++j) {
    for (size_t k = 0; k < got.size(); ++k) {
      char word[64];
      ASSERT_EQ(fscanf(run, "%63s", word), 1);
      got[k].push_back(std::strtod(word, nullptr));
    }
  }
  pclose(run);
  for (size_t k = 0; k < got.size(); ++k) {
    std::vector<double> want = (*expected)[k].tensor.ToDoubles();
    for (int j = 0; j < 8; ++j) {
      bool same = (std::isnan(want[j]) && std::isnan(got[k][j])) ||
                  std::memcmp(&want[j], &got[k][j], sizeof(double)) == 0;
      EXPECT_TRUE(same) << "output " << k << " element " << j << ": generated "
                        << got[k][j] << ", interpreter " << want[j] << "\n"
                        << expr[graph.outputs()[k].value];
    }
  }
}

}  // namespace
}  // namespace kiln::ops
