// Softmax and layer norm, forward and backward: inference (ATen's result
// types per device; conversion fails when a declared type disagrees),
// ATen's argument rules and known values per floating dtype (computed with
// PyTorch in float64). tests/python/test_ops_norm.py compares with PyTorch
// eager on random inputs.
#include <cmath>
#include <limits>

#include "compiler/ops/numeric_test_util.h"

namespace kiln::ops {
namespace {

using family_test::ExpectConverts;
using family_test::ExpectError;
using family_test::ExpectTensor;
using family_test::FloatingDTypes;
using family_test::Iota;
using family_test::One;
using family_test::OneReturning;
using family_test::RunText;
using family_test::T;
using ir::DType;
using ir::ShortName;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// softmax([1, 2, 3]) and log_softmax([1, 2, 3]).
const std::vector<double> kSoftmax = {0.09003057317038045, 0.2447284710547976,
                                      0.6652409557748218};
const std::vector<double> kLogSoftmax = {
    -2.4076059644443806, -1.4076059644443804, -0.4076059644443804};

TEST(NormOpsTest, SoftmaxPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    rt::Tensor rows = T(d, {2, 3}, {1, 2, 3, 1, 2, 3});
    auto r = RunText(One("%x: " + t + "[2, 3]",
                         "aten::_softmax.default(%x, 1, False)", t + "[2, 3]"),
                     {rows});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> twice = kSoftmax;
    twice.insert(twice.end(), kSoftmax.begin(), kSoftmax.end());
    ExpectTensor(r.outputs[0], d, {2, 3}, twice);

    // Along dim 0 of a transposed input: the result is contiguous.
    rt::Tensor cols = T(d, {3, 2}, {1, 1, 2, 2, 3, 3});
    auto strided = rt::Tensor::EmptyStrided(d, {3, 2}, {1, 3});
    ASSERT_TRUE(strided.ok());
    ASSERT_TRUE(strided->CopyFrom(cols).ok());
    r = RunText(One("%x: " + t + "[3, 2]{1, 3}",
                    "aten::_log_softmax.default(%x, -2, False)", t + "[3, 2]"),
                {*strided});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {3, 2},
                 {kLogSoftmax[0], kLogSoftmax[0], kLogSoftmax[1],
                  kLogSoftmax[1], kLogSoftmax[2], kLogSoftmax[2]});
    EXPECT_TRUE(r.outputs[0].IsContiguous());
  }
}

TEST(NormOpsTest, SoftmaxEdgeCases) {
  // A 0-d tensor: softmax 1, log_softmax 0.
  auto r = RunText(
      One("%x: f32[]", "aten::_softmax.default(%x, -1, False)", "f32[]"),
      {T(DType::kFloat32, {}, {7})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {1});
  r = RunText(
      One("%x: f32[]", "aten::_log_softmax.default(%x, 0, False)", "f32[]"),
      {T(DType::kFloat32, {}, {7})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {0});
  // Rows of only -inf, with +inf, with NaN: NaN, as in ATen; an ordinary
  // row with a -inf entry gives it 0.
  rt::Tensor x =
      T(DType::kFloat32, {4, 2}, {-kInf, -kInf, 1, kInf, kNaN, 1, -kInf, 0});
  for (const char* op : {"_softmax", "_log_softmax"}) {
    r = RunText(
        One("%x: f32[4, 2]",
            std::string("aten::") + op + ".default(%x, 1, False)", "f32[4, 2]"),
        {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    bool log = std::string(op) == "_log_softmax";
    ExpectTensor(
        r.outputs[0], DType::kFloat32, {4, 2},
        {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, log ? -kInf : 0, log ? 0 : 1});
  }
  ExpectConverts(One("%x: f32[0, 3]", "aten::_softmax.default(%x, 0, False)",
                     "f32[0, 3]"));
  ExpectError(
      One("%x: i64[2, 3]", "aten::_softmax.default(%x, 1, False)", "i64[2, 3]"),
      "_softmax is not supported for i64 (floating dtypes only)");
  ExpectError(
      One("%x: f32[2, 3]", "aten::_softmax.default(%x, 2, False)", "f32[2, 3]"),
      "dimension out of range");
  // half_to_float: float16 in, float32 out, on CUDA only.
  ExpectError(
      One("%x: f16[2, 3]", "aten::_softmax.default(%x, 1, True)", "f32[2, 3]"),
      "softmax with half to float conversion is not supported on CPU");
  ExpectError(One("%x: bf16[2, 3] cuda:0",
                  "aten::_softmax.default(%x, 1, True)", "f32[2, 3] cuda:0"),
              "half to float conversion is supported for f16 only");
  r = RunText(One("%x: f16[3] cuda:0", "aten::_softmax.default(%x, 0, True)",
                  "f32[3] cuda:0"),
              {T(DType::kFloat16, {3}, {1, 2, 3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {3}, kSoftmax);
}

TEST(NormOpsTest, SoftmaxBackwardPerFloatingDType) {
  // grad [1, 2, 3] at softmax([1, 2, 3]) / log_softmax([1, 2, 3]).
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params = "%g: " + t + "[1, 3], %y: " + t + "[1, 3]";
    const std::string dtype = ir::TorchName(d);
    auto r = RunText(
        One(params,
            "aten::_softmax_backward_data.default(%g, %y, 1, " + dtype + ")",
            t + "[1, 3]"),
        {T(d, {1, 3}, {1, 2, 3}), T(d, {1, 3}, kSoftmax)});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(
        r.outputs[0], d, {1, 3},
        {-0.1418170936098121, -0.14077035746962996, 0.28258745107944266},
        /*scale=*/4);
    r = RunText(One(params,
                    "aten::_log_softmax_backward_data.default(%g, %y, -1, " +
                        dtype + ")",
                    t + "[1, 3]"),
                {T(d, {1, 3}, {1, 2, 3}), T(d, {1, 3}, kLogSoftmax)});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {1, 3},
                 {0.4598165609777174, 0.5316291736712142, -0.9914457346489307},
                 /*scale=*/4);
  }
}

TEST(NormOpsTest, SoftmaxBackwardDTypeRules) {
  const std::string cuda = "%g: f32[3] cuda:0, %y: f32[3] cuda:0";
  // The backward of a half_to_float softmax: float32 grads, float16 result.
  auto r = RunText(
      One(cuda,
          "aten::_softmax_backward_data.default(%g, %y, 0, torch.float16)",
          "f16[3] cuda:0"),
      {T(DType::kFloat32, {3}, {1, 2, 3}), T(DType::kFloat32, {3}, kSoftmax)});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(
      r.outputs[0], DType::kFloat16, {3},
      {-0.1418170936098121, -0.14077035746962996, 0.28258745107944266});
  ExpectError(
      One("%g: f32[3], %y: f32[3]",
          "aten::_softmax_backward_data.default(%g, %y, 0, torch.float16)",
          "f16[3]"),
      "softmax backward with half to float conversion is not supported on "
      "CPU");
  ExpectError(One("%g: f16[3] cuda:0, %y: f16[3] cuda:0",
                  "aten::_log_softmax_backward_data.default(%g, %y, 0, "
                  "torch.float32)",
                  "f16[3] cuda:0"),
              "expected input and grad types to match");
  // ATen's CPU kernels ignore other input dtypes.
  ExpectConverts(One("%g: f16[3], %y: f16[3]",
                     "aten::_softmax_backward_data.default(%g, %y, 0, "
                     "torch.float32)",
                     "f16[3]"));
  ExpectError(One("%g: f32[2, 3], %y: f32[1, 3]",
                  "aten::_softmax_backward_data.default(%g, %y, 1, "
                  "torch.float32)",
                  "f32[2, 3]"),
              "Expected tensor for argument #1 'grad' to have same size as "
              "tensor for argument #2 'output'; but [2, 3] does not equal "
              "[1, 3]");
  ExpectError(One("%g: f32[3], %y: f16[3]",
                  "aten::_softmax_backward_data.default(%g, %y, 0, "
                  "torch.float16)",
                  "f16[3]"),
              "grad_output and output must have the same dtype, got f32 and "
              "f16");
  // Output layout: contiguous whatever the grads' layout.
  ExpectConverts(One("%g: f32[3, 2]{1, 3}, %y: f32[3, 2]",
                     "aten::_softmax_backward_data.default(%g, %y, 0, "
                     "torch.float32)",
                     "f32[3, 2]"));
}

// native_layer_norm([[1, 2, 4], [-1, 0, 3]], [3], w = [0.5, 1, 2],
// b = [1, 0, -1], eps = 1e-5) in float64.
const std::vector<double> kLnOut = {0.46547923427485105, -0.2672603828625746,
                                    1.6726038286257436,  0.5097105107317678,
                                    -0.3922315914145858, 1.7456211399021};
const std::vector<double> kLnMean = {2.3333333333333335, 0.6666666666666667};
const std::vector<double> kLnRstd = {0.8017811485877232, 0.5883473871218786};

TEST(NormOpsTest, LayerNormPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    // On the CPU, mean and rstd have the input's dtype.
    const std::string params =
        "%x: " + t + "[2, 3], %w: " + t + "[3], %b: " + t + "[3]";
    auto r = RunText(
        One(params, "aten::native_layer_norm.default(%x, [3], %w, %b, 1e-05)",
            "(" + t + "[2, 3], " + t + "[2, 1], " + t + "[2, 1])", 3),
        {T(d, {2, 3}, {1, 2, 4, -1, 0, 3}), T(d, {3}, {0.5, 1, 2}),
         T(d, {3}, {1, 0, -1})});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 3}, kLnOut);
    ExpectTensor(r.outputs[1], d, {2, 1}, kLnMean);
    ExpectTensor(r.outputs[2], d, {2, 1}, kLnRstd);
    // On CUDA, float16 and bfloat16 keep float32 statistics.
    const std::string s = ShortName(ir::OpMathType(d));
    ExpectConverts(One("%x: " + t + "[4, 2, 3] cuda:0",
                       "aten::native_layer_norm.default(%x, [2, 3], None, "
                       "None, 1e-05)",
                       "(" + t + "[4, 2, 3] cuda:0, " + s +
                           "[4, 1, 1] cuda:0, " + s + "[4, 1, 1] cuda:0)",
                       3));
  }
}

TEST(NormOpsTest, LayerNormArgumentRules) {
  // Without weight and bias; several normalized dims; symbolic rows.
  auto r = RunText(
      One("%x: f64[1, 2, 3]",
          "aten::native_layer_norm.default(%x, [2, 3], None, None, 0.0)",
          "(f64[1, 2, 3], f64[1, 1, 1], f64[1, 1, 1])", 3),
      {T(DType::kFloat64, {1, 2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  const double s = 1 / std::sqrt(35.0 / 12);
  ExpectTensor(r.outputs[0], DType::kFloat64, {1, 2, 3},
               {-2.5 * s, -1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, 2.5 * s});
  ExpectTensor(r.outputs[1], DType::kFloat64, {1, 1, 1}, {3.5});
  ExpectTensor(r.outputs[2], DType::kFloat64, {1, 1, 1}, {s});
  ExpectConverts(One("%x: f32[s0, 8]",
                     "aten::native_layer_norm.default(%x, [8], None, None, "
                     "1e-05)",
                     "(f32[s0, 8], f32[s0, 1], f32[s0, 1])", 3));
  // An empty normalized shape: mean 0 and rstd NaN, as ATen's kernels give.
  r = RunText(One("%x: f32[2, 0]",
                  "aten::native_layer_norm.default(%x, [0], None, None, "
                  "1e-05)",
                  "(f32[2, 0], f32[2, 1], f32[2, 1])", 3),
              {T(DType::kFloat32, {2, 0}, {})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[1], DType::kFloat32, {2, 1}, {0, 0});
  ExpectTensor(r.outputs[2], DType::kFloat32, {2, 1}, {kNaN, kNaN});
  // Mixed dtypes: float32 weights of a bfloat16 input on the CPU (PyTorch
  // 2) give float32 statistics; CUDA refuses them.
  ExpectConverts(One("%x: bf16[2, 3], %w: f32[3], %b: f32[3]",
                     "aten::native_layer_norm.default(%x, [3], %w, %b, "
                     "1e-05)",
                     "(bf16[2, 3], f32[2, 1], f32[2, 1])", 3));
  ExpectError(One("%x: bf16[2, 3] cuda:0, %w: f32[3] cuda:0",
                  "aten::native_layer_norm.default(%x, [3], %w, None, "
                  "1e-05)",
                  "(bf16[2, 3] cuda:0, f32[2, 1] cuda:0, f32[2, 1] cuda:0)", 3),
              "expected weight of dtype bf16, got f32");
  ExpectError(One("%x: f64[2, 3], %w: f32[3]",
                  "aten::native_layer_norm.default(%x, [3], %w, None, "
                  "1e-05)",
                  "(f64[2, 3], f64[2, 1], f64[2, 1])", 3),
              "expected weight of dtype f64, got f32");
  ExpectError(One("%x: bf16[2, 3], %w: bf16[3], %b: f32[3]",
                  "aten::native_layer_norm.default(%x, [3], %w, %b, 1e-05)",
                  "(bf16[2, 3], f32[2, 1], f32[2, 1])", 3),
              "weight and bias must share one dtype");
  ExpectError(One("%x: f32[2, 3]",
                  "aten::native_layer_norm.default(%x, [2], None, None, "
                  "1e-05)",
                  "(f32[2, 3], f32[2, 1], f32[2, 1])", 3),
              "Given normalized_shape=[2], expected input with shape [*, 2], "
              "but got input of size[2, 3]");
  ExpectError(One("%x: f32[2, 3], %w: f32[2]",
                  "aten::native_layer_norm.default(%x, [3], %w, None, "
                  "1e-05)",
                  "(f32[2, 3], f32[2, 1], f32[2, 1])", 3),
              "Expected weight to be of same shape as normalized_shape, but "
              "got weight of shape [2] and normalized_shape = [3]");
  ExpectError(One("%x: f32[2, 3]",
                  "aten::native_layer_norm.default(%x, [], None, None, 1e-05)",
                  "(f32[2, 3], f32[2, 3], f32[2, 3])", 3),
              "Expected normalized_shape to be at least 1-dimensional");
  ExpectError(One("%x: i32[2, 3]",
                  "aten::native_layer_norm.default(%x, [3], None, None, "
                  "1e-05)",
                  "(i32[2, 3], i32[2, 1], i32[2, 1])", 3),
              "native_layer_norm is not supported for i32");
}

// native_layer_norm_backward at the forward above with grad
// [[1, -2, 0.5], [0.25, 1, -1]], in float64.
const std::vector<double> kLnGrad = {1, -2, 0.5, 0.25, 1, -1};
const std::vector<double> kLnDx = {0.916318858255, -1.374482582612,
                                   0.458163724356, -0.381857912594,
                                   0.509147645475, -0.127289732881};
const std::vector<double> kLnDw = {-1.314186276084, 0.142289174311,
                                   -0.704659612795};
const std::vector<double> kLnDb = {1.25, -1, -0.5};
const std::vector<double> kLnDxNoWeight = {0.973591149272, -1.460387153431,
                                           0.486796004159, -0.288515169009,
                                           0.384689211450, -0.096174042441};

TEST(NormOpsTest, LayerNormBackwardPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params = "%g: " + t + "[2, 3], %x: " + t +
                               "[2, 3], %m: " + t + "[2, 1], %rs: " + t +
                               "[2, 1], %w: " + t + "[3], %b: " + t + "[3]";
    std::vector<rt::Tensor> in = {
        T(d, {2, 3}, kLnGrad),  T(d, {2, 3}, {1, 2, 4, -1, 0, 3}),
        T(d, {2, 1}, kLnMean),  T(d, {2, 1}, kLnRstd),
        T(d, {3}, {0.5, 1, 2}), T(d, {3}, {1, 0, -1})};
    auto r = RunText(
        One(params,
            "aten::native_layer_norm_backward.default(%g, %x, [3], %m, %rs, "
            "%w, %b, [True, True, True])",
            "(" + t + "[2, 3], " + t + "[3], " + t + "[3])", 3),
        in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    // Low-precision statistics (rounded mean and rstd) move the result a
    // few units in the last place.
    const double scale = ir::IsReducedFloat(d) ? 3 : 1;
    ExpectTensor(r.outputs[0], d, {2, 3}, kLnDx, scale);
    ExpectTensor(r.outputs[1], d, {3}, kLnDw, scale);
    ExpectTensor(r.outputs[2], d, {3}, kLnDb, scale);

    // Only grad_input, without weight and bias.
    in.resize(4);
    r = RunText("graph(%g: " + t + "[2, 3], %x: " + t + "[2, 3], %m: " + t +
                    "[2, 1], %rs: " + t +
                    "[2, 1]) {\n"
                    "  %n = aten::native_layer_norm_backward.default(%g, %x, "
                    "[3], %m, %rs, None, None, [True, False, False]) : (" +
                    t + "[2, 3], None, None)\n  return (%n#0)\n}",
                in);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 3}, kLnDxNoWeight, scale);
  }
}

TEST(NormOpsTest, LayerNormBackwardArgumentRules) {
  const std::string p =
      "%g: f32[2, 3], %x: f32[2, 3], %m: f32[2, 1], %rs: f32[2, 1], %w: "
      "f32[3]";
  // Only the masked gradients; grad_bias needs a bias.
  ExpectConverts(
      "graph(" + p +
      ") {\n  %n = aten::native_layer_norm_backward.default(%g, %x, [3], %m, "
      "%rs, %w, None, [False, True, False]) : (None, f32[3], None)\n"
      "  return (%n#1)\n}");
  ExpectError("graph(" + p +
                  ") {\n  %n = aten::native_layer_norm_backward.default(%g, "
                  "%x, [3], %m, %rs, %w, None, [True, True, True]) : "
                  "(f32[2, 3], f32[3], f32[3])\n  return (%n#0)\n}",
              "output_mask[2] asks for the gradient of bias, which is None");
  // Statistics: one per row (any shape), in the forward's dtype.
  ExpectConverts(
      OneReturning("%g: f32[2, 3], %x: f32[2, 3], %m: f32[2], %rs: f32[2]",
                   "aten::native_layer_norm_backward.default(%g, %x, [3], "
                   "%m, %rs, None, None, [True, False, False])",
                   "(f32[2, 3], None, None)", "%r#0"));
  ExpectError(
      OneReturning("%g: f32[2, 3], %x: f32[2, 3], %m: f32[3], %rs: f32[3]",
                   "aten::native_layer_norm_backward.default(%g, %x, [3], %m, "
                   "%rs, None, None, [True, False, False])",
                   "(f32[2, 3], None, None)", "%r#0"),
      "mean must have 2 elements (one per normalized row), got [3]");
  ExpectError(
      OneReturning("%g: bf16[2, 3] cuda:0, %x: bf16[2, 3] cuda:0, %m: bf16[2, "
                   "1] cuda:0, %rs: bf16[2, 1] cuda:0",
                   "aten::native_layer_norm_backward.default(%g, %x, [3], %m, "
                   "%rs, None, None, [True, False, False])",
                   "(bf16[2, 3] cuda:0, None, None)", "%r#0"),
      "expected mean of dtype f32, got bf16");
  ExpectError(OneReturning(
                  "%g: f64[2, 3], %x: f32[2, 3], %m: f32[2, 1], %rs: f32[2, 1]",
                  "aten::native_layer_norm_backward.default(%g, %x, [3], %m, "
                  "%rs, None, None, [True, False, False])",
                  "(f32[2, 3], None, None)", "%r#0"),
              "must have the size and dtype of input");
  // Empty batch: zero weight and bias gradients.
  auto r = RunText(
      One("%g: f32[0, 3], %x: f32[0, 3], %m: f32[0, 1], %rs: f32[0, 1], %w: "
          "f32[3], %b: f32[3]",
          "aten::native_layer_norm_backward.default(%g, %x, [3], %m, %rs, %w, "
          "%b, [True, True, True])",
          "(f32[0, 3], f32[3], f32[3])", 3),
      {T(DType::kFloat32, {0, 3}, {}), T(DType::kFloat32, {0, 3}, {}),
       T(DType::kFloat32, {0, 1}, {}), T(DType::kFloat32, {0, 1}, {}),
       Iota(DType::kFloat32, {3}), Iota(DType::kFloat32, {3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[1], DType::kFloat32, {3}, {0, 0, 0});
  ExpectTensor(r.outputs[2], DType::kFloat32, {3}, {0, 0, 0});
}

}  // namespace
}  // namespace kiln::ops
