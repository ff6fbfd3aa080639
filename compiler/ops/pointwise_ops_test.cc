// Hand-written checks of the pointwise family: result dtypes, values and the
// codegen rule. The exhaustive per-op, per-dtype comparison against values
// printed by PyTorch is op_golden_test.cc.
#include <cmath>

#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"
#include "compiler/ops/pointwise.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Result {
  absl::Status status;
  rt::Tensor tensor;
  std::unique_ptr<ir::Graph> graph;
};

// Runs `%r = <call> : <type>` on inputs %a, %b (and %c) given as tensors.
Result RunOne(const std::string& params, const std::string& call,
              const std::string& type, std::vector<rt::Tensor> inputs) {
  Result r;
  std::string text = "graph(" + params + ") {\n  %r = " + call + " : " + type +
                     "\n  return (%r)\n}";
  auto g = ir::ParseGraph(text);
  if (!g.ok()) {
    r.status = g.status();
    return r;
  }
  std::vector<RuntimeValue> in;
  for (auto& t : inputs) in.push_back(RuntimeValue::OfTensor(t));
  auto out = interp::RunGraph(**g, in);
  r.graph = *std::move(g);
  if (!out.ok()) {
    r.status = out.status();
    return r;
  }
  r.tensor = (*out)[0].tensor;
  return r;
}

rt::Tensor D(ir::DType d, std::vector<int64_t> sizes, std::vector<double> v) {
  return rt::Tensor::FromDoubles(d, sizes, v);
}

TEST(PointwiseOpsTest, AddMulNegReluAcrossDtypes) {
  using ir::DType;
  auto r = RunOne("%a: i8[3], %b: i8[3]", "aten::add.Tensor(%a, %b, alpha=2)",
                  "i8[3]",
                  {D(DType::kInt8, {3}, {100, -100, 1}),
                   D(DType::kInt8, {3}, {14, -14, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToInts(), ElementsAre(-128, -128, 5));  // 128 wraps

  r = RunOne(
      "%a: b8[3], %b: b8[3]", "aten::mul.Tensor(%a, %b)", "b8[3]",
      {D(DType::kBool, {3}, {1, 1, 0}), D(DType::kBool, {3}, {1, 0, 0})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToInts(), ElementsAre(1, 0, 0));

  r = RunOne("%a: bf16[2]", "aten::neg.default(%a)", "bf16[2]",
             {D(DType::kBFloat16, {2}, {1.5, -0.0})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(-1.5, 0.0));
  EXPECT_FALSE(std::signbit(r.tensor.ToDoubles()[1]));

  r = RunOne("%a: f64[3]", "aten::relu.default(%a)", "f64[3]",
             {D(DType::kFloat64, {3}, {-1, NAN, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.tensor.ToDoubles()[0], 0);
  EXPECT_TRUE(std::isnan(r.tensor.ToDoubles()[1]));
  EXPECT_EQ(r.tensor.ToDoubles()[2], 2);

  r = RunOne("%a: b8[1]", "aten::neg.default(%a)", "b8[1]",
             {D(DType::kBool, {1}, {1})});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("neg is not supported for b8"));
}

TEST(PointwiseOpsTest, PromotionWithScalarsAndZeroDimTensors) {
  using ir::DType;
  // i32 tensor + Python float -> f32 (the default dtype).
  auto r = RunOne("%a: i32[2]", "aten::add.Scalar(%a, 0.5)", "f32[2]",
                  {D(DType::kInt32, {2}, {1, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(1.5, 2.5));
  // u8 < -1: the scalar is cast to u8 (255) first, as in ATen.
  r = RunOne("%a: u8[2]", "aten::lt.Scalar(%a, -1)", "b8[2]",
             {D(DType::kUInt8, {2}, {0, 255})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToInts(), ElementsAre(1, 0));
  // i32[2] + f64[] -> f64; f16[2] + f64[] -> f16.
  r = RunOne("%a: i32[2], %b: f64[]", "aten::add.Tensor(%a, %b)", "f64[2]",
             {D(DType::kInt32, {2}, {1, 2}), D(DType::kFloat64, {}, {0.25})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(1.25, 2.25));
  r = RunOne("%a: f16[1], %b: f64[]", "aten::add.Tensor(%a, %b)", "f16[1]",
             {D(DType::kFloat16, {1}, {1}), D(DType::kFloat64, {}, {1e-4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  // true division of ints gives float32
  r = RunOne("%a: i64[2], %b: i64[2]", "aten::div.Tensor(%a, %b)", "f32[2]",
             {D(DType::kInt64, {2}, {1, -7}), D(DType::kInt64, {2}, {2, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(0.5, -3.5));
}

TEST(PointwiseOpsTest, PythonNumbersInTensorPositions) {
  using ir::DType;
  // make_fx records `x * 2` as aten.mul.Tensor(x, 2): a wrapped number.
  auto r = RunOne("%a: i32[2]", "aten::mul.Tensor(%a, 2)", "i32[2]",
                  {D(DType::kInt32, {2}, {3, -4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToInts(), ElementsAre(6, -8));
  r = RunOne("%a: i64[2]", "aten::add.Tensor(%a, 1.5)", "f32[2]",
             {D(DType::kInt64, {2}, {1, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(2.5, 3.5));
  r = RunOne("%a: f16[2]", "aten::mul.Tensor(%a, True)", "f16[2]",
             {D(DType::kFloat16, {2}, {1.5, -2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.tensor.ToDoubles(), ElementsAre(1.5, -2));
  EXPECT_EQ(ir::PrintGraph(*r.graph), R"(graph(%a: f16[2]) {
  %r = aten::mul.Tensor(%a, True) : f16[2]
  return (%r)
}
)");
}

TEST(PointwiseOpsTest, CodegenRuleEmitsScalarExpressions) {
  auto g = ir::ParseGraph(R"(graph(%a: f16[4], %b: f32[4]) {
  %r = aten::add.Tensor(%a, %b, alpha=3) : f32[4]
  %w = aten::where.ScalarOther(%r, %a, 0.5) : f32[4]
  return (%r)
})");
  ASSERT_FALSE(g.ok());  // where's condition must be bool
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("argument 'condition' must be a bool tensor, got f32"));
  g = ir::ParseGraph(R"(graph(%a: f16[4], %b: f32[4]) {
  %r = aten::add.Tensor(%a, %b, alpha=3) : f32[4]
  return (%r)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto low = LowerPointwise(*(*g)->node(0));
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_EQ(low->common, ir::DType::kFloat32);
  EXPECT_EQ(low->compute, ir::DType::kFloat32);
  ASSERT_EQ(low->inputs.size(), 3);
  EXPECT_EQ(low->inputs[2].source,
            PointwiseLowering::Input::Source::kScalarConstant);
  std::vector<std::string> exprs;
  for (const auto& in : low->inputs) {
    std::string e =
        in.value ? "x_" + in.value->name() : EmitScalarLiteral(in.constant);
    e = EmitConvert(e, in.dtype, in.load_dtype);
    exprs.push_back(EmitConvert(e, in.load_dtype, low->compute));
  }
  EXPECT_EQ(EmitPointwiseExpr(*low, exprs),
            "kiln::pw::Add{}(kiln::pw::Convert<float>(x_a), x_b, "
            "kiln::pw::Convert<float>(int64_t(3)))");
}

}  // namespace
}  // namespace kiln::ops
