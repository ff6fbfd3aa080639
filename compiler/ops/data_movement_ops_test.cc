// Data movement: cat (legacy empty skipping, promotion, memory format),
// split_with_sizes, index_select, gather, embedding and its dense backward,
// constant_pad_nd (negative pads crop): shapes, layouts and messages as
// ATen (torch 1.13), values for every dtype.
#include "compiler/ops/family_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::Iota;
using family_test::ParseError;
using family_test::RunText;
using family_test::WithDType;
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

// Runs `text` and expects it to fail at run time with `message`.
void ExpectRunError(const std::string& text, std::vector<rt::Tensor> inputs,
                    const std::string& message) {
  auto r = RunText(text, std::move(inputs));
  EXPECT_FALSE(r.status.ok()) << text;
  EXPECT_THAT(std::string(r.status.message()), HasSubstr(message)) << text;
}

rt::Tensor Ints(ir::DType dt, std::vector<int64_t> sizes,
                std::vector<int64_t> values) {
  return rt::Tensor::FromInts(dt, sizes, values);
}

TEST(DataMovementOpsTest, CatShapesDTypesAndLayouts) {
  // Legacy: 1-d empty tensors are skipped, but still promote the dtype.
  ExpectConverts(One("%e: f32[0], %x: f32[2, 3]",
                     "aten::cat.default([%e, %x, %e], 1)", "f32[2, 3]"));
  ExpectConverts(One("%e: f64[0], %x: f32[2, 3]",
                     "aten::cat.default([%e, %x], 1)", "f64[2, 3]"));
  ExpectConverts(One("%e: i32[0], %f: f64[0]", "aten::cat.default([%e, %f], 5)",
                     "f64[0]"));
  ExpectConverts(One("%e: f32[0, 3], %x: f32[2, 3]",
                     "aten::cat.default([%e, %x])", "f32[2, 3]"));
  ExpectConverts(One("%a: i8[2, 3], %b: u8[2, 3]",
                     "aten::cat.default([%a, %b], -1)", "i16[2, 6]"));
  ExpectConverts(One("%a: b8[2, 3], %b: u8[2, 3]",
                     "aten::cat.default([%a, %b], 1)", "u8[2, 6]"));
  ExpectConverts(One("%a: f16[2, 3], %b: bf16[2, 3]",
                     "aten::cat.default([%a, %b], 1)", "f32[2, 6]"));
  ExpectConverts(One("%a: f32[3, 2]{1, 3}, %b: f32[3, 2]{1, 3}",
                     "aten::cat.default([%a, %b])", "f32[6, 2]"));
  ExpectConverts(One("%a: f32[s0, 4], %b: f32[s1, 4], %c: f32[3, 4]",
                     "aten::cat.default([%a, %b, %c])", "f32[s0 + s1 + 3, 4]"));
  // Channels-last is kept when every input suggests it.
  const std::string cl = "f32[2, 3, 4, 5]{60, 1, 15, 3}";
  ExpectConverts(One("%a: " + cl + ", %b: " + cl,
                     "aten::cat.default([%a, %b], 1)",
                     "f32[2, 6, 4, 5]{120, 1, 30, 6}"));
  ExpectConverts(One("%a: " + cl + ", %b: f32[2, 3, 4, 5]",
                     "aten::cat.default([%a, %b], 1)", "f32[2, 6, 4, 5]"));
  ExpectConverts(One("%a: " + cl + ", %e: f32[0]",
                     "aten::cat.default([%a, %e], 1)", "f32[2, 3, 4, 5]"));
  ExpectError(One("", "aten::cat.default([], 1)", "f32[0]"),
              "torch.cat(): expected a non-empty list of Tensors");
  ExpectError(One("%x: f32[2, 3], %s: f32[]", "aten::cat.default([%x, %s])",
                  "f32[2, 3]"),
              "zero-dimensional tensor (at position 1) cannot be concatenated");
  ExpectError(One("%x: f32[2, 3], %y: f32[2]", "aten::cat.default([%x, %y])",
                  "f32[4, 3]"),
              "Tensors must have same number of dimensions: got 2 and 1");
  ExpectError(One("%x: f32[2, 3], %y: f32[3, 3]",
                  "aten::cat.default([%x, %y], 1)", "f32[2, 6]"),
              "Sizes of tensors must match except in dimension 1. Expected "
              "size 2 but got size 3 for tensor number 1 in the list.");
  ExpectError(One("%e: f32[0, 2], %x: f32[2, 3]", "aten::cat.default([%e, %x])",
                  "f32[2, 3]"),
              "Expected size 2 but got size 3 for tensor number 1");
  ExpectError(
      One("%x: f32[2, 3]", "aten::cat.default([%x, %x], -3)", "f32[4, 3]"),
      "imension out of range (expected to be in range of [-2, 1], "
      "but got -3)");
}

TEST(DataMovementOpsTest, CatValuesForEveryDType) {
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor a = Iota(dt, {2, 3}, {1, 2});     // transposed layout
    rt::Tensor b = Iota(dt, {2, 1}, {1, 1}, 3);  // with an offset
    rt::Tensor e = Iota(dt, {0});
    auto r = RunText(
        WithDType(
            R"(graph(%a: $T[2, 3]{1, 2}, %b: $T[2, 1] offset(3), %e: $T[0]) {
  %r = aten::cat.default([%a, %e, %b, %a], 1) : $T[2, 7]
  return (%r)
})",
            dt),
        {a, b, e});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> av = a.ToDoubles(), bv = b.ToDoubles();
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAre(av[0], av[1], av[2], bv[0], av[0], av[1], av[2],
                            av[3], av[4], av[5], bv[1], av[3], av[4], av[5]));
  }
  // Promotion converts each input: i8 and u8 into i16.
  auto r = RunText(
      One("%a: i8[2], %b: u8[2]", "aten::cat.default([%a, %b])", "i16[4]"),
      {Ints(ir::DType::kInt8, {2}, {-5, 7}),
       Ints(ir::DType::kUInt8, {2}, {200, 3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].ToInts(), ElementsAre(-5, 7, 200, 3));
}

TEST(DataMovementOpsTest, SplitWithSizes) {
  ExpectConverts(R"(graph(%x: f32[4, 6]) {
  %s = aten::split_with_sizes.default(%x, [2, 0, 4], 1) : (f32[4, 2]{6, 1}, f32[4, 0]{6, 1} offset(2), f32[4, 4]{6, 1} offset(2))
  return (%s#0, %s#1, %s#2)
})");
  ExpectConverts(R"(graph(%x: f32[s0, 6], %n: SymInt(s1)) {
  %s = aten::split_with_sizes.default(%x, [%n, s0 - s1]) : (f32[s1, 6], f32[s0 - s1, 6] offset(6*s1))
  return (%s#0, %s#1)
})");
  ExpectError(R"(graph(%x: f32[4, 6]) {
  %s = aten::split_with_sizes.default(%x, [2, 3], 1) : (f32[4, 2]{6, 1}, f32[4, 3]{6, 1} offset(2))
  return (%s#0)
})",
              "split_with_sizes expects split_sizes to sum exactly to 6 "
              "(input tensor's size at dimension 1), but got split_sizes=[2, "
              "3]");
  ExpectError(R"(graph(%x: f32[4, 6]) {
  %s = aten::split_with_sizes.default(%x, [8, -2], 1) : (f32[4, 8]{6, 1}, f32[4, 0]{6, 1})
  return (%s#0)
})",
              "split_with_sizes expects split_sizes have only non-negative "
              "entries, but got split_sizes=[8, -2]");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {3, 2}, {1, 3});
    auto r = RunText(WithDType(R"(graph(%x: $T[3, 2]{1, 3}) {
  %s = aten::split_with_sizes.default(%x, [1, 2]) : ($T[1, 2]{1, 3}, $T[2, 2]{1, 3} offset(1))
  return (%s#0, %s#1)
})",
                               dt),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> xv = x.ToDoubles();
    EXPECT_TRUE(r.outputs[1].SharesStorageWith(x));
    EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAre(xv[0], xv[1]));
    EXPECT_THAT(r.outputs[1].ToDoubles(),
                ElementsAre(xv[2], xv[3], xv[4], xv[5]));
  }
}

TEST(DataMovementOpsTest, IndexSelect) {
  ExpectConverts(One("%x: f32[2, 3], %i: i64[3]",
                     "aten::index_select.default(%x, 1, %i)", "f32[2, 3]"));
  ExpectConverts(One("%x: f32[3, 2]{1, 3}, %i: i32[5]",
                     "aten::index_select.default(%x, -2, %i)", "f32[5, 2]"));
  ExpectConverts(One("%x: f32[2, 3], %i: i64[]",
                     "aten::index_select.default(%x, 1, %i)", "f32[2, 1]"));
  ExpectConverts(One("%x: f32[], %i: i64[2]",
                     "aten::index_select.default(%x, 0, %i)", "f32[]"));
  ExpectConverts(One("%x: f32[2, 3], %i: i64[0]",
                     "aten::index_select.default(%x, 0, %i)", "f32[0, 3]"));
  ExpectError(One("%x: f32[2, 3], %i: i64[1, 1]",
                  "aten::index_select.default(%x, 1, %i)", "f32[2, 1]"),
              "index_select(): Index is supposed to be a vector");
  ExpectError(One("%x: f32[2, 3], %i: f32[1]",
                  "aten::index_select.default(%x, 1, %i)", "f32[2, 1]"),
              "index_select(): Expected dtype int32 or int64 for index");
  ExpectError(One("%x: f32[2, 3], %i: i16[1]",
                  "aten::index_select.default(%x, 1, %i)", "f32[2, 1]"),
              "Expected dtype int32 or int64 for index");
  const std::string g =
      One("%x: f32[2, 3], %i: i64[1]", "aten::index_select.default(%x, 1, %i)",
          "f32[2, 1]");
  ExpectRunError(
      g, {Iota(ir::DType::kFloat32, {2, 3}), Ints(ir::DType::kInt64, {1}, {3})},
      "INDICES element is out of DATA bounds, id=3 axis_dim=3");
  ExpectRunError(
      g,
      {Iota(ir::DType::kFloat32, {2, 3}), Ints(ir::DType::kInt64, {1}, {-1})},
      "INDICES element is out of DATA bounds, id=-1 axis_dim=3");
  for (ir::DType dt : AllDTypes()) {
    for (ir::DType it : {ir::DType::kInt32, ir::DType::kInt64}) {
      SCOPED_TRACE(ir::ShortName(dt) + " " + ir::ShortName(it));
      rt::Tensor x = Iota(dt, {3, 4}, {1, 3});
      auto r = RunText(One("%x: " + ir::ShortName(dt) +
                               "[3, 4]{1, 3}, %i: " + ir::ShortName(it) + "[3]",
                           "aten::index_select.default(%x, 1, %i)",
                           ir::ShortName(dt) + "[3, 3]"),
                       {x, Ints(it, {3}, {3, 0, 3})});
      ASSERT_TRUE(r.status.ok()) << r.status;
      std::vector<double> v = x.ToDoubles();
      EXPECT_THAT(
          r.outputs[0].ToDoubles(),
          ElementsAre(v[3], v[0], v[3], v[7], v[4], v[7], v[11], v[8], v[11]));
    }
  }
}

TEST(DataMovementOpsTest, Gather) {
  ExpectConverts(One("%x: f32[2, 3], %i: i64[2, 2]",
                     "aten::gather.default(%x, 1, %i)", "f32[2, 2]"));
  ExpectConverts(One("%x: f32[2, 3], %i: i64[2, 5]",
                     "aten::gather.default(%x, 1, %i)", "f32[2, 5]"));
  ExpectConverts(One("%x: f32[2, 3], %i: i64[2, 2]{1, 2}",
                     "aten::gather.default(%x, 1, %i, sparse_grad=True)",
                     "f32[2, 2]"));
  ExpectConverts(One("%x: f32[], %i: i64[2]", "aten::gather.default(%x, 0, %i)",
                     "f32[2]"));
  ExpectConverts(
      One("%x: f32[3], %i: i64[]", "aten::gather.default(%x, 0, %i)", "f32[]"));
  // The dtype and shape checks are skipped for an empty index.
  ExpectConverts(One("%x: f32[2, 3], %i: i64[0, 5]",
                     "aten::gather.default(%x, 0, %i)", "f32[0, 5]"));
  ExpectConverts(One("%x: f32[5], %i: u8[0]", "aten::gather.default(%x, 0, %i)",
                     "f32[0]"));
  ExpectError(One("%x: f32[2, 3], %i: i64[2, 5]",
                  "aten::gather.default(%x, 0, %i)", "f32[2, 5]"),
              "Size does not match at dimension 1 expected index [2, 5] to be "
              "smaller than self [2, 3] apart from dimension 0");
  ExpectError(One("%x: f32[2, 3], %i: i64[2]",
                  "aten::gather.default(%x, 1, %i)", "f32[2]"),
              "Index tensor must have the same number of dimensions as input "
              "tensor");
  ExpectError(One("%x: f32[2, 3], %i: i32[2, 2]",
                  "aten::gather.default(%x, 1, %i)", "f32[2, 2]"),
              "gather(): Expected dtype int64 for index");
  const std::string g = One("%x: f32[2, 3], %i: i64[1, 2]",
                            "aten::gather.default(%x, 1, %i)", "f32[1, 2]");
  ExpectRunError(g,
                 {Iota(ir::DType::kFloat32, {2, 3}),
                  Ints(ir::DType::kInt64, {1, 2}, {0, 3})},
                 "index 3 is out of bounds for dimension 1 with size 3");
  ExpectRunError(g,
                 {Iota(ir::DType::kFloat32, {2, 3}),
                  Ints(ir::DType::kInt64, {1, 2}, {0, -1})},
                 "index -1 is out of bounds for dimension 1 with size 3");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {2, 3}, {1, 2});
    rt::Tensor i = Iota(ir::DType::kInt64, {2, 2}, {1, 2});  // transposed
    auto idx = Ints(ir::DType::kInt64, {2, 2}, {2, 0, 1, 1});
    ASSERT_TRUE(i.CopyFrom(idx).ok());
    auto r = RunText(
        One("%x: " + ir::ShortName(dt) +
                "[2, 3]{1, 2}, %i: "
                "i64[2, 2]{1, 2}",
            "aten::gather.default(%x, 1, %i)", ir::ShortName(dt) + "[2, 2]"),
        {x, i});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> v = x.ToDoubles();
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAre(v[2], v[0], v[3 + 1], v[3 + 1]));
  }
}

TEST(DataMovementOpsTest, Embedding) {
  ExpectConverts(One("%w: f32[5, 3], %i: i64[2, 2]",
                     "aten::embedding.default(%w, %i)", "f32[2, 2, 3]"));
  ExpectConverts(One("%w: f32[5, 3]{1, 5}, %i: i32[]",
                     "aten::embedding.default(%w, %i, 1, True)", "f32[3]"));
  ExpectError(One("%w: f32[5], %i: i64[2]", "aten::embedding.default(%w, %i)",
                  "f32[2]"),
              "'weight' must be 2-D");
  ExpectError(One("%w: f32[5, 3], %i: f32[2]",
                  "aten::embedding.default(%w, %i)", "f32[2, 3]"),
              "Expected tensor for argument #1 'indices' to have one of the "
              "following scalar types: Long, Int; but got torch.FloatTensor "
              "instead (while checking arguments for embedding)");
  const std::string g = One("%w: f32[5, 3], %i: i64[1]",
                            "aten::embedding.default(%w, %i)", "f32[1, 3]");
  ExpectRunError(
      g, {Iota(ir::DType::kFloat32, {5, 3}), Ints(ir::DType::kInt64, {1}, {5})},
      "index out of range in self");
  ExpectRunError(
      g,
      {Iota(ir::DType::kFloat32, {5, 3}), Ints(ir::DType::kInt64, {1}, {-1})},
      "index out of range in self");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor w = Iota(dt, {4, 2}, {1, 4});
    auto r = RunText(
        One("%w: " + ir::ShortName(dt) +
                "[4, 2]{1, 4}, %i: "
                "i32[2, 2]",
            "aten::embedding.default(%w, %i)", ir::ShortName(dt) + "[2, 2, 2]"),
        {w, Ints(ir::DType::kInt32, {2, 2}, {3, 0, 3, 1})});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> v = w.ToDoubles();
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAre(v[6], v[7], v[0], v[1], v[6], v[7], v[2], v[3]));
  }
}

TEST(DataMovementOpsTest, EmbeddingDenseBackward) {
  ExpectConverts(One("%g: f32[2, 2, 3], %i: i64[2, 2]",
                     "aten::embedding_dense_backward.default(%g, %i, 5, -1, "
                     "False)",
                     "f32[5, 3]"));
  ExpectConverts(One("%g: f16[2, 2, 3]{3, 6, 1}, %i: i32[2, 2], %n: SymInt(s0)",
                     "aten::embedding_dense_backward.default(%g, %i, %n, 1, "
                     "True)",
                     "f16[s0, 3]"));
  ExpectError(One("%g: f32[2, 2, 3], %i: f32[2, 2]",
                  "aten::embedding_dense_backward.default(%g, %i, 5, -1, "
                  "False)",
                  "f32[5, 3]"),
              "Expected tensor for argument #2 'indices' to have one of the "
              "following scalar types: Long, Int; but got torch.FloatTensor "
              "instead (while checking arguments for embedding_backward)");
  ExpectError(One("%g: f32[3, 3], %i: i64[2, 2]",
                  "aten::embedding_dense_backward.default(%g, %i, 5, -1, "
                  "False)",
                  "f32[5, 3]"),
              "shape '[4, 3]' is invalid for input of size 9");
  // Rows add up in order; padding_idx is skipped; scale_grad_by_freq
  // divides by the index's count.
  rt::Tensor grad = rt::Tensor::FromDoubles(
      ir::DType::kFloat64, {4, 2}, {1, 2, 10, 20, 100, 200, 1000, 2000});
  rt::Tensor idx = Ints(ir::DType::kInt64, {4}, {1, 3, 1, 0});
  const std::string g = R"(graph(%g: f64[4, 2], %i: i64[4]) {
  %a = aten::embedding_dense_backward.default(%g, %i, 4, -1, False) : f64[4, 2]
  %b = aten::embedding_dense_backward.default(%g, %i, 4, 3, True) : f64[4, 2]
  return (%a, %b)
})";
  auto r = RunText(g, {grad, idx});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].ToDoubles(),
              ElementsAre(1000, 2000, 101, 202, 0, 0, 10, 20));
  EXPECT_THAT(r.outputs[1].ToDoubles(),
              ElementsAre(1000, 2000, 50.5, 101, 0, 0, 0, 0));
  // Integer gradients: add's alpha (1/count) truncates to 0.
  r = RunText(R"(graph(%g: i32[2, 3], %i: i64[2]) {
  %a = aten::embedding_dense_backward.default(%g, %i, 5, -1, True) : i32[5, 3]
  %b = aten::embedding_dense_backward.default(%g, %i, 5, -1, False) : i32[5, 3]
  return (%a, %b)
})",
              {Ints(ir::DType::kInt32, {2, 3}, {3, 3, 3, 4, 4, 4}),
               Ints(ir::DType::kInt64, {2}, {1, 1})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].ToInts(), ::testing::Each(0));
  EXPECT_THAT(r.outputs[1].ToInts(),
              ElementsAre(0, 0, 0, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  ExpectRunError(
      R"(graph(%g: f32[1, 2], %i: i64[1]) {
  %a = aten::embedding_dense_backward.default(%g, %i, 2, -1, False) : f32[2, 2]
  return (%a)
})",
      {Iota(ir::DType::kFloat32, {1, 2}), Ints(ir::DType::kInt64, {1}, {2})},
      "index 2 is out of bounds for num_weights 2");
  // Every floating dtype: f16/bf16 add in float32 and round per row.
  for (ir::DType dt : {ir::DType::kFloat16, ir::DType::kBFloat16,
                       ir::DType::kFloat32, ir::DType::kFloat64}) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor gg = rt::Tensor::FromDoubles(dt, {3, 1}, {256, 1, 1});
    auto rr = RunText(WithDType(R"(graph(%g: $T[3, 1], %i: i64[3]) {
  %a = aten::embedding_dense_backward.default(%g, %i, 1, -1, False) : $T[1, 1]
  return (%a)
})",
                                dt),
                      {gg, Ints(ir::DType::kInt64, {3}, {0, 0, 0})});
    ASSERT_TRUE(rr.status.ok()) << rr.status;
    // bfloat16 has 8 bits: 256 + 1 rounds back to 256 twice.
    double want = dt == ir::DType::kBFloat16 ? 256 : 258;
    EXPECT_THAT(rr.outputs[0].ToDoubles(), ElementsAre(want));
  }
}

TEST(DataMovementOpsTest, ConstantPadNd) {
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::constant_pad_nd.default(%x, [1, 1])", "f32[4, 8]"));
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::constant_pad_nd.default(%x, [1, 1, 2, 2])",
                     "f32[8, 8]"));
  ExpectConverts(One("%x: f32[6, 4]{1, 6}",
                     "aten::constant_pad_nd.default(%x, [1, 1])", "f32[6, 6]"));
  // Only non-positive pads: a clone of the cropped input (layout kept).
  ExpectConverts(One("%x: f32[6, 4]{1, 6}",
                     "aten::constant_pad_nd.default(%x, [-1, -1])",
                     "f32[6, 2]{1, 6}"));
  ExpectConverts(One("%x: f32[6, 4]{1, 6}",
                     "aten::constant_pad_nd.default(%x, [0, 0])",
                     "f32[6, 4]{1, 6}"));
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::constant_pad_nd.default(%x, [-4, -2])",
                     "f32[4, 0]"));
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::constant_pad_nd.default(%x, [1, -2])",
                     "f32[4, 5]"));
  ExpectConverts(One("%x: f32[1, 3, 4, 5]{60, 1, 15, 3}",
                     "aten::constant_pad_nd.default(%x, [1, 1])",
                     "f32[1, 3, 4, 7]{84, 1, 21, 3}"));
  ExpectConverts(One("%x: f32[s0, 6]",
                     "aten::constant_pad_nd.default(%x, [0, 0, 1, 2])",
                     "f32[s0 + 3, 6]"));
  ExpectConverts(
      One("%x: f32[]", "aten::constant_pad_nd.default(%x, [])", "f32[]"));
  ExpectError(One("%x: f32[4, 6]",
                  "aten::constant_pad_nd.default(%x, [1, 1, 2])", "f32[4, 8]"),
              "Length of pad must be even but instead it equals 3");
  ExpectError(
      One("%x: f32[4, 6]",
          "aten::constant_pad_nd.default(%x, [1, 1, 2, 2, 3, 3])", "f32[4, 8]"),
      "Length of pad should be no more than twice the number of "
      "dimensions of the input. Pad length is 6 while the input has "
      "2 dimensions.");
  ExpectError(One("%x: f32[4, 6]",
                  "aten::constant_pad_nd.default(%x, [-4, -3])", "f32[4, 0]"),
              "The input size 6, plus negative padding -4 and -3 resulted in a "
              "negative output size, which is invalid. Check dimension 1 of "
              "your input.");
  ExpectError(
      One("%x: f32[2]", "aten::constant_pad_nd.default(%x, [3, -4])", "f32[1]"),
      "start (0) + length (-2) exceeds dimension size (2).");
  // The value must fit the dtype only when it is used.
  ExpectError(One("%x: u8[4, 6]",
                  "aten::constant_pad_nd.default(%x, [1, 1], 300)", "u8[4, 8]"),
              "without overflow");
  ExpectConverts(One(
      "%x: u8[2]", "aten::constant_pad_nd.default(%x, [-1, 0], 300)", "u8[1]"));
  ExpectConverts(One("%x: u8[4, 6]",
                     "aten::constant_pad_nd.default(%x, [1, 1], 2.5)",
                     "u8[4, 8]"));
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {2, 3}, {1, 2});
    auto r = RunText(WithDType(R"(graph(%x: $T[2, 3]{1, 2}) {
  %a = aten::constant_pad_nd.default(%x, [-1, 2, 1, 0], 7) : $T[3, 4]
  %b = aten::constant_pad_nd.default(%x, [0, -1]) : $T[2, 2]{1, 2}
  return (%a, %b)
})",
                               dt),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> v = x.ToDoubles();
    double f = dt == ir::DType::kBool ? 1 : 7;
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAre(f, f, f, f, v[1], v[2], f, f, v[4], v[5], f, f));
    EXPECT_THAT(r.outputs[1].ToDoubles(), ElementsAre(v[0], v[1], v[3], v[4]));
    EXPECT_THAT(r.outputs[1].strides(), ElementsAre(1, 2));
  }
}

TEST(DataMovementOpsTest, RegisteredWithCategories) {
  for (const char* name : {"aten::cat.default", "aten::index_select.default",
                           "aten::gather.default", "aten::embedding.default",
                           "aten::embedding_dense_backward.default",
                           "aten::constant_pad_nd.default"}) {
    EXPECT_EQ(GetOp(name).category(), OpCategory::kDataMovement) << name;
  }
  EXPECT_EQ(GetOp("aten::split_with_sizes.default").category(),
            OpCategory::kView);
}

}  // namespace
}  // namespace kiln::ops
