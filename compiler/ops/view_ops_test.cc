// Views and layout ops: inference (the declared output types in each graph
// are ATen's, measured with torch 1.13; conversion fails if inference
// disagrees), ATen's error messages, and the reference implementation per
// dtype (views share storage; copies convert values).
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
using family_test::WithDType;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A one-node graph `%r = <call> : <type>` over the given placeholders.
std::string One(const std::string& params, const std::string& call,
                const std::string& type) {
  return "graph(" + params + ") {\n  %r = " + call + " : " + type +
         "\n  return (%r)\n}";
}

// Expects `text` to convert (inference agrees with every declared type).
void ExpectConverts(const std::string& text) {
  EXPECT_EQ(ParseError(text), "") << text;
}

void ExpectError(const std::string& text, const std::string& message) {
  EXPECT_THAT(ParseError(text), HasSubstr(message)) << text;
}

// The values of `base`'s storage seen through a layout.
std::vector<double> Through(const rt::Tensor& base, std::vector<int64_t> sizes,
                            std::vector<int64_t> strides, int64_t offset) {
  auto v = rt::Tensor::View(base, std::move(sizes), std::move(strides), offset);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->ToDoubles() : std::vector<double>{};
}

TEST(ViewOpsTest, ViewComputesAtenStrides) {
  const std::string x = "%x: f32[4, 6]";
  ExpectConverts(One(x, "aten::view.default(%x, [2, 12])", "f32[2, 12]"));
  ExpectConverts(One(x, "aten::view.default(%x, [-1])", "f32[24]"));
  ExpectConverts(One(x, "aten::view.default(%x, [3, -1, 2])", "f32[3, 4, 2]"));
  // x.t() is [6, 4]{1, 6}: these views exist, with ATen's strides.
  const std::string xt = "%x: f32[6, 4]{1, 6}";
  ExpectConverts(
      One(xt, "aten::view.default(%x, [2, 3, 4])", "f32[2, 3, 4]{3, 1, 6}"));
  ExpectConverts(
      One(xt, "aten::view.default(%x, [6, 2, 2])", "f32[6, 2, 2]{1, 12, 6}"));
  // A size-1 dim merges anywhere.
  ExpectConverts(One("%x: f32[2, 1, 4]{4, 100, 1}",
                     "aten::view.default(%x, [8])", "f32[8]"));
  // Strides are checked: a wrong declaration is refused.
  ExpectError(One(xt, "aten::view.default(%x, [2, 3, 4])", "f32[2, 3, 4]"),
              "stride of dimension 0");
  // Impossible views.
  ExpectError(One(xt, "aten::view.default(%x, [24])", "f32[24]"),
              "view size is not compatible with input tensor's size and "
              "stride (at least one dimension spans across two contiguous "
              "subspaces). Use .reshape(...) instead.");
  ExpectError(One("%x: f32[2, 4, 3]{12, 1, 4}",
                  "aten::view.default(%x, [2, 12])", "f32[2, 12]"),
              "view size is not compatible");
  ExpectError(One(x, "aten::_unsafe_view.default(%x, [5, -1])", "f32[5, 5]"),
              "shape '[5, -1]' is invalid for input of size 24");
  ExpectError(One(x, "aten::view.default(%x, [-1, -1])", "f32[24]"),
              "only one dimension can be inferred");
  ExpectError(One(x, "aten::view.default(%x, [-2, 12])", "f32[2, 12]"),
              "invalid shape dimension -2");
  ExpectError(
      One("%x: f32[0, 3]", "aten::view.default(%x, [-1, 0])", "f32[0, 0]"),
      "cannot reshape tensor of 0 elements into shape [-1, 0] "
      "because the unspecified dimension size -1 can be any value "
      "and is ambiguous");
  // Zero elements: -1 resolves to 0; 0-d tensors view as [1, 1] and back.
  ExpectConverts(
      One("%x: f32[0, 3]", "aten::view.default(%x, [3, -1])", "f32[3, 0]"));
  ExpectConverts(
      One("%x: f32[]", "aten::view.default(%x, [1, 1])", "f32[1, 1]"));
  ExpectConverts(One("%x: f32[1]", "aten::view.default(%x, [])", "f32[]"));
}

TEST(ViewOpsTest, ViewWithSymbolicSizes) {
  ExpectConverts(
      One("%x: f32[s0, 4]", "aten::view.default(%x, [-1])", "f32[4*s0]"));
  ExpectConverts(
      One("%x: f32[s0, 4]", "aten::view.default(%x, [-1, 2])", "f32[2*s0, 2]"));
  ExpectConverts(One("%x: f32[s0, 4], %n: SymInt(s0)",
                     "aten::view.default(%x, [%n, 2, 2])", "f32[s0, 2, 2]"));
  // A transposed symbolic tensor: the trailing dims still merge.
  ExpectConverts(One("%x: f32[4, s0]{1, 4}",
                     "aten::view.default(%x, [2, 2, s0])",
                     "f32[2, 2, s0]{2, 1, 4}"));
  ExpectError(
      One("%x: f32[4, s0]{1, 4}", "aten::view.default(%x, [-1])", "f32[4*s0]"),
      "view size is not compatible");
  // The run-time count is checked against the inferred FloorDiv.
  auto r = RunText(One("%x: f32[s0]", "aten::view.default(%x, [-1, 2])",
                       "f32[FloorDiv(s0, 2), 2]"),
                   {Iota(ir::DType::kFloat32, {5})});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("shape '[-1, 2]' is invalid for input of size 5"));
  r = RunText(One("%x: f32[s0]", "aten::view.default(%x, [-1, 2])",
                  "f32[FloorDiv(s0, 2), 2]"),
              {Iota(ir::DType::kFloat32, {6})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].sizes(), ElementsAre(3, 2));
}

TEST(ViewOpsTest, ViewsShareStorageForEveryDType) {
  // x: [3, 4]; the chain t -> slice(step 2) -> unsqueeze -> expand, then a
  // contiguous clone: every element read through ATen's strides.
  const std::string text = R"(graph(%x: $T[3, 4]) {
  %t = aten::t.default(%x) : $T[4, 3]{1, 4}
  %s = aten::slice.Tensor(%t, 0, 1, 4, 2) : $T[2, 3]{2, 4} offset(1)
  %u = aten::unsqueeze.default(%s, 0) : $T[1, 2, 3]{4, 2, 4} offset(1)
  %e = aten::expand.default(%u, [2, -1, -1]) : $T[2, 2, 3]{0, 2, 4} offset(1)
  %c = aten::clone.default(%e) : $T[2, 2, 3]{6, 1, 2}
  %v = aten::reshape.default(%c, [4, 3]) : $T[4, 3]
  %p = aten::permute.default(%v, [1, 0]) : $T[3, 4]{1, 3}
  %q = aten::select.int(%p, 0, -1) : $T[4]{3} offset(2)
  return (%e, %c, %q, %s, %v)
})";
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {3, 4});
    auto r = RunText(WithDType(text, dt), {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> xs = x.ToDoubles();
    auto at = [&](int i, int j) { return xs[i * 4 + j]; };
    // s[i][j] = x[j][1 + 2i]
    std::vector<double> s;
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) s.push_back(at(j, 1 + 2 * i));
    }
    std::vector<double> e = s;
    e.insert(e.end(), s.begin(), s.end());
    EXPECT_TRUE(r.outputs[0].SharesStorageWith(x));
    EXPECT_THAT(r.outputs[0].strides(), ElementsAre(0, 2, 4));
    EXPECT_EQ(r.outputs[0].storage_offset(), 1);
    EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAreArray(e));
    EXPECT_FALSE(r.outputs[1].SharesStorageWith(x));
    EXPECT_THAT(r.outputs[1].strides(), ElementsAre(6, 1, 2));
    EXPECT_THAT(r.outputs[1].ToDoubles(), ElementsAreArray(e));
    // c cannot be viewed as [4, 3]: reshape copies; q is column 2 of it.
    EXPECT_FALSE(r.outputs[4].SharesStorageWith(r.outputs[1]));
    EXPECT_THAT(r.outputs[2].ToDoubles(), ElementsAre(e[2], e[5], e[8], e[11]));
    EXPECT_TRUE(r.outputs[2].SharesStorageWith(r.outputs[4]));
    EXPECT_THAT(r.outputs[3].ToDoubles(), ElementsAreArray(s));
  }
}

TEST(ViewOpsTest, ReshapeViewsWhenPossibleElseCopies) {
  ExpectConverts(One("%x: f32[6, 4]{1, 6}",
                     "aten::reshape.default(%x, [2, 3, 4])",
                     "f32[2, 3, 4]{3, 1, 6}"));
  ExpectConverts(
      One("%x: f32[6, 4]{1, 6}", "aten::reshape.default(%x, [24])", "f32[24]"));
  ExpectConverts(One("%x: f32[6, 4]{1, 6} offset(3)",
                     "aten::reshape.default(%x, [-1])", "f32[24]"));
  ExpectError(
      One("%x: f32[6, 4]{1, 6} offset(3)",
          "aten::reshape.default(%x, [2, 3, 4])", "f32[2, 3, 4]{3, 1, 6}"),
      "storage offset");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {6, 4}, {1, 6});
    auto r = RunText(WithDType(R"(graph(%x: $T[6, 4]{1, 6}) {
  %a = aten::reshape.default(%x, [2, 3, 4]) : $T[2, 3, 4]{3, 1, 6}
  %b = aten::reshape.default(%x, [-1]) : $T[24]
  return (%a, %b)
})",
                               dt),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.outputs[0].SharesStorageWith(x));
    EXPECT_FALSE(r.outputs[1].SharesStorageWith(x));
    EXPECT_THAT(r.outputs[1].ToDoubles(), ElementsAreArray(x.ToDoubles()));
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAreArray(Through(x, {2, 3, 4}, {3, 1, 6}, 0)));
  }
}

TEST(ViewOpsTest, ReshapeAliasAndAsStrided) {
  ExpectConverts(One("%x: f32[6, 4]{1, 6}",
                     "aten::_reshape_alias.default(%x, [3, 8], [1, 3])",
                     "f32[3, 8]{1, 3}"));
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::as_strided.default(%x, [2, 2], [1, 2], 3)",
                     "f32[2, 2]{1, 2} offset(3)"));
  // The default offset is the input's.
  ExpectConverts(One("%x: f32[3, 6] offset(6)",
                     "aten::as_strided.default(%x, [2, 2], [1, 2])",
                     "f32[2, 2]{1, 2} offset(6)"));
  ExpectError(
      One("%x: f32[4, 6]", "aten::as_strided.default(%x, [2, 2], [1, -2])",
          "f32[2, 2]{1, -2}"),
      "as_strided: Negative strides are not supported at the moment, "
      "got strides: [1, -2]");
  ExpectError(One("%x: f32[4, 6]", "aten::as_strided.default(%x, [2, 2], [1])",
                  "f32[2, 2]"),
              "mismatch in length of strides and shape");
  ExpectError(
      One("%x: f32[4, 6]", "aten::as_strided.default(%x, [2, 2], [1, 2], -1)",
          "f32[2, 2]{1, 2}"),
      "invalid storage offset -1");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {4, 6});
    auto r = RunText(One("%x: " + ir::ShortName(dt) + "[4, 6]",
                         "aten::as_strided.default(%x, [20, 2], [1, 2], 1)",
                         ir::ShortName(dt) + "[20, 2]{1, 2} offset(1)"),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAreArray(Through(x, {20, 2}, {1, 2}, 1)));
    // Past the end of the storage: an error, never a wild read.
    r = RunText(One("%x: " + ir::ShortName(dt) + "[4, 6]",
                    "aten::as_strided.default(%x, [20, 2], [1, 4], 1)",
                    ir::ShortName(dt) + "[20, 2]{1, 4} offset(1)"),
                {x});
    EXPECT_FALSE(r.status.ok());
  }
}

TEST(ViewOpsTest, PermuteTransposeT) {
  ExpectConverts(One("%x: f32[2, 3, 4]", "aten::permute.default(%x, [2, 0, 1])",
                     "f32[4, 2, 3]{1, 12, 4}"));
  ExpectConverts(One("%x: f32[2, 3, 4]",
                     "aten::permute.default(%x, [-1, 0, -2])",
                     "f32[4, 2, 3]{1, 12, 4}"));
  ExpectError(
      One("%x: f32[4, 6]", "aten::permute.default(%x, [1, 1])", "f32[6, 6]"),
      "permute(): duplicate dims are not allowed.");
  ExpectError(
      One("%x: f32[4, 6]", "aten::permute.default(%x, [1])", "f32[6]"),
      "number of dimensions in the tensor input does not match the length of "
      "the desired ordering of dimensions i.e. input.dim() = 2 is not equal "
      "to len(dims) = 1");
  ExpectError(
      One("%x: f32[4, 6]", "aten::permute.default(%x, [2, 0])", "f32[6, 4]"),
      "imension out of range (expected to be in range of [-2, 1], but got 2)");
  ExpectConverts(One("%x: f32[4, 6]", "aten::transpose.int(%x, 0, -1)",
                     "f32[6, 4]{1, 6}"));
  ExpectConverts(One("%x: f32[]", "aten::transpose.int(%x, 0, -1)", "f32[]"));
  ExpectConverts(One("%x: f32[3]", "aten::t.default(%x)", "f32[3]"));
  ExpectConverts(
      One("%x: f32[s0, 3]", "aten::t.default(%x)", "f32[3, s0]{1, 3}"));
  ExpectError(One("%x: f32[2, 3, 4]", "aten::t.default(%x)", "f32[4, 3, 2]"),
              "t() expects a tensor with <= 2 dimensions, but self is 3D");
}

TEST(ViewOpsTest, UnsqueezeAndSqueeze) {
  ExpectConverts(
      One("%x: f32[2, 3]", "aten::unsqueeze.default(%x, -1)", "f32[2, 3, 1]"));
  // ATen's stride for the new dim: size * stride of the dim it precedes.
  ExpectConverts(One("%x: f32[3, 2]{1, 3}", "aten::unsqueeze.default(%x, 1)",
                     "f32[3, 1, 2]{1, 6, 3}"));
  ExpectConverts(One("%x: f32[2, 2]{6, 2}", "aten::unsqueeze.default(%x, 2)",
                     "f32[2, 2, 1]{6, 2, 1}"));
  ExpectConverts(One("%x: f32[]", "aten::unsqueeze.default(%x, -1)", "f32[1]"));
  ExpectError(
      One("%x: f32[2, 3]", "aten::unsqueeze.default(%x, 3)", "f32[2, 3, 1]"),
      "imension out of range (expected to be in range of [-3, 2], but got "
      "3)");
  ExpectConverts(
      One("%x: f32[1, 3, 1]", "aten::squeeze.default(%x)", "f32[3]"));
  ExpectConverts(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dim(%x, -1)", "f32[1, 3]"));
  ExpectConverts(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dim(%x, 1)", "f32[1, 3, 1]"));
  ExpectConverts(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dims(%x, [0, 2])", "f32[3]"));
  ExpectConverts(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dims(%x, [-1, 1])", "f32[1, 3]"));
  ExpectError(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dims(%x, [0, -3])", "f32[3, 1]"),
      "dim 0 appears multiple times in the list of dims");
  ExpectError(
      One("%x: f32[1, 3, 1]", "aten::squeeze.dim(%x, 3)", "f32[1, 3, 1]"),
      "imension out of range (expected to be in range of [-3, 2], but got "
      "3)");
  ExpectConverts(One("%x: f32[]", "aten::squeeze.dim(%x, -1)", "f32[]"));
  ExpectConverts(One("%x: f32[]", "aten::squeeze.default(%x)", "f32[]"));
  // A symbolic size is never 1: squeeze keeps it, also when it is 1 at
  // run time (the output keeps the rank inference gave it).
  const std::string sym =
      One("%x: f32[s0, 1]", "aten::squeeze.default(%x)", "f32[s0]");
  ExpectConverts(sym);
  auto r = RunText(sym, {Iota(ir::DType::kFloat32, {1, 1})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].sizes(), ElementsAre(1));
}

TEST(ViewOpsTest, Expand) {
  ExpectConverts(One("%x: f32[4, 6]", "aten::expand.default(%x, [2, 4, -1])",
                     "f32[2, 4, 6]{0, 6, 1}"));
  ExpectConverts(One("%x: f32[4, 1]", "aten::expand.default(%x, [4, 0])",
                     "f32[4, 0]{1, 0}"));
  // A new leading dim of size 1 takes size * stride of the next dim.
  ExpectConverts(One("%x: f32[3]", "aten::expand.default(%x, [1, 1, 3])",
                     "f32[1, 1, 3]{3, 3, 1}"));
  ExpectConverts(
      One("%x: f32[]", "aten::expand.default(%x, [3, 1])", "f32[3, 1]{0, 0}"));
  ExpectConverts(One("%x: f32[1, s0], %n: SymInt(s1)",
                     "aten::expand.default(%x, [%n, s0])",
                     "f32[s1, s0]{0, 1}"));
  ExpectConverts(One("%x: f32[4, 6]",
                     "aten::expand.default(%x, [4, 6], implicit=True)",
                     "f32[4, 6]"));
  ExpectError(One("%x: f32[4, 6]", "aten::expand.default(%x, [-1, 4, 6])",
                  "f32[1, 4, 6]"),
              "The expanded size of the tensor (-1) isn't allowed in a "
              "leading, non-existing dimension 0");
  ExpectError(
      One("%x: f32[4, 6]", "aten::expand.default(%x, [4, 7])", "f32[4, 7]"),
      "The expanded size of the tensor (7) must match the existing "
      "size (6) at non-singleton dimension 1.  Target sizes: [4, 7].  "
      "Tensor sizes: [4, 6]");
  ExpectError(
      One("%x: f32[4, 6]", "aten::expand.default(%x, [4])", "f32[4]"),
      "the number of sizes provided (1) must be greater or equal to the "
      "number of dimensions in the tensor (2)");
}

TEST(ViewOpsTest, SliceNegativeClampedStepped) {
  const std::string x = "%x: f32[4, 6]";
  ExpectConverts(One(x, "aten::slice.Tensor(%x, 1, -4, None, 2)",
                     "f32[4, 2]{6, 2} offset(2)"));
  ExpectConverts(
      One(x, "aten::slice.Tensor(%x, 1, -100, 100, 4)", "f32[4, 2]{6, 4}"));
  ExpectConverts(
      One(x, "aten::slice.Tensor(%x, 1, 5, 2)", "f32[4, 0] offset(5)"));
  ExpectConverts(
      One(x, "aten::slice.Tensor(%x, 0, 7, 9)", "f32[0, 6] offset(24)"));
  ExpectConverts(One(x, "aten::slice.Tensor(%x, 0, 1, 9223372036854775807)",
                     "f32[3, 6] offset(6)"));
  ExpectConverts(One(x, "aten::slice.Tensor(%x, -1, 1, -1, 3)",
                     "f32[4, 2]{6, 3} offset(1)"));
  ExpectConverts(One(x, "aten::slice.Tensor(%x)", "f32[4, 6]"));
  ExpectError(One(x, "aten::slice.Tensor(%x, 1, 2, 5, 0)", "f32[4, 0]"),
              "slice step must be positive");
  ExpectError(One(x, "aten::slice.Tensor(%x, 1, 2, 5, -1)", "f32[4, 0]"),
              "slice step must be positive");
  ExpectError(One("%x: f32[]", "aten::slice.Tensor(%x, 0, 2, 5)", "f32[]"),
              "slice() cannot be applied to a 0-dim tensor.");
  ExpectError(One(x, "aten::slice.Tensor(%x, 2)", "f32[4, 6]"),
              "imension out of range");
  // Symbolic sizes: bounds wrap and clamp symbolically.
  ExpectConverts(One("%x: f32[s0, 4]",
                     "aten::slice.Tensor(%x, 0, 1, 9223372036854775807)",
                     "f32[s0 - 1, 4] offset(4)"));
  ExpectConverts(One("%x: f32[s0, 4]", "aten::slice.Tensor(%x, 0, -2)",
                     "f32[2, 4] offset(4*s0 - 8)"));
  ExpectConverts(One("%x: f32[s0, 4], %n: SymInt(s1)",
                     "aten::slice.Tensor(%x, 1, 0, %n)",
                     "f32[s0, Min(4, s1)]{4, 1}"));
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {4, 6});
    auto r = RunText(One("%x: " + ir::ShortName(dt) + "[4, 6]",
                         "aten::slice.Tensor(%x, 1, -4, None, 3)",
                         ir::ShortName(dt) + "[4, 2]{6, 3} offset(2)"),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> xs = x.ToDoubles();
    EXPECT_THAT(r.outputs[0].ToDoubles(),
                ElementsAre(xs[2], xs[5], xs[8], xs[11], xs[14], xs[17], xs[20],
                            xs[23]));
  }
  // The symbolic clamp evaluates at run time.
  auto r = RunText(
      R"(graph(%x: f32[s0, 4], %y: f32[s1]) {
  %r = aten::slice.Tensor(%x, 1, 0, s1) : f32[s0, Min(4, s1)]{4, 1}
  return (%r)
})",
      {Iota(ir::DType::kFloat32, {2, 4}), Iota(ir::DType::kFloat32, {3})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.outputs[0].sizes(), ElementsAre(2, 3));
}

TEST(ViewOpsTest, Select) {
  ExpectConverts(One("%x: f32[4, 6]", "aten::select.int(%x, 1, -1)",
                     "f32[4]{6} offset(5)"));
  ExpectConverts(One("%x: f32[s0, 6]", "aten::select.int(%x, 0, -1)",
                     "f32[6] offset(6*s0 - 6)"));
  ExpectError(One("%x: f32[4, 6]", "aten::select.int(%x, 1, 6)", "f32[4]"),
              "select(): index 6 out of range for tensor of size [4, 6] at "
              "dimension 1");
  ExpectError(One("%x: f32[4, 6]", "aten::select.int(%x, 1, -7)", "f32[4]"),
              "select(): index -7 out of range for tensor of size [4, 6] at "
              "dimension 1");
  ExpectError(One("%x: f32[]", "aten::select.int(%x, 0, 0)", "f32[]"),
              "select() cannot be applied to a 0-dim tensor.");
  ExpectError(One("%x: f32[0, 2]", "aten::select.int(%x, 0, 0)", "f32[2]"),
              "select(): index 0 out of range for tensor of size [0, 2] at "
              "dimension 0");
  // A run-time index past a symbolic size is an error at run time.
  auto r = RunText(
      One("%x: f32[s0, 2]", "aten::select.int(%x, 0, 3)", "f32[2] offset(6)"),
      {Iota(ir::DType::kFloat32, {3, 2})});
  ASSERT_FALSE(r.status.ok());
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("index 3 out of range"));
}

TEST(ViewOpsTest, AliasDetachAndSplit) {
  for (const char* op : {"aten::alias.default", "aten::detach.default"}) {
    auto r = RunText(One("%x: i32[3, 2]{1, 3} offset(1)",
                         std::string(op) + "(%x)", "i32[3, 2]{1, 3} offset(1)"),
                     {Iota(ir::DType::kInt32, {3, 2}, {1, 3}, 1)});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.outputs[0].SharesStorageWith(r.inputs[0].tensor));
  }
  ExpectConverts(R"(graph(%x: f32[4, 6]) {
  %s = aten::split.Tensor(%x, 4, 1) : (f32[4, 4]{6, 1}, f32[4, 2]{6, 1} offset(4))
  return (%s#0, %s#1)
})");
  ExpectConverts(R"(graph(%x: f32[4, 6]) {
  %s = aten::split.Tensor(%x, 7, -1) : (f32[4, 6])
  return (%s#0)
})");
  ExpectConverts(R"(graph(%x: f32[2, 0]) {
  %s = aten::split.Tensor(%x, 0, 1) : (f32[2, 0])
  return (%s#0)
})");
  ExpectError(R"(graph(%x: f32[4, 6]) {
  %s = aten::split.Tensor(%x, 4, 1) : (f32[4, 4]{6, 1})
  return (%s#0)
})",
              "declares 1 outputs but the op returns 2");
  ExpectError(R"(graph(%x: f32[4, 6]) {
  %s = aten::split.Tensor(%x, 0, 1) : (f32[4, 6])
  return (%s#0)
})",
              "split_size can only be 0 if dimension size is 0, but got "
              "dimension size of 6");
  ExpectError(R"(graph(%x: f32[4, 6]) {
  %s = aten::split.Tensor(%x, -1, 1) : (f32[4, 6])
  return (%s#0)
})",
              "split expects split_size be non-negative, but got "
              "split_size=-1");
  ExpectError(R"(graph(%x: f32[]) {
  %s = aten::split.Tensor(%x, 1, 0) : (f32[])
  return (%s#0)
})",
              "split expects at least a 1-dimensional tensor");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {2, 5});
    auto r = RunText(WithDType(R"(graph(%x: $T[2, 5]) {
  %s = aten::split.Tensor(%x, 2, 1) : ($T[2, 2]{5, 1}, $T[2, 2]{5, 1} offset(2), $T[2, 1]{5, 1} offset(4))
  return (%s#0, %s#1, %s#2)
})",
                               dt),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    std::vector<double> xs = x.ToDoubles();
    EXPECT_THAT(r.outputs[1].ToDoubles(),
                ElementsAre(xs[2], xs[3], xs[7], xs[8]));
    EXPECT_THAT(r.outputs[2].ToDoubles(), ElementsAre(xs[4], xs[9]));
  }
}

TEST(ViewOpsTest, CloneKeepsOrChoosesLayout) {
  // preserve: dense inputs keep their strides, others get the dims ordered
  // by stride (x.t()[::2] is [3, 4]{2, 6} -> {1, 3}).
  ExpectConverts(
      One("%x: f32[3, 4]{1, 3}", "aten::clone.default(%x)", "f32[3, 4]{1, 3}"));
  ExpectConverts(
      One("%x: f32[3, 4]{2, 6}", "aten::clone.default(%x)", "f32[3, 4]{1, 3}"));
  ExpectConverts(
      One("%x: f32[4, 3]{6, 2}", "aten::clone.default(%x)", "f32[4, 3]"));
  ExpectConverts(
      One("%x: f32[4, 3]{0, 1}", "aten::clone.default(%x)", "f32[4, 3]"));
  ExpectConverts(One("%x: f32[1, 3, 4, 5]{60, 1, 15, 3}",
                     "aten::clone.default(%x)",
                     "f32[1, 3, 4, 5]{60, 1, 15, 3}"));
  ExpectConverts(One("%x: f32[1, 3, 4, 3]{60, 1, 15, 6}",
                     "aten::clone.default(%x)",
                     "f32[1, 3, 4, 3]{36, 1, 9, 3}"));
  ExpectConverts(
      One("%x: f32[1, 3, 4, 5]{60, 1, 15, 3}",
          "aten::clone.default(%x, memory_format=torch.contiguous_format)",
          "f32[1, 3, 4, 5]"));
  ExpectConverts(
      One("%x: f32[2, 3, 4, 5]",
          "aten::clone.default(%x, memory_format=torch.channels_last)",
          "f32[2, 3, 4, 5]{60, 1, 15, 3}"));
  ExpectError(One("%x: f32[2, 3]",
                  "aten::clone.default(%x, memory_format=torch.channels_last)",
                  "f32[2, 3]"),
              "required rank 4 tensor to use channels_last format");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {3, 4}, {2, 6}, 1);
    auto r = RunText(
        One("%x: " + ir::ShortName(dt) + "[3, 4]{2, 6} offset(1)",
            "aten::clone.default(%x)", ir::ShortName(dt) + "[3, 4]{1, 3}"),
        {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_FALSE(r.outputs[0].SharesStorageWith(x));
    EXPECT_THAT(r.outputs[0].strides(), ElementsAre(1, 3));
    EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAreArray(x.ToDoubles()));
  }
}

TEST(ViewOpsTest, LiftFreshCopyIsAFreshClone) {
  ExpectConverts(One("%x: f32[3, 4]{1, 3}", "aten::lift_fresh_copy.default(%x)",
                     "f32[3, 4]{1, 3}"));
  ExpectError(One("%x: f32[3, 4]", "aten::lift_fresh_copy.default(%x)",
                  "f32[3, 4]{1, 3}"),
              "disagrees with inference");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor x = Iota(dt, {2, 3});
    auto r = RunText(WithDType(R"(graph(%x: $T[2, 3]) {
  %y = aten::lift_fresh_copy.default(%x) : ($T[2, 3])
  return (%y)
})",
                               dt),
                     {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.outputs[0].ToDoubles(), x.ToDoubles());
    EXPECT_NE(r.outputs[0].ElementPtrAtOffset(0), x.ElementPtrAtOffset(0));
  }
}

TEST(ViewOpsTest, ToCopyConvertsLikeAten) {
  ExpectConverts(One("%x: f32[3, 4]{1, 3}",
                     "aten::_to_copy.default(%x, dtype=torch.float64)",
                     "f64[3, 4]{1, 3}"));
  ExpectConverts(One("%x: f32[3, 4]",
                     "aten::_to_copy.default(%x, device=device(\"cuda:0\"))",
                     "f32[3, 4] cuda:0"));
  ExpectConverts(One("%x: f32[3, 4]{1, 3}",
                     "aten::_to_copy.default(%x, dtype=torch.int8, "
                     "memory_format=torch.contiguous_format)",
                     "i8[3, 4]"));
  ExpectConverts(One("%x: f32[4, 3]{0, 1}",
                     "aten::_to_copy.default(%x, layout=torch.strided)",
                     "f32[4, 3]"));
  // Values: ATen's conversions (float -> int truncates, then wraps; any
  // nonzero -> True).
  rt::Tensor x = rt::Tensor::FromDoubles(ir::DType::kFloat32, {5},
                                         {-1.5, 0, 2.7, 300, 0.25});
  struct Case {
    const char* dtype;
    std::vector<double> want;
  };
  for (const Case& c : std::vector<Case>{
           {"int8", {-1, 0, 2, 44, 0}},
           {"uint8", {255, 0, 2, 44, 0}},
           {"int16", {-1, 0, 2, 300, 0}},
           {"int32", {-1, 0, 2, 300, 0}},
           {"int64", {-1, 0, 2, 300, 0}},
           {"bool", {1, 0, 1, 1, 1}},
           {"float16", {-1.5, 0, 2.69921875, 300, 0.25}},
           {"bfloat16", {-1.5, 0, 2.703125, 300, 0.25}},
           {"float64", {-1.5, 0, static_cast<double>(2.7f), 300, 0.25}},
           {"float32", {-1.5, 0, static_cast<double>(2.7f), 300, 0.25}}}) {
    SCOPED_TRACE(c.dtype);
    auto dt = ir::DTypeFromTorchName(std::string("torch.") + c.dtype);
    ASSERT_TRUE(dt.has_value());
    auto r =
        RunText(One("%x: f32[5]",
                    std::string("aten::_to_copy.default(%x, dtype=torch.") +
                        c.dtype + ")",
                    ir::ShortName(*dt) + "[5]"),
                {x});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.outputs[0].dtype(), *dt);
    EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAreArray(c.want));
  }
  // Every dtype to every dtype on small non-negative integers.
  for (ir::DType from : AllDTypes()) {
    for (ir::DType to : AllDTypes()) {
      rt::Tensor in = Iota(from, {2, 3}, {1, 2});
      auto r = RunText(
          One("%x: " + ir::ShortName(from) + "[2, 3]{1, 2}",
              "aten::_to_copy.default(%x, dtype=" + ir::TorchName(to) + ")",
              ir::ShortName(to) + "[2, 3]{1, 2}"),
          {in});
      ASSERT_TRUE(r.status.ok()) << r.status;
      std::vector<double> want = in.ToDoubles();
      if (to == ir::DType::kBool) {
        for (double& v : want) v = v != 0;
      }
      EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAreArray(want))
          << ir::ShortName(from) << " -> " << ir::ShortName(to);
    }
  }
}

TEST(ViewOpsTest, ContiguousAliasesOrCopies) {
  ExpectConverts(One("%x: f32[3, 4] offset(2)", "aten::contiguous.default(%x)",
                     "f32[3, 4] offset(2)"));
  ExpectConverts(
      One("%x: f32[3, 4]{1, 3}", "aten::contiguous.default(%x)", "f32[3, 4]"));
  ExpectConverts(
      One("%x: f32[2, 3, 4, 5]",
          "aten::contiguous.default(%x, memory_format=torch.channels_last)",
          "f32[2, 3, 4, 5]{60, 1, 15, 3}"));
  // preserve_format: the input itself if contiguous, else an error.
  ExpectConverts(
      One("%x: f32[3, 4] offset(1)",
          "aten::contiguous.default(%x, memory_format=torch.preserve_format)",
          "f32[3, 4] offset(1)"));
  ExpectError(
      One("%x: f32[3, 4]{1, 3}",
          "aten::contiguous.default(%x, memory_format=torch.preserve_format)",
          "f32[3, 4]"),
      "preserve memory format is unsupported by the contiguous operator");
  for (ir::DType dt : AllDTypes()) {
    SCOPED_TRACE(ir::ShortName(dt));
    rt::Tensor a = Iota(dt, {3, 4}, {4, 1}, 2);
    rt::Tensor b = Iota(dt, {3, 4}, {1, 3});
    auto r =
        RunText(WithDType(R"(graph(%a: $T[3, 4] offset(2), %b: $T[3, 4]{1, 3}) {
  %x = aten::contiguous.default(%a) : $T[3, 4] offset(2)
  %y = aten::contiguous.default(%b) : $T[3, 4]
  return (%x, %y)
})",
                          dt),
                {a, b});
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.outputs[0].SharesStorageWith(a));
    EXPECT_FALSE(r.outputs[1].SharesStorageWith(b));
    EXPECT_TRUE(r.outputs[1].IsContiguous());
    EXPECT_THAT(r.outputs[1].ToDoubles(), ElementsAreArray(b.ToDoubles()));
  }
}

TEST(ViewOpsTest, RegisteredWithCategories) {
  for (const char* name :
       {"aten::view.default", "aten::_unsafe_view.default",
        "aten::_reshape_alias.default", "aten::permute.default",
        "aten::transpose.int", "aten::t.default", "aten::unsqueeze.default",
        "aten::squeeze.default", "aten::squeeze.dim", "aten::squeeze.dims",
        "aten::expand.default", "aten::slice.Tensor", "aten::select.int",
        "aten::alias.default", "aten::detach.default",
        "aten::as_strided.default", "aten::split.Tensor"}) {
    EXPECT_EQ(GetOp(name).category(), OpCategory::kView) << name;
  }
  for (const char* name :
       {"aten::reshape.default", "aten::clone.default",
        "aten::_to_copy.default", "aten::contiguous.default"}) {
    EXPECT_EQ(GetOp(name).category(), OpCategory::kLayout) << name;
  }
}

}  // namespace
}  // namespace kiln::ops
