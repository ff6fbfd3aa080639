// Creation ops: dtype inference as ATen (full's fill value, arange's
// bounds), checked fill conversions, *_like layouts, arange's sizes and
// values per dtype (torch 1.13's rules), and values for every dtype.
#include <cmath>

#include "compiler/ops/family_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::Iota;
using family_test::ParseError;
using family_test::RunText;
using ::testing::DoubleNear;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string One(const std::string& params, const std::string& call,
                const std::string& type) {
  return "graph(" + params + ") {\n  %r = " + call + " : " + type +
         "\n  return (%r)\n}";
}

void ExpectConverts(const std::string& text) {
  EXPECT_EQ(ParseError(text), "") << text;
}

void ExpectError(const std::string& text, const std::string& message) {
  EXPECT_THAT(ParseError(text), HasSubstr(message)) << text;
}

// Runs a graph without inputs (or with `inputs`) and returns output 0.
rt::Tensor Eval(const std::string& text, std::vector<rt::Tensor> inputs = {}) {
  auto r = RunText(text, std::move(inputs));
  EXPECT_TRUE(r.status.ok()) << r.status << "\n" << text;
  return r.status.ok() ? r.outputs[0] : rt::Tensor();
}

TEST(CreationOpsTest, FullInfersDTypeFromFillValue) {
  ExpectConverts(One("", "aten::full.default([2, 3], 1.5)", "f32[2, 3]"));
  ExpectConverts(One("", "aten::full.default([2, 3], 7)", "i64[2, 3]"));
  ExpectConverts(One("", "aten::full.default([2], True)", "b8[2]"));
  ExpectConverts(
      One("", "aten::full.default([2], 7, dtype=torch.float16)", "f16[2]"));
  ExpectConverts(One("%a: float", "aten::full.default([2], %a)", "f32[2]"));
  ExpectConverts(One("%a: int", "aten::full.default([2], %a)", "i64[2]"));
  ExpectConverts(
      One("%x: f32[s0]", "aten::full.default([s0, 2], 0.5)", "f32[s0, 2]"));
  ExpectConverts(One("",
                     "aten::full.default([2], 1, device=device(\"cuda:0\"))",
                     "i64[2] cuda:0"));
  ExpectError(One("", "aten::full.default([2, -3], 1.0)", "f32[2, 3]"),
              "Trying to create tensor with negative dimension -3: [2, -3]");
  // c10's checked conversions of the fill value.
  ExpectError(
      One("", "aten::full.default([2], 300, dtype=torch.uint8)", "u8[2]"),
      "cannot be converted to u8 without overflow");
  ExpectConverts(
      One("", "aten::full.default([2], -255, dtype=torch.uint8)", "u8[2]"));
  ExpectError(
      One("", "aten::full.default([2], -1.0, dtype=torch.uint8)", "u8[2]"),
      "without overflow");
  ExpectError(One("", "aten::full.default([2], 70000.0, dtype=torch.float16)",
                  "f16[2]"),
              "without overflow");
  ExpectConverts(
      One("", "aten::full.default([2], inf, dtype=torch.float16)", "f16[2]"));
  ExpectError(
      One("", "aten::full.default([2], nan, dtype=torch.int32)", "i32[2]"),
      "without overflow");
  ExpectConverts(
      One("", "aten::full.default([2], -3, dtype=torch.bool)", "b8[2]"));
}

TEST(CreationOpsTest, FullValuesForEveryDType) {
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    std::string t = ir::ShortName(dt);
    rt::Tensor r = Eval(One(
        "", "aten::full.default([2, 3], 2.75, dtype=" + ir::TorchName(dt) + ")",
        t + "[2, 3]"));
    double want = ir::IsFloating(dt) ? 2.75 : (dt == ir::DType::kBool ? 1 : 2);
    EXPECT_THAT(r.ToDoubles(), Each(want));
    r = Eval(One("",
                 "aten::zeros.default([3], dtype=" + ir::TorchName(dt) + ")",
                 t + "[3]"));
    EXPECT_THAT(r.ToDoubles(), Each(0.0));
    r = Eval(One(
        "", "aten::ones.default([2, 0, 2], dtype=" + ir::TorchName(dt) + ")",
        t + "[2, 0, 2]"));
    EXPECT_EQ(r.numel(), 0);
    r = Eval(One("", "aten::ones.default([4], dtype=" + ir::TorchName(dt) + ")",
                 t + "[4]"));
    EXPECT_THAT(r.ToDoubles(), Each(1.0));
    r = Eval(One(
        "", "aten::scalar_tensor.default(-1, dtype=" + ir::TorchName(dt) + ")",
        t + "[]"));
    double minus_one = dt == ir::DType::kUInt8  ? 255
                       : dt == ir::DType::kBool ? 1
                                                : -1;
    EXPECT_THAT(r.ToDoubles(), ElementsAre(minus_one));
  }
  // A graph-input fill value is converted (and checked) at run time.
  auto g = family_test::Parse(R"(graph(%a: int) {
  %r = aten::full.default([2], %a, dtype=torch.uint8) : u8[2]
  return (%r)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto out =
      interp::RunGraph(**g, {RuntimeValue::OfScalar(rt::Scalar::Int(300))});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("without overflow"));
  out = interp::RunGraph(**g, {RuntimeValue::OfScalar(rt::Scalar::Int(-2))});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(), ElementsAre(254, 254));
}

TEST(CreationOpsTest, EmptyAndEmptyStrided) {
  ExpectConverts(One("", "aten::empty.memory_format([2, 3])", "f32[2, 3]"));
  ExpectConverts(
      One("",
          "aten::empty.memory_format([2, 3, 4, 5], dtype=torch.int8, "
          "memory_format=torch.channels_last)",
          "i8[2, 3, 4, 5]{60, 1, 15, 3}"));
  ExpectError(One("",
                  "aten::empty.memory_format([2, 3], "
                  "memory_format=torch.channels_last)",
                  "f32[2, 3]"),
              "required rank 4 tensor to use channels_last format");
  ExpectError(One("",
                  "aten::empty.memory_format([2, 3], "
                  "memory_format=torch.preserve_format)",
                  "f32[2, 3]"),
              "unsupported memory format Preserve");
  ExpectConverts(One("", "aten::empty_strided.default([2, 3], [1, 2])",
                     "f32[2, 3]{1, 2}"));
  ExpectError(One("", "aten::empty_strided.default([2, 3], [1])", "f32[2, 3]"),
              "dimensionality of sizes (2) must match dimensionality of "
              "strides (1)");
  // Values are not ATen's to promise; the layout is.
  for (ir::DType dt : AllDTypes()) {
    rt::Tensor r = Eval(One("",
                            "aten::empty_strided.default([2, 3], [1, 2], "
                            "dtype=" +
                                ir::TorchName(dt) + ")",
                            ir::ShortName(dt) + "[2, 3]{1, 2}"));
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_THAT(r.strides(), ElementsAre(1, 2));
  }
}

TEST(CreationOpsTest, ArangeDTypesAndSizes) {
  ExpectConverts(One("", "aten::arange.default(5)", "i64[5]"));
  ExpectConverts(One("", "aten::arange.default(5.0)", "f32[5]"));
  ExpectConverts(One("", "aten::arange.start(2, 5)", "i64[3]"));
  ExpectConverts(One("", "aten::arange.start_step(0, 5, 0.5)", "f32[10]"));
  ExpectConverts(One("", "aten::arange.start_step(0, 1, 0.1)", "f32[10]"));
  ExpectConverts(One("", "aten::arange.start_step(1, -5, -2)", "i64[3]"));
  ExpectConverts(One("", "aten::arange.start(3, 3)", "i64[0]"));
  // torch 1.13: int64 outputs count after converting the bounds to int64;
  // other dtypes count in double.
  ExpectConverts(One(
      "", "aten::arange.start_step(0.5, 5.7, 1, dtype=torch.int64)", "i64[5]"));
  ExpectConverts(One(
      "", "aten::arange.start_step(0.5, 5.7, 1, dtype=torch.int32)", "i32[6]"));
  ExpectConverts(One("",
                     "aten::arange.start_step(5, 0.5, -1.5, dtype=torch.int16)",
                     "i16[3]"));
  ExpectError(One("", "aten::arange.start_step(0, 2.5, 0.5, dtype=torch.int32)",
                  "i32[5]"),
              "step must be nonzero");
  ExpectError(One("", "aten::arange.start_step(1, 5, -2)", "i64[2]"),
              "upper bound and larger bound inconsistent with step sign");
  ExpectError(One("", "aten::arange.start_step(1, 5, 0)", "i64[2]"),
              "step must be nonzero");
  ExpectError(One("", "aten::arange.default(inf)", "f32[2]"),
              "unsupported range: 0 -> inf");
  ExpectError(One("", "aten::arange.start(0.5, 1e30)", "f32[2]"),
              "invalid size, possible overflow?");
  ExpectError(
      One("", "aten::arange.default(1e30, dtype=torch.int64)", "i64[2]"),
      "without overflow");
  ExpectError(One("", "aten::arange.default(5, dtype=torch.bool)", "b8[5]"),
              "\"arange_cpu\" not implemented for 'Bool'");
  // Symbolic bounds.
  ExpectConverts(One("%n: SymInt(s0)", "aten::arange.default(%n)", "i64[s0]"));
  ExpectConverts(One("%n: SymInt(s0)",
                     "aten::arange.start_step(1, %n, 2, dtype=torch.float32)",
                     "f32[FloorDiv(s0, 2)]"));
  ExpectError(One("%a: int", "aten::arange.default(%a)", "i64[2]"),
              "arange with bounds given by graph inputs");
}

TEST(CreationOpsTest, ArangeValuesPerDType) {
  struct Case {
    std::string call;
    std::string type;
    std::vector<double> want;
  };
  const float third = 1.0f / 3.0f;
  for (const Case& c : std::vector<Case>{
           {"aten::arange.start_step(1, -5, -2)", "i64[3]", {1, -1, -3}},
           {"aten::arange.start_step(250, 260, 1, dtype=torch.uint8)",
            "u8[10]",
            {250, 251, 252, 253, 254, 255, 0, 1, 2, 3}},
           {"aten::arange.start_step(5, 0.5, -1.5, dtype=torch.int16)",
            "i16[3]",
            {5, 4, 3}},
           {"aten::arange.start_step(1, 2, 0.3, dtype=torch.float16)",
            "f16[4]",
            {1.0, 1.2998046875, 1.599609375, 1.900390625}},
           {"aten::arange.start_step(-3, 3, 0.7, dtype=torch.bfloat16)",
            "bf16[9]",
            {-3.0, -2.296875, -1.6015625, -0.8984375, -0.2001953125, 0.5,
             1.203125, 1.8984375, 2.59375}},
           {"aten::arange.start_step(0, 1, 0.1, dtype=torch.float64)",
            "f64[10]",
            {0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6000000000000001,
             0.7000000000000001, 0.8, 0.9}},
           {"aten::arange.start_step(0, 1, 0.3333333333333333)",
            "f32[3]",
            {0, third, static_cast<float>(2.0 / 3.0)}},
           {"aten::arange.start(-2, 3, dtype=torch.int8)",
            "i8[5]",
            {-2, -1, 0, 1, 2}},
           {"aten::arange.default(4, dtype=torch.int32)",
            "i32[4]",
            {0, 1, 2, 3}}}) {
    SCOPED_TRACE(c.call);
    rt::Tensor r = Eval(One("", c.call, c.type));
    EXPECT_THAT(r.ToDoubles(), ElementsAreArray(c.want));
  }
  // The run-time count must match the declared size.
  auto g = family_test::Parse(R"(graph(%x: f32[s0]) {
  %r = aten::arange.default(s0) : i64[s0]
  return (%r)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  auto out = interp::RunGraph(
      **g, {RuntimeValue::OfTensor(Iota(ir::DType::kFloat32, {3}))});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(), ElementsAre(0, 1, 2));
}

TEST(CreationOpsTest, LikeOpsTakeEmptyLikeLayout) {
  ExpectConverts(One("%x: f32[3, 2]{1, 3}", "aten::full_like.default(%x, 2)",
                     "f32[3, 2]{1, 3}"));
  ExpectConverts(One("%x: f32[3, 2]{1, 3}",
                     "aten::full_like.default(%x, 2, "
                     "memory_format=torch.contiguous_format)",
                     "f32[3, 2]"));
  ExpectConverts(
      One("%x: i32[2]", "aten::full_like.default(%x, 2.5)", "i32[2]"));
  ExpectConverts(One("%x: f32[2, 3, 4, 5]{60, 1, 15, 3} offset(7)",
                     "aten::ones_like.default(%x, dtype=torch.int8)",
                     "i8[2, 3, 4, 5]{60, 1, 15, 3}"));
  ExpectConverts(
      One("%x: f32[4, 3]{6, 2}", "aten::empty_like.default(%x)", "f32[4, 3]"));
  ExpectConverts(One("%x: f32[3, 4]{2, 6}", "aten::zeros_like.default(%x)",
                     "f32[3, 4]{1, 3}"));
  ExpectConverts(
      One("%x: f32[s0, 3]", "aten::zeros_like.default(%x)", "f32[s0, 3]"));
  ExpectError(One("%x: f32[3]",
                  "aten::full_like.default(%x, 300, "
                  "dtype=torch.uint8)",
                  "u8[3]"),
              "without overflow");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    std::string t = ir::ShortName(dt);
    rt::Tensor x = Iota(dt, {3, 2}, {1, 3});
    auto r = RunText(
        "graph(%x: " + t + "[3, 2]{1, 3}) {\n" +
            "  %f = aten::full_like.default(%x, 3) : " + t + "[3, 2]{1, 3}\n" +
            "  %z = aten::zeros_like.default(%x) : " + t + "[3, 2]{1, 3}\n" +
            "  %o = aten::ones_like.default(%x, dtype=torch.float64) : "
            "f64[3, 2]{1, 3}\n" +
            "  %e = aten::empty_like.default(%x) : " + t + "[3, 2]{1, 3}\n" +
            "  return (%f, %z, %o, %e)\n}",
        {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                Each(dt == ir::DType::kBool ? 1.0 : 3.0));
    EXPECT_THAT(r.outputs[1].ToDoubles(), Each(0.0));
    EXPECT_THAT(r.outputs[2].ToDoubles(), Each(1.0));
    for (const rt::Tensor& o : r.outputs) {
      EXPECT_THAT(o.strides(), ElementsAre(1, 3));
      EXPECT_FALSE(o.SharesStorageWith(x));
    }
  }
}

TEST(CreationOpsTest, RegisteredAsCreation) {
  for (const char* name :
       {"aten::full.default", "aten::zeros.default", "aten::ones.default",
        "aten::empty.memory_format", "aten::empty_strided.default",
        "aten::scalar_tensor.default", "aten::arange.default",
        "aten::arange.start", "aten::arange.start_step",
        "aten::full_like.default", "aten::zeros_like.default",
        "aten::ones_like.default", "aten::empty_like.default"}) {
    EXPECT_EQ(GetOp(name).category(), OpCategory::kCreation) << name;
  }
}

}  // namespace
}  // namespace kiln::ops
