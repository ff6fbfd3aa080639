// Reductions: inference (each graph declares the dtype, sizes and layout
// PyTorch gives; conversion fails when inference disagrees), ATen's argument
// rules, and known values per dtype. tests/python/test_ops_reductions.py
// compares the same ops with PyTorch eager on random inputs.
#include <cmath>
#include <limits>

#include "compiler/ops/numeric_test_util.h"
#include "compiler/ops/op_def.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::ExpectConverts;
using family_test::ExpectError;
using family_test::ExpectTensor;
using family_test::FloatingDTypes;
using family_test::Iota;
using family_test::One;
using family_test::RunText;
using family_test::T;
using ir::DType;
using ir::ShortName;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(ReductionOpsTest, SumProdMeanPerDType) {
  for (DType d : AllDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const bool b = d == DType::kBool;
    const bool floating = ir::IsFloating(d);
    const std::string t = ShortName(d);
    const std::string acc = floating ? t : "i64";  // int and bool -> int64
    const DType acc_dtype = floating ? d : DType::kInt64;
    const std::string x = "%x: " + t + "[2, 3]";
    // bool: every value is true.
    rt::Tensor in = T(d, {2, 3}, {1, 2, 3, 4, 1, 5});

    auto r =
        RunText(One(x, "aten::sum.dim_IntList(%x, [1])", acc + "[2]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], acc_dtype, {2},
                 b ? std::vector<double>{3, 3} : std::vector<double>{6, 10});

    r = RunText(One(x, "aten::sum.default(%x)", acc + "[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], acc_dtype, {}, {b ? 6.0 : 16.0});

    r = RunText(One(x, "aten::prod.dim_int(%x, 0, True)", acc + "[1, 3]"),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(
        r.outputs[0], acc_dtype, {1, 3},
        b ? std::vector<double>{1, 1, 1} : std::vector<double>{4, 2, 15});

    r = RunText(One(x, "aten::prod.default(%x)", acc + "[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], acc_dtype, {}, {b ? 1.0 : 120.0});

    // `dtype` converts the input first, for every input dtype.
    r = RunText(One(x, "aten::sum.default(%x, dtype=torch.float64)", "f64[]"),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kFloat64, {}, {b ? 6.0 : 16.0});
    r = RunText(
        One(x, "aten::mean.dim(%x, [0, 1], dtype=torch.float32)", "f32[]"),
        {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kFloat32, {}, {b ? 1.0 : 16.0 / 6});

    // mean needs a floating input (or dtype).
    if (floating) {
      r = RunText(One(x, "aten::mean.default(%x)", t + "[]"), {in});
      ASSERT_TRUE(r.status.ok()) << r.status;
      ExpectTensor(r.outputs[0], d, {}, {16.0 / 6});
      r = RunText(One(x, "aten::mean.dim(%x, [-1], True)", t + "[2, 1]"), {in});
      ASSERT_TRUE(r.status.ok()) << r.status;
      ExpectTensor(r.outputs[0], d, {2, 1}, {2, 10.0 / 3});
    } else {
      ExpectError(One(x, "aten::mean.default(%x)", t + "[]"),
                  "mean(): could not infer output dtype. Input dtype must be "
                  "either a floating point or complex dtype. Got: " +
                      t);
    }
    ExpectError(One(x, "aten::mean.default(%x, dtype=torch.int64)", "i64[]"),
                "Optional dtype must be either a floating point or complex "
                "dtype. Got: i64");
  }
}

TEST(ReductionOpsTest, SumsRoundOnceAndIntegersWrap) {
  // float16 sums accumulate wider than float16 (60000 + 60000 overflows
  // float16 on the way, not in the result).
  auto r = RunText(One("%x: f16[3]", "aten::sum.default(%x)", "f16[]"),
                   {T(DType::kFloat16, {3}, {60000, 60000, -60000})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat16, {}, {60000});
  r = RunText(One("%x: f16[2]", "aten::mean.default(%x)", "f16[]"),
              {T(DType::kFloat16, {2}, {60000, 60000})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat16, {}, {60000});
  // int8 summed in int8 (dtype=torch.int8) wraps.
  r = RunText(
      One("%x: i8[2]", "aten::sum.default(%x, dtype=torch.int8)", "i8[]"),
      {T(DType::kInt8, {2}, {100, 100})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kInt8, {}, {-56});
  // int64 products wrap.
  r = RunText(One("%x: i64[2]", "aten::prod.default(%x)", "i64[]"),
              {rt::Tensor::FromInts(DType::kInt64, {2},
                                    {int64_t{1} << 40, int64_t{1} << 40})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outputs[0].ToInts()[0], 0);
}

TEST(ReductionOpsTest, DimListsKeepdimAndErrors) {
  const std::string x = "%x: f32[2, 3, 4]";
  auto r = RunText(
      One(x, "aten::sum.dim_IntList(%x, [-1, 0], True)", "f32[1, 3, 1]"),
      {Iota(DType::kFloat32, {2, 3, 4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  // sum over i, k of 12 i + 4 j + k.
  ExpectTensor(r.outputs[0], DType::kFloat32, {1, 3, 1}, {60, 92, 124});
  ExpectConverts(
      One(x, "aten::sum.dim_IntList(%x, None, True)", "f32[1, 1, 1]"));
  ExpectConverts(One(x, "aten::sum.dim_IntList(%x, [])", "f32[]"));
  ExpectConverts(One(x, "aten::amax.default(%x)", "f32[]"));
  ExpectConverts(
      One(x, "aten::amin.default(%x, [1, 2], True)", "f32[2, 1, 1]"));
  ExpectConverts(One(x, "aten::mean.dim(%x, [-2])", "f32[2, 4]"));
  ExpectConverts(
      One("%x: i8[2, 3, 4]", "aten::prod.dim_int(%x, -1)", "i64[2, 3]"));
  ExpectError(One(x, "aten::sum.dim_IntList(%x, [1, -2])", "f32[2, 4]"),
              "dim 1 appears multiple times in the list of dims");
  ExpectError(One(x, "aten::amax.default(%x, [3])", "f32[2, 3]"),
              "dimension out of range (expected to be in range of [-3, 2], "
              "but got 3)");
  ExpectError(One(x, "aten::max.dim(%x, -4)", "(f32[2, 3], i64[2, 3])", 2),
              "dimension out of range");
  // A 0-d tensor reduces over dim 0 / -1 (once).
  const std::string s = "%x: f32[]";
  ExpectConverts(One(s, "aten::sum.dim_IntList(%x, [0], True)", "f32[]"));
  ExpectConverts(One(s, "aten::max.dim(%x, -1)", "(f32[], i64[])", 2));
  ExpectConverts(One(s, "aten::argmax.default(%x, 0, True)", "i64[]"));
  ExpectError(One(s, "aten::sum.dim_IntList(%x, [0, -1])", "f32[]"),
              "dim 0 appears multiple times");
  ExpectError(One(s, "aten::sum.dim_IntList(%x, [1])", "f32[]"),
              "dimension out of range (expected to be in range of [-1, 0]");
  // Shapes must not depend on run-time values.
  ExpectError(
      "graph(%x: f32[2, 3], %k: bool) {\n"
      "  %r = aten::sum.dim_IntList(%x, [1], %k) : f32[2]\n"
      "  return (%r)\n}",
      "keepdim must be a constant bool");
  // The declared type must be ATen's (dtype, sizes).
  ExpectError(One(x, "aten::sum.dim_IntList(%x, [1])", "f64[2, 4]"),
              "disagrees with inference");
  ExpectError(One(x, "aten::sum.dim_IntList(%x, [1], True)", "f32[2, 4]"),
              "disagrees with inference");
}

TEST(ReductionOpsTest, OutputsAreContiguous) {
  // x.t() reduced over dim 0: a fresh contiguous result.
  auto r = RunText(
      One("%x: f32[3, 4]{1, 3}", "aten::sum.dim_IntList(%x, [0])", "f32[4]"),
      {Iota(DType::kFloat32, {3, 4}, {1, 3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {4}, {12, 15, 18, 21});
  EXPECT_TRUE(r.outputs[0].IsContiguous());
  ExpectConverts(One("%x: f32[2, 3, 4]{1, 2, 6}",
                     "aten::amax.default(%x, [1], True)", "f32[2, 1, 4]"));
  ExpectError(One("%x: f32[2, 3, 4]{1, 2, 6}", "aten::amax.default(%x, [1])",
                  "f32[2, 4]{1, 2}"),
              "disagrees with inference f32[2, 4] (stride of dimension 0)");
}

TEST(ReductionOpsTest, MaxMinArgmaxPerDType) {
  for (DType d : AllDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const bool b = d == DType::kBool;
    const std::string t = ShortName(d);
    const std::string x = "%x: " + t + "[2, 3]";
    // [[1, 5, 5], [4, 0, 4]]; bool: [[T, T, T], [T, F, T]].
    rt::Tensor in = T(d, {2, 3}, {1, 5, 5, 4, 0, 4});
    using V = std::vector<double>;

    auto r = RunText(
        One(x, "aten::max.dim(%x, 1)", "(" + t + "[2], i64[2])", 2), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2}, b ? V{1, 1} : V{5, 4});
    ExpectTensor(r.outputs[1], DType::kInt64, {2}, b ? V{0, 0} : V{1, 0});

    r = RunText(One(x, "aten::min.dim(%x, -1, True)",
                    "(" + t + "[2, 1], i64[2, 1])", 2),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2, 1}, b ? V{1, 0} : V{1, 0});
    ExpectTensor(r.outputs[1], DType::kInt64, {2, 1}, V{0, 1});

    r = RunText(One(x, "aten::amax.default(%x, [1])", t + "[2]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {2}, b ? V{1, 1} : V{5, 4});
    r = RunText(One(x, "aten::amin.default(%x, [0], True)", t + "[1, 3]"),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {1, 3}, b ? V{1, 0, 1} : V{1, 0, 4});
    r = RunText(One(x, "aten::max.default(%x)", t + "[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {}, {b ? 1.0 : 5.0});
    r = RunText(One(x, "aten::min.default(%x)", t + "[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], d, {}, {0});

    if (b) {
      ExpectError(One(x, "aten::argmax.default(%x)", "i64[]"),
                  "argmax(): does not support bool input");
      continue;
    }
    // Ties: the first index.
    r = RunText(One(x, "aten::argmax.default(%x)", "i64[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {}, {1});
    r = RunText(One(x, "aten::argmin.default(%x)", "i64[]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {}, {4});
    r = RunText(One(x, "aten::argmax.default(%x, 0, True)", "i64[1, 3]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {1, 3}, {1, 0, 0});
    r = RunText(One(x, "aten::argmin.default(%x, -1)", "i64[2]"), {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {2}, {0, 1});
    // dim None with keepdim: every dim kept with size 1.
    r = RunText(One(x, "aten::argmax.default(%x, None, True)", "i64[1, 1]"),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {1, 1}, {1});
  }
}

TEST(ReductionOpsTest, NaNPropagatesAndTheFirstNaNWins) {
  const std::string x = "%x: f32[1, 4]";
  rt::Tensor in = T(DType::kFloat32, {1, 4}, {1, kNaN, 3, kNaN});
  for (const char* op : {"max", "min"}) {
    auto r = RunText(One(x, std::string("aten::") + op + ".dim(%x, 1)",
                         "(f32[1], i64[1])", 2),
                     {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kFloat32, {1}, {kNaN});
    ExpectTensor(r.outputs[1], DType::kInt64, {1}, {1});
    r = RunText(
        One(x, std::string("aten::arg") + op + ".default(%x, 1)", "i64[1]"),
        {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kInt64, {1}, {1});
    r = RunText(One(x, std::string("aten::a") + op + ".default(%x)", "f32[]"),
                {in});
    ASSERT_TRUE(r.status.ok()) << r.status;
    ExpectTensor(r.outputs[0], DType::kFloat32, {}, {kNaN});
  }
}

TEST(ReductionOpsTest, EmptyReductions) {
  const std::string x = "%x: f32[0, 3]";
  rt::Tensor in = T(DType::kFloat32, {0, 3}, {});
  ExpectError(One(x, "aten::amax.default(%x, [0])", "f32[3]"),
              "amax(): Expected reduction dim 0 to have non-zero size.");
  ExpectError(One(x, "aten::max.default(%x)", "f32[]"),
              "max(): Expected reduction dim 0 to have non-zero size.");
  ExpectError(One(x, "aten::argmin.default(%x)", "i64[]"),
              "argmin(): Expected reduction dim 0 to have non-zero size.");
  ExpectError(One(x, "aten::min.dim(%x, 0)", "(f32[3], i64[3])", 2),
              "min(): Expected reduction dim 0 to have non-zero size.");
  // Reducing a non-empty dim of an empty tensor is fine.
  auto r = RunText(One(x, "aten::amax.default(%x, [1])", "f32[0]"), {in});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {0}, {});
  // Reductions with an identity give it (mean and var: NaN).
  struct Case {
    const char* call;
    const char* type;
    double value;
  };
  for (const Case& c : {
           Case{"aten::sum.dim_IntList(%x, [0])", "f32[3]", 0.0},
           Case{"aten::prod.dim_int(%x, 0)", "f32[3]", 1.0},
           Case{"aten::mean.dim(%x, [0])", "f32[3]", kNaN},
           Case{"aten::var.correction(%x, [0])", "f32[3]", kNaN},
           Case{"aten::any.dim(%x, 0)", "b8[3]", 0.0},
           Case{"aten::all.dim(%x, 0)", "b8[3]", 1.0},
       }) {
    r = RunText(One(x, c.call, c.type), {in});
    ASSERT_TRUE(r.status.ok()) << c.call << ": " << r.status;
    ExpectTensor(r.outputs[0], r.outputs[0].dtype(), {3},
                 {c.value, c.value, c.value});
  }
  // A symbolic size that is 0 at run time is refused then.
  r = RunText(
      One("%x: f32[s0, 3]", "aten::max.dim(%x, 0)", "(f32[3], i64[3])", 2),
      {in});
  EXPECT_THAT(r.status.message(),
              ::testing::HasSubstr(
                  "max(): Expected reduction dim 0 to have non-zero size."));
}

TEST(ReductionOpsTest, VarStdPerFloatingDType) {
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string x = "%x: " + t + "[2, 3]";
    rt::Tensor in = T(d, {2, 3}, {1, 3, 5, 2, 2, 2});
    struct Case {
      std::string call;
      std::string type;
      std::vector<int64_t> sizes;
      std::vector<double> values;
    };
    const double all_m2 = 9.5;  // around the mean 2.5 of all six values
    for (const Case& c : std::vector<Case>{
             {"aten::var.correction(%x, [1])", "[2]", {2}, {4, 0}},
             {"aten::var.correction(%x, [1], correction=0)",
              "[2]",
              {2},
              {8.0 / 3, 0}},
             {"aten::var.correction(%x, [1], correction=0.5, keepdim=True)",
              "[2, 1]",
              {2, 1},
              {3.2, 0}},
             {"aten::var.correction(%x)", "[]", {}, {all_m2 / 5}},
             {"aten::var.default(%x)", "[]", {}, {all_m2 / 5}},
             {"aten::var.default(%x, False)", "[]", {}, {all_m2 / 6}},
             {"aten::var.dim(%x, [0], False, True)",
              "[1, 3]",
              {1, 3},
              {0.25, 0.25, 2.25}},
             {"aten::std.correction(%x, [-1])", "[2]", {2}, {2, 0}},
             {"aten::std.default(%x)", "[]", {}, {std::sqrt(all_m2 / 5)}},
             {"aten::std.dim(%x, None)", "[]", {}, {std::sqrt(all_m2 / 5)}},
             {"aten::std.dim(%x, [0, 1], False, True)",
              "[1, 1]",
              {1, 1},
              {std::sqrt(all_m2 / 6)}},
         }) {
      auto r = RunText(One(x, c.call, t + c.type), {in});
      ASSERT_TRUE(r.status.ok()) << c.call << ": " << r.status;
      ExpectTensor(r.outputs[0], d, c.sizes, c.values);
    }
  }
  // N <= correction: M2 / 0 is NaN (M2 = 0) or inf, as in ATen.
  auto r = RunText(One("%x: f32[1]", "aten::var.correction(%x)", "f32[]"),
                   {T(DType::kFloat32, {1}, {2})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {kNaN});
  r = RunText(One("%x: f32[2]", "aten::var.correction(%x, None, correction=3)",
                  "f32[]"),
              {T(DType::kFloat32, {2}, {2, 4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {kInf});
  ExpectError(One("%x: i32[2]", "aten::var.default(%x)", "i32[]"),
              "std and var only support floating point and complex dtypes");
  ExpectError(One("%x: b8[2]", "aten::std.correction(%x)", "b8[]"),
              "std and var only support floating point");
}

TEST(ReductionOpsTest, AnyAllPerDType) {
  for (DType d : AllDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string r_t = d == DType::kUInt8 ? "u8" : "b8";
    const DType r_d = d == DType::kUInt8 ? DType::kUInt8 : DType::kBool;
    const std::string x = "%x: " + t + "[2, 3]";
    rt::Tensor in = T(d, {2, 3}, {0, 0, 2, 1, 3, 0});
    struct Case {
      std::string call;
      std::string sizes_text;
      std::vector<int64_t> sizes;
      std::vector<double> values;
    };
    for (const Case& c : std::vector<Case>{
             {"aten::any.dim(%x, 1)", "[2]", {2}, {1, 1}},
             {"aten::all.dim(%x, 1)", "[2]", {2}, {0, 0}},
             {"aten::any.dim(%x, 0, True)", "[1, 3]", {1, 3}, {1, 1, 1}},
             {"aten::all.dim(%x, -2)", "[3]", {3}, {0, 0, 0}},
             {"aten::any.default(%x)", "[]", {}, {1}},
             {"aten::all.default(%x)", "[]", {}, {0}},
             // PyTorch 2's dims overloads: [] reduces nothing, None all.
             {"aten::any.dims(%x, [])", "[2, 3]", {2, 3}, {0, 0, 1, 1, 1, 0}},
             {"aten::all.dims(%x)", "[]", {}, {0}},
             {"aten::any.dims(%x, [0, 1], True)", "[1, 1]", {1, 1}, {1}},
         }) {
      auto r = RunText(One(x, c.call, r_t + c.sizes_text), {in});
      ASSERT_TRUE(r.status.ok()) << c.call << ": " << r.status;
      ExpectTensor(r.outputs[0], r_d, c.sizes, c.values);
    }
  }
  // NaN is true; empty any is false, empty all true.
  auto r = RunText(One("%x: f32[2]", "aten::all.default(%x)", "b8[]"),
                   {T(DType::kFloat32, {2}, {kNaN, 1})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kBool, {}, {1});
  r = RunText(One("%x: f32[0]", "aten::all.default(%x)", "b8[]"),
              {T(DType::kFloat32, {0}, {})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kBool, {}, {1});
}

TEST(ReductionOpsTest, SymbolicSizes) {
  const std::string x = "%x: f32[s0, 4]";
  ExpectConverts(One(x, "aten::sum.dim_IntList(%x, [0], True)", "f32[1, 4]"));
  ExpectConverts(One(x, "aten::argmax.default(%x, 1)", "i64[s0]"));
  auto r = RunText(One(x, "aten::mean.dim(%x, [1])", "f32[s0]"),
                   {Iota(DType::kFloat32, {3, 4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {3}, {1.5, 5.5, 9.5});
  r = RunText(One(x, "aten::max.dim(%x, 1)", "(f32[s0], i64[s0])", 2),
              {Iota(DType::kFloat32, {2, 4})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {2}, {3, 7});
  ExpectTensor(r.outputs[1], DType::kInt64, {2}, {3, 3});
}

TEST(ReductionOpsTest, MaxOtherIsPointwise) {
  EXPECT_EQ(GetOp("aten::max.other").category(), OpCategory::kPointwise);
  EXPECT_NE(GetOp("aten::min.other").pointwise(), nullptr);
  auto r = RunText(
      One("%x: f32[3], %y: i32[3]", "aten::max.other(%x, %y)", "f32[3]"),
      {T(DType::kFloat32, {3}, {1.5, kNaN, -1}),
       T(DType::kInt32, {3}, {1, 2, 3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {3}, {1.5, kNaN, 3});
  r = RunText(
      One("%x: i64[2, 1], %y: i64[3]", "aten::min.other(%x, %y)", "i64[2, 3]"),
      {T(DType::kInt64, {2, 1}, {0, 5}), T(DType::kInt64, {3}, {-1, 2, 7})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kInt64, {2, 3}, {-1, 0, 0, -1, 2, 5});
}

TEST(ReductionOpsTest, EveryOverloadIsRegistered) {
  for (const char* name :
       {"aten::sum.default",    "aten::sum.dim_IntList", "aten::mean.default",
        "aten::mean.dim",       "aten::amax.default",    "aten::amin.default",
        "aten::max.default",    "aten::max.dim",         "aten::max.other",
        "aten::min.default",    "aten::min.dim",         "aten::min.other",
        "aten::argmax.default", "aten::argmin.default",  "aten::prod.default",
        "aten::prod.dim_int",   "aten::var.default",     "aten::var.dim",
        "aten::var.correction", "aten::std.default",     "aten::std.dim",
        "aten::std.correction", "aten::any.default",     "aten::any.dim",
        "aten::any.dims",       "aten::all.default",     "aten::all.dim",
        "aten::all.dims"}) {
    const OpDef* op = OpRegistry::Global().Find(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_TRUE(op->has_reference()) << name;
  }
}

}  // namespace
}  // namespace kiln::ops
