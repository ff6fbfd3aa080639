// Matrix products: inference (ATen's result types; conversion fails when a
// declared type disagrees), ATen's argument rules and known values per
// dtype. tests/python/test_ops_matmul.py compares with PyTorch eager.
#include <cmath>
#include <limits>

#include "compiler/ops/numeric_test_util.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::ExpectConverts;
using family_test::ExpectError;
using family_test::ExpectTensor;
using family_test::Iota;
using family_test::One;
using family_test::RunText;
using family_test::T;
using ir::DType;
using ir::ShortName;

// Exact results converted to `dtype` as ATen stores them (integers wrap).
std::vector<double> In(DType dtype, const std::vector<double>& exact) {
  return T(dtype, {static_cast<int64_t>(exact.size())}, exact).ToDoubles();
}

TEST(MatmulOpsTest, ProductsPerDType) {
  for (DType d : AllDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string ab = "%a: " + t + "[2, 3], %b: " + t + "[3, 2]";
    // [[0, 1, 2], [3, 4, 5]] @ [[0, 1], [2, 3], [4, 5]]
    rt::Tensor a = Iota(d, {2, 3}), b = Iota(d, {3, 2});
    if (d == DType::kBool) {
      ExpectError(One(ab, "aten::mm.default(%a, %b)", "b8[2, 2]"),
                  "mm is not supported for b8");
      ExpectError(One("%a: b8[1, 2, 3], %b: b8[1, 3, 2]",
                      "aten::bmm.default(%a, %b)", "b8[1, 2, 2]"),
                  "bmm is not supported for b8");
      continue;
    }
    auto r = RunText(One(ab, "aten::mm.default(%a, %b)", t + "[2, 2]"), {a, b});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 2}, In(d, {10, 13, 28, 40}));

    // self broadcasts from [2]; integers take alpha and beta as integers.
    const bool floating = ir::IsFloating(d);
    const std::string call =
        floating ? "aten::addmm.default(%c, %a, %b, beta=0.5, alpha=2)"
                 : "aten::addmm.default(%c, %a, %b, beta=2, alpha=3)";
    r = RunText(One("%c: " + t + "[2], " + ab, call, t + "[2, 2]"),
                {T(d, {2}, {1, 2}), a, b});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(
        r.outputs[0], d, {2, 2},
        floating ? In(d, {20.5, 27, 56.5, 81}) : In(d, {32, 43, 86, 124}));
    if (!floating) {
      // alpha = 1.5 becomes 1 for integer operands.
      r = RunText(One("%c: " + t + "[2], " + ab,
                      "aten::addmm.default(%c, %a, %b, beta=2, alpha=1.5)",
                      t + "[2, 2]"),
                  {T(d, {2}, {1, 2}), a, b});
      ASSERT_TRUE(r.status.ok()) << r.status;
      ExpectTensor(r.outputs[0], d, {2, 2}, In(d, {12, 17, 30, 44}));
    }

    const std::string pq = "%p: " + t + "[2, 2, 3], %q: " + t + "[2, 3, 2]";
    rt::Tensor p = Iota(d, {2, 2, 3}), q = Iota(d, {2, 3, 2});
    r = RunText(One(pq, "aten::bmm.default(%p, %q)", t + "[2, 2, 2]"), {p, q});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 2, 2},
                 In(d, {10, 13, 28, 40, 172, 193, 244, 274}));
    // self [2, 1] broadcasts over the batch and the columns.
    r = RunText(One("%c: " + t + "[2, 1], " + pq,
                    "aten::baddbmm.default(%c, %p, %q)", t + "[2, 2, 2]"),
                {T(d, {2, 1}, {1, 2}), p, q});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 2, 2},
                 In(d, {11, 14, 30, 42, 173, 194, 246, 276}));
  }
}

TEST(MatmulOpsTest, LayoutsAndSymbolicSizes) {
  // a.t() times b: a contiguous result.
  auto r = RunText(
      One("%a: f32[2, 3]{1, 2}, %b: f32[3, 2]", "aten::mm.default(%a, %b)",
          "f32[2, 2]"),
      {Iota(DType::kFloat32, {2, 3}, {1, 2}), Iota(DType::kFloat32, {3, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2, 2}, {10, 13, 28, 40});
  EXPECT_TRUE(r.outputs[0].IsContiguous());
  ExpectConverts(One("%a: f32[s0, s1], %b: f32[s1, 4]",
                     "aten::mm.default(%a, %b)", "f32[s0, 4]"));
  ExpectConverts(One("%c: f32[4], %a: f32[s0, s1], %b: f32[s1, 4]",
                     "aten::addmm.default(%c, %a, %b)", "f32[s0, 4]"));
  ExpectConverts(One("%a: f16[s0, 2, 3], %b: f16[s0, 3, 5]",
                     "aten::bmm.default(%a, %b)", "f16[s0, 2, 5]"));
  // Empty inner dimension: zeros (plus beta * self).
  r = RunText(One("%c: f32[], %a: f32[2, 0], %b: f32[0, 3]",
                  "aten::addmm.default(%c, %a, %b, beta=3)", "f32[2, 3]"),
              {T(DType::kFloat32, {}, {2}), T(DType::kFloat32, {2, 0}, {}),
               T(DType::kFloat32, {0, 3}, {})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2, 3}, {6, 6, 6, 6, 6, 6});
}

TEST(MatmulOpsTest, BetaZeroIgnoresSelf) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto r =
      RunText(One("%c: f32[2], %a: f32[2, 3], %b: f32[3, 2]",
                  "aten::addmm.default(%c, %a, %b, beta=0)", "f32[2, 2]"),
              {T(DType::kFloat32, {2}, {nan, 1}), Iota(DType::kFloat32, {2, 3}),
               Iota(DType::kFloat32, {3, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2, 2}, {10, 13, 28, 40});
  // Any other beta keeps NaN.
  r = RunText(
      One("%c: f32[2], %a: f32[1, 2, 3], %b: f32[1, 3, 2]",
          "aten::baddbmm.default(%c, %a, %b, beta=0.5)", "f32[1, 2, 2]"),
      {T(DType::kFloat32, {2}, {nan, 1}), Iota(DType::kFloat32, {1, 2, 3}),
       Iota(DType::kFloat32, {1, 3, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {1, 2, 2},
               {nan, 13.5, nan, 40.5});
}

TEST(MatmulOpsTest, ArgumentErrors) {
  ExpectError(One("%a: f32[2, 3], %b: f64[3, 2]", "aten::mm.default(%a, %b)",
                  "f32[2, 2]"),
              "expected both matrices to have the same dtype, got f32 and f64");
  ExpectError(One("%a: f32[2, 3], %b: f32[4, 2]", "aten::mm.default(%a, %b)",
                  "f32[2, 2]"),
              "inner dimensions 3 and 4 differ");
  ExpectError(
      One("%a: f32[2, 3], %b: f32[3]", "aten::mm.default(%a, %b)", "f32[2]"),
      "mat2 must be a matrix, got 1-d");
  ExpectError(One("%a: f32[2, 3], %b: f32[3, 2]", "aten::bmm.default(%a, %b)",
                  "f32[2, 2]"),
              "batch1 must be a 3D tensor, got 2-d");
  // bmm does not broadcast.
  ExpectError(One("%a: f32[2, 2, 3], %b: f32[1, 3, 2]",
                  "aten::bmm.default(%a, %b)", "f32[2, 2, 2]"),
              "Expected size for first two dimensions of batch2 tensor to be: "
              "[2, 3] but got: [1, 3].");
  ExpectError(One("%a: f32[2, 2, 3], %b: f32[2, 4, 2]",
                  "aten::baddbmm.default(%a, %a, %b)", "f32[2, 2, 2]"),
              "batch2 tensor to be: [2, 3] but got: [2, 4].");
  ExpectError(One("%c: f32[3], %a: f32[2, 3], %b: f32[3, 2]",
                  "aten::addmm.default(%c, %a, %b)", "f32[2, 2]"),
              "do not broadcast");
  ExpectError(One("%c: f32[1, 1, 1], %a: f32[2, 3], %b: f32[3, 2]",
                  "aten::addmm.default(%c, %a, %b)", "f32[2, 2]"),
              "self of 3 dims does not expand to the result [2, 2]");
  ExpectError(One("%c: f64[2, 2], %a: f32[2, 3], %b: f32[3, 2]",
                  "aten::addmm.default(%c, %a, %b)", "f32[2, 2]"),
              "self and mat2 must have the same dtype, but got f64 and f32");
  ExpectError(One("%c: f32[3, 1, 1], %a: f32[2, 2, 3], %b: f32[2, 3, 2]",
                  "aten::baddbmm.default(%c, %a, %b)", "f32[2, 2, 2]"),
              "do not broadcast");
}

TEST(MatmulOpsTest, OutDTypeOverloadsAreCudaOnly) {
  const std::string ab = "%a: f16[2, 3] cuda:0, %b: f16[3, 2] cuda:0";
  auto r = RunText(
      One(ab, "aten::mm.dtype(%a, %b, torch.float32)", "f32[2, 2] cuda:0"),
      {Iota(DType::kFloat16, {2, 3}), Iota(DType::kFloat16, {3, 2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2, 2}, {10, 13, 28, 40});
  ExpectConverts(
      One(ab, "aten::mm.dtype(%a, %b, torch.float16)", "f16[2, 2] cuda:0"));
  ExpectConverts(One("%c: f16[2] cuda:0, " + ab,
                     "aten::addmm.dtype(%c, %a, %b, torch.float32, beta=0.5)",
                     "f32[2, 2] cuda:0"));
  ExpectConverts(One("%a: bf16[4, 2, 3] cuda:0, %b: bf16[4, 3, 2] cuda:0",
                     "aten::bmm.dtype(%a, %b, torch.float32)",
                     "f32[4, 2, 2] cuda:0"));
  ExpectConverts(One(
      "%c: f32[4, 2, 2] cuda:0, %a: bf16[4, 2, 3] cuda:0, %b: bf16[4, "
      "3, 2] cuda:0",
      "aten::baddbmm.dtype(%c, %a, %b, torch.float32)", "f32[4, 2, 2] cuda:0"));
  ExpectError(
      One(ab, "aten::mm.dtype(%a, %b, torch.float64)", "f64[2, 2] cuda:0"),
      "out_dtype must be the same as input dtype or fp32 for "
      "fp16/bf16 inputs");
  ExpectError(One("%a: f32[2, 3] cuda:0, %b: f32[3, 2] cuda:0",
                  "aten::mm.dtype(%a, %b, torch.float16)", "f16[2, 2] cuda:0"),
              "out_dtype must be the same as input dtype");
  ExpectError(One("%a: f16[2, 3], %b: f16[3, 2]",
                  "aten::mm.dtype(%a, %b, torch.float32)", "f32[2, 2]"),
              "mm.dtype is only implemented for CUDA tensors");
}

}  // namespace
}  // namespace kiln::ops
