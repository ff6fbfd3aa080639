// The pointwise backward ops of training graphs: they are pointwise-family
// members (inference, reference and codegen rule from one declaration), with
// ATen's dtype rules, operand order (which decides the output layout) and
// known values per dtype (computed with PyTorch in float64).
// tests/python/test_ops_training.py compares with PyTorch eager.
#include <cmath>
#include <limits>

#include "compiler/ops/numeric_test_util.h"
#include "compiler/ops/pointwise.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::ExpectConverts;
using family_test::ExpectError;
using family_test::ExpectTensor;
using family_test::FloatingDTypes;
using family_test::One;
using family_test::RunText;
using family_test::T;
using ir::DType;
using ir::ShortName;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(TrainingOpsTest, AreFusablePointwiseOps) {
  for (const char* name :
       {"aten::threshold_backward.default", "aten::sigmoid_backward.default",
        "aten::tanh_backward.default", "aten::gelu_backward.default"}) {
    const OpDef& op = GetOp(name);
    EXPECT_EQ(op.category(), OpCategory::kPointwise) << name;
    EXPECT_NE(op.pointwise(), nullptr) << name;
  }
}

TEST(TrainingOpsTest, ThresholdBackwardPerDType) {
  for (DType d : AllDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params = "%g: " + t + "[4], %x: " + t + "[4]";
    const std::string call = "aten::threshold_backward.default(%g, %x, 2)";
    if (d == DType::kBool) {
      ExpectError(One(params, call, "b8[4]"),
                  "threshold_backward is not supported for b8");
      continue;
    }
    auto r = RunText(One(params, call, t + "[4]"),
                     {T(d, {4}, {1, 2, 3, 4}), T(d, {4}, {1, 2, 3, 0})});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {4}, {0, 0, 3, 0});
  }
  // Promotion; the threshold converts to the common dtype (1.5 -> 1 for
  // integers); NaN inputs keep the gradient.
  auto r =
      RunText(One("%g: f32[2], %x: i32[2]",
                  "aten::threshold_backward.default(%g, %x, 1.5)", "f32[2]"),
              {T(DType::kFloat32, {2}, {1, 2}), T(DType::kInt32, {2}, {1, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2}, {0, 2});
  r = RunText(
      One("%g: i64[3], %x: i64[3]",
          "aten::threshold_backward.default(%g, %x, 1.5)", "i64[3]"),
      {T(DType::kInt64, {3}, {7, 8, 9}), T(DType::kInt64, {3}, {0, 1, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kInt64, {3}, {0, 0, 9});
  r = RunText(One("%g: f16[3], %x: f16[3]",
                  "aten::threshold_backward.default(%g, %x, 1)", "f16[3]"),
              {T(DType::kFloat16, {3}, {1, 2, 3}),
               T(DType::kFloat16, {3}, {kNaN, 0.5, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat16, {3}, {1, 0, 3});
  ExpectError(One("%g: u8[2], %x: u8[2]",
                  "aten::threshold_backward.default(%g, %x, 300)", "u8[2]"),
              "cannot be converted");
  // Layout: TensorIterator's, led by `self` (ATen's first operand), and
  // broadcasting.
  ExpectConverts(One("%g: f32[2, 3], %x: f32[2, 3]{1, 2}",
                     "aten::threshold_backward.default(%g, %x, 0)",
                     "f32[2, 3]{1, 2}"));
  ExpectConverts(One("%g: f32[2, 1], %x: f32[3]",
                     "aten::threshold_backward.default(%g, %x, 0)",
                     "f32[2, 3]"));
}

TEST(TrainingOpsTest, SigmoidTanhBackwardPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params = "%g: " + t + "[4], %y: " + t + "[4]";
    std::vector<rt::Tensor> in = {T(d, {4}, {1, 1, 2, -1}),
                                  T(d, {4}, {0.25, 0.5, 0.9, -0.5})};
    auto r = RunText(
        One(params, "aten::sigmoid_backward.default(%g, %y)", t + "[4]"), in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {4}, {0.1875, 0.25, 0.18, 0.75},
                 /*scale=*/2);
    r = RunText(One(params, "aten::tanh_backward.default(%g, %y)", t + "[4]"),
                in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {4}, {0.9375, 0.75, 0.38, -0.75},
                 /*scale=*/2);
  }
  ExpectConverts(One("%g: f16[4], %y: f32[4]",
                     "aten::sigmoid_backward.default(%g, %y)", "f32[4]"));
  ExpectError(One("%g: i32[4], %y: i32[4]",
                  "aten::tanh_backward.default(%g, %y)", "i32[4]"),
              "tanh_backward is not supported for i32");
  ExpectError(One("%g: i64[4], %y: b8[4]",
                  "aten::sigmoid_backward.default(%g, %y)", "i64[4]"),
              "sigmoid_backward is not supported for i64");
}

TEST(TrainingOpsTest, GeluBackwardPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params = "%g: " + t + "[4], %x: " + t + "[4]";
    std::vector<rt::Tensor> in = {T(d, {4}, {1, 1, 2, -1}),
                                  T(d, {4}, {0, 1, -2, 0.5})};
    auto r = RunText(
        One(params, "aten::gelu_backward.default(%g, %x)", t + "[4]"), in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(
        r.outputs[0], d, {4},
        {0.5, 1.0833154705876864, -0.17046360215639383, -0.8674951246561629},
        /*scale=*/2);
    r = RunText(
        One(params, "aten::gelu_backward.default(%g, %x, approximate=\"tanh\")",
            t + "[4]"),
        in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(
        r.outputs[0], d, {4},
        {0.5, 1.0829640838457826, -0.1721985132472366, -0.8673699035346424},
        /*scale=*/2);
  }
  ExpectError(
      One("%g: f32[4], %x: f32[4]",
          "aten::gelu_backward.default(%g, %x, approximate=\"erf\")", "f32[4]"),
      "approximate argument must be either none or tanh, got 'erf'");
  ExpectError(One("%g: i64[4], %x: i64[4]",
                  "aten::gelu_backward.default(%g, %x)", "i64[4]"),
              "gelu_backward is not supported for i64");
}

TEST(TrainingOpsTest, CodegenRules) {
  auto g = ir::ParseGraph(R"(graph(%g: f16[4], %x: f32[4]) {
  %t = aten::threshold_backward.default(%g, %x, 0) : f32[4]
  %s = aten::gelu_backward.default(%t, %x, approximate="tanh") : f32[4]
  return (%s)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto low = LowerPointwise(*(*g)->node(0));
  ASSERT_TRUE(low.ok()) << low.status();
  std::vector<std::string> exprs;
  for (const auto& in : low->inputs) {
    std::string e =
        in.value ? "x_" + in.value->name() : EmitScalarLiteral(in.constant);
    e = EmitConvert(e, in.dtype, in.load_dtype);
    exprs.push_back(EmitConvert(e, in.load_dtype, low->compute));
  }
  // self first, then the threshold in the common dtype, then the grad.
  EXPECT_EQ(EmitPointwiseExpr(*low, exprs),
            "kiln::pw::ThresholdBackward{}(x_x, "
            "kiln::pw::Convert<float>(int64_t(0)), "
            "kiln::pw::Convert<float>(x_g))");
  low = LowerPointwise(*(*g)->node(1));
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_STREQ(low->fn->cpp_name, "kiln::pw::GeluTanhBackward");
}

}  // namespace
}  // namespace kiln::ops
