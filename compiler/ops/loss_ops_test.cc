// nll_loss_forward / nll_loss_backward: inference, ATen's argument rules
// and known values (from PyTorch) per floating dtype, for every reduction,
// with and without weights and ignore_index. tests/python/test_ops_loss.py
// compares with PyTorch eager and runs the captured MLP graphs.
#include <cmath>
#include <limits>

#include "compiler/ops/numeric_test_util.h"

namespace kiln::ops {
namespace {

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
const double kInf = std::numeric_limits<double>::infinity();

// self = [[0.1, -1, 2], [0.5, 0.2, -0.3]], target = [2, 0],
// weight = [1, 2, 3].
const std::vector<double> kSelf = {0.1, -1, 2, 0.5, 0.2, -0.3};

struct ForwardCase {
  std::string call;
  std::string out_sizes;  // "[2]" or "[]"
  std::vector<int64_t> sizes;
  std::vector<double> output;
  double total_weight;
};

TEST(LossOpsTest, NllLossForwardPerFloatingDType) {
  const std::vector<ForwardCase> cases = {
      {"aten::nll_loss_forward.default(%x, %t, None, 0, -100)",
       "[2]",
       {2},
       {-2, -0.5},
       0},
      {"aten::nll_loss_forward.default(%x, %t, None, 2, -100)",
       "[]",
       {},
       {-2.5},
       2},
      {"aten::nll_loss_forward.default(%x, %t, None, 1, -100)",
       "[]",
       {},
       {-1.25},
       2},
      {"aten::nll_loss_forward.default(%x, %t, %w, 1, -100)",
       "[]",
       {},
       {-1.625},
       4},
      {"aten::nll_loss_forward.default(%x, %t, %w, 0, -100)",
       "[2]",
       {2},
       {-6, -0.5},
       0},
      // ignore_index drops sample 0 (target 2).
      {"aten::nll_loss_forward.default(%x, %t, %w, 1, 2)", "[]", {}, {-0.5}, 1},
      {"aten::nll_loss_forward.default(%x, %t, %w, 0, 2)",
       "[2]",
       {2},
       {0, -0.5},
       0},
  };
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    const std::string params =
        "%x: " + t + "[2, 3], %t: i64[2], %w: " + t + "[3]";
    for (const ForwardCase& c : cases) {
      auto r = RunText(
          One(params, c.call, "(" + t + c.out_sizes + ", " + t + "[])", 2),
          {T(d, {2, 3}, kSelf), T(DType::kInt64, {2}, {2, 0}),
           T(d, {3}, {1, 2, 3})});
      ASSERT_TRUE(r.status.ok()) << c.call << ": " << r.status;
      ExpectTensor(r.outputs[0], d, c.sizes, c.output);
      ExpectTensor(r.outputs[1], d, {}, {c.total_weight});
    }
  }
}

TEST(LossOpsTest, NllLossForwardEdgeCases) {
  const std::string p = "%x: f32[2, 3], %t: i64[2]";
  std::vector<rt::Tensor> in = {T(DType::kFloat32, {2, 3}, kSelf),
                                T(DType::kInt64, {2}, {2, 2})};
  // Every target ignored: mean is 0 / 0, sum 0.
  auto r = RunText(One(p, "aten::nll_loss_forward.default(%x, %t, None, 1, 2)",
                       "(f32[], f32[])", 2),
                   in);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {kNaN});
  ExpectTensor(r.outputs[1], DType::kFloat32, {}, {0});
  // A 1-d self takes a 0-d target; reduction none gives 0-d results with
  // the total weight (ATen's reduction path).
  r = RunText(
      One("%x: f32[3], %t: i64[]",
          "aten::nll_loss_forward.default(%x, %t, None, 0, -100)",
          "(f32[], f32[])", 2),
      {T(DType::kFloat32, {3}, {0.1, -1, 2}), T(DType::kInt64, {}, {1})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {}, {1});
  ExpectTensor(r.outputs[1], DType::kFloat32, {}, {1});
  // uint8 targets, symbolic batch, transposed self (contiguous results).
  ExpectConverts(One("%x: f32[2, 3], %t: u8[2]",
                     "aten::nll_loss_forward.default(%x, %t, None, 1, -100)",
                     "(f32[], f32[])", 2));
  ExpectConverts(One("%x: f32[s0, 3]{1, s0}, %t: i64[s0]",
                     "aten::nll_loss_forward.default(%x, %t, None, 0, -100)",
                     "(f32[s0], f32[])", 2));
  ExpectConverts(One("%x: f32[0, 3], %t: i64[0]",
                     "aten::nll_loss_forward.default(%x, %t, None, 1, -100)",
                     "(f32[], f32[])", 2));
  // Out of range targets fail at run time.
  r = RunText(
      One(p, "aten::nll_loss_forward.default(%x, %t, None, 1, -100)",
          "(f32[], f32[])", 2),
      {T(DType::kFloat32, {2, 3}, kSelf), T(DType::kInt64, {2}, {3, 0})});
  EXPECT_THAT(r.status.message(),
              ::testing::HasSubstr("Target 3 is out of bounds."));
}

TEST(LossOpsTest, NllLossArgumentRules) {
  const std::string out = "(f32[], f32[])";
  ExpectError(
      One("%x: f32[2, 3, 4], %t: i64[2]",
          "aten::nll_loss_forward.default(%x, %t, None, 1, -100)", out, 2),
      "input tensor should be 1D or 2D");
  ExpectError(
      One("%x: f32[2, 3], %t: i64[1, 2]",
          "aten::nll_loss_forward.default(%x, %t, None, 1, -100)", out, 2),
      "0D or 1D target tensor expected, multi-target not supported");
  ExpectError(
      One("%x: f32[2, 3], %t: i64[3]",
          "aten::nll_loss_forward.default(%x, %t, None, 1, -100)", out, 2),
      "size mismatch (got input: [2, 3], target: [3])");
  ExpectError(
      One("%x: f32[2, 3], %t: i32[2]",
          "aten::nll_loss_forward.default(%x, %t, None, 1, -100)", out, 2),
      "expected target of dtype i64 (or u8), got i32");
  ExpectError(
      One("%x: f32[2, 3], %t: i64[2], %w: f32[2]",
          "aten::nll_loss_forward.default(%x, %t, %w, 1, -100)", out, 2),
      "weight tensor should be defined either for all 3 classes or no "
      "classes but got weight tensor of shape: [2]");
  ExpectError(
      One("%x: f32[2, 3], %t: i64[2], %w: f64[3]",
          "aten::nll_loss_forward.default(%x, %t, %w, 1, -100)", out, 2),
      "expected weight of dtype f32, got f64");
  ExpectError(
      One("%x: f32[2, 3], %t: i64[2]",
          "aten::nll_loss_forward.default(%x, %t, None, 3, -100)", out, 2),
      "reduction must be 0 (none), 1 (mean) or 2 (sum), got 3");
  ExpectError(One("%x: i64[2, 3], %t: i64[2]",
                  "aten::nll_loss_forward.default(%x, %t, None, 1, -100)",
                  "(i64[], i64[])", 2),
              "nll_loss is not supported for i64");
}

TEST(LossOpsTest, NllLossBackwardPerFloatingDType) {
  struct Case {
    std::string call;
    std::string grad_sizes;
    std::vector<int64_t> grad_shape;
    std::vector<double> grad;
    double total_weight;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"aten::nll_loss_backward.default(%g, %x, %t, %w, 1, -100, %tw)",
       "[]",
       {},
       {1},
       4,
       {0, 0, -0.75, -0.25, 0, 0}},
      {"aten::nll_loss_backward.default(%g, %x, %t, %w, 0, -100, %tw)",
       "[2]",
       {2},
       {1, 2},
       0,
       {0, 0, -3, -2, 0, 0}},
      {"aten::nll_loss_backward.default(%g, %x, %t, None, 2, -100, %tw)",
       "[1]",
       {1},
       {0.5},
       2,
       {0, 0, -0.5, -0.5, 0, 0}},
      {"aten::nll_loss_backward.default(%g, %x, %t, None, 1, 2, %tw)",
       "[]",
       {},
       {1},
       1,
       {0, 0, 0, -1, 0, 0}},
      // total_weight 0 with mean: -1 / 0.
      {"aten::nll_loss_backward.default(%g, %x, %t, None, 1, -100, %tw)",
       "[]",
       {},
       {1},
       0,
       {0, 0, -kInf, -kInf, 0, 0}},
  };
  for (DType d : FloatingDTypes()) {
    SCOPED_TRACE(ShortName(d));
    const std::string t = ShortName(d);
    for (const Case& c : cases) {
      const std::string params = "%g: " + t + c.grad_sizes + ", %x: " + t +
                                 "[2, 3], %t: i64[2], %w: " + t +
                                 "[3], %tw: " + t + "[]";
      auto r = RunText(One(params, c.call, t + "[2, 3]"),
                       {T(d, c.grad_shape, c.grad), T(d, {2, 3}, kSelf),
                        T(DType::kInt64, {2}, {2, 0}), T(d, {3}, {1, 2, 3}),
                        T(d, {}, {c.total_weight})});
      ASSERT_TRUE(r.status.ok()) << c.call << ": " << r.status;
      ExpectTensor(r.outputs[0], d, {2, 3}, c.expected);
    }
  }
  // A 1-d self, and a transposed one (the result is contiguous).
  auto r = RunText(
      One("%g: f32[], %x: f32[3], %t: i64[], %tw: f32[]",
          "aten::nll_loss_backward.default(%g, %x, %t, None, 0, -100, %tw)",
          "f32[3]"),
      {T(DType::kFloat32, {}, {3}), T(DType::kFloat32, {3}, {0.1, -1, 2}),
       T(DType::kInt64, {}, {1}), T(DType::kFloat32, {}, {1})});
  ASSERT_TRUE(r.status.ok()) << r.status;
  ExpectTensor(r.outputs[0], DType::kFloat32, {3}, {0, -3, 0});
  ExpectConverts(
      One("%g: f32[], %x: f32[2, 3]{1, 2}, %t: i64[2], %tw: f32[]",
          "aten::nll_loss_backward.default(%g, %x, %t, None, 1, -100, %tw)",
          "f32[2, 3]"));
}

TEST(LossOpsTest, NllLossBackwardArgumentRules) {
  const std::string call =
      "aten::nll_loss_backward.default(%g, %x, %t, None, %R, -100, %tw)";
  auto with = [&](const std::string& g, const std::string& tw,
                  const std::string& reduction) {
    std::string c = call;
    c.replace(c.find("%R"), 2, reduction);
    return One("%g: " + g + ", %x: f32[2, 3], %t: i64[2], %tw: " + tw, c,
               "f32[2, 3]");
  };
  ExpectError(with("f32[]", "f32[]", "0"),
              "grad_output must be [2] for reduction none, got []");
  ExpectError(with("f32[2]", "f32[]", "2"),
              "Expected a single element grad_output tensor, but got: [2]");
  ExpectError(with("f32[]", "f32[2]", "1"),
              "expected total_weight to be a single element tensor, got: [2]");
  ExpectError(with("f64[]", "f32[]", "1"),
              "expected grad_output and total_weight of dtype f32, got f64");
  ExpectError(with("f32[]", "f64[]", "1"),
              "expected grad_output and total_weight of dtype f32, got f64");
  auto r =
      RunText(with("f32[]", "f32[]", "1"),
              {T(DType::kFloat32, {}, {1}), T(DType::kFloat32, {2, 3}, kSelf),
               T(DType::kInt64, {2}, {5, 0}), T(DType::kFloat32, {}, {2})});
  EXPECT_THAT(r.status.message(),
              ::testing::HasSubstr("Target 5 is out of bounds."));
}

}  // namespace
}  // namespace kiln::ops
