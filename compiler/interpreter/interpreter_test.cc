#include "compiler/interpreter/interpreter.h"

#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::interp {
namespace {

using ir::DType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<ir::Graph> Parse(const std::string& text) {
  auto g = ir::ParseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *std::move(g) : nullptr;
}

RuntimeValue T(DType dtype, std::vector<int64_t> sizes,
               std::vector<double> values) {
  return RuntimeValue::OfTensor(rt::Tensor::FromDoubles(dtype, sizes, values));
}

TEST(InterpreterTest, RunsAChainOfOps) {
  auto g = Parse(R"(
graph(%x: f32[2, 3], %y: f32[3], %w: f32[3, 2]) {
  %add = aten::add.Tensor(%x, %y, alpha=2) : f32[2, 3]
  %mul = aten::mul.Tensor(%add, %x) : f32[2, 3]
  %neg = aten::neg.default(%mul) : f32[2, 3]
  %relu = aten::relu.default(%neg) : f32[2, 3]
  %sum = aten::sum.dim_IntList(%mul, [1]) : f32[2]
  %view = aten::view.default(%mul, [3, 2]) : f32[3, 2]
  %mm = aten::mm.default(%x, %w) : f32[2, 2]
  return (%relu, %sum, %view, %mm)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(*g, {T(DType::kFloat32, {2, 3}, {1, -2, 3, -4, 5, -6}),
                           T(DType::kFloat32, {3}, {10, 20, 30}),
                           T(DType::kFloat32, {3, 2}, {1, 0, 0, 1, 1, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 4);
  // add = x + 2*y = [[21, 38, 63], [16, 45, 54]]; mul = add * x.
  std::vector<double> mul = {21, -76, 189, -64, 225, -324};
  std::vector<double> relu;
  for (double m : mul) relu.push_back(m < 0 ? -m : 0);
  EXPECT_EQ((*out)[0].tensor.ToDoubles(), relu);
  EXPECT_THAT((*out)[1].tensor.ToDoubles(),
              ElementsAre(21 - 76 + 189, -64 + 225 - 324));
  EXPECT_EQ((*out)[2].tensor.ToDoubles(), mul);
  EXPECT_THAT((*out)[2].tensor.sizes(), ElementsAre(3, 2));
  // mm: [1,-2,3] @ [[1,0],[0,1],[1,1]] = [4, 1]; [-4,5,-6] -> [-10, -1].
  EXPECT_THAT((*out)[3].tensor.ToDoubles(), ElementsAre(4, 1, -10, -1));
}

TEST(InterpreterTest, ViewsShareStorage) {
  auto g = Parse(R"(
graph(%x: f32[2, 3]) {
  %v = aten::view.default(%x, [-1]) : f32[6]
  %w = aten::view.default(%v, [3, 2]) : f32[3, 2]
  return (%v, %w)
})");
  ASSERT_NE(g, nullptr);
  RuntimeValue x = T(DType::kFloat32, {2, 3}, {0, 1, 2, 3, 4, 5});
  auto out = RunGraph(*g, {x});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE((*out)[0].tensor.SharesStorageWith(x.tensor));
  EXPECT_TRUE((*out)[1].tensor.SharesStorageWith(x.tensor));
  EXPECT_THAT((*out)[1].tensor.strides(), ElementsAre(2, 1));
}

TEST(InterpreterTest, BindsSymbolsFromInputs) {
  auto g = Parse(R"(
graph(%x: f32[s0, 2], %y: f32[s0, 2], %n: SymInt(s1)) {
  %add = aten::add.Tensor(%x, %y) : f32[s0, 2]
  %v = aten::view.default(%add, [2*s0]) : f32[2*s0]
  return (%v, s0 + 1, s1)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(*g, {T(DType::kFloat32, {3, 2}, {1, 2, 3, 4, 5, 6}),
                           T(DType::kFloat32, {3, 2}, {1, 1, 1, 1, 1, 1}),
                           RuntimeValue::OfScalar(rt::Scalar::Int(7))});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.sizes(), ElementsAre(6));
  EXPECT_THAT((*out)[0].tensor.ToDoubles(), ElementsAre(2, 3, 4, 5, 6, 7));
  EXPECT_EQ((*out)[1].scalar.i, 4);
  EXPECT_EQ((*out)[2].scalar.i, 7);

  // s0 is bound by x (3) and contradicted by y (4).
  auto bad = RunGraph(
      *g, {T(DType::kFloat32, {3, 2}, {}), T(DType::kFloat32, {4, 2}, {}),
           RuntimeValue::OfScalar(rt::Scalar::Int(7))});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("inputs[1] (y).size(0): expected 3 (s0), got 4"));
}

TEST(InterpreterTest, RejectsWrongInputs) {
  auto g = Parse(R"(
graph(%x: f32[2]) {
  %n = aten::neg.default(%x) : f32[2]
  return (%n)
})");
  ASSERT_NE(g, nullptr);
  auto wrong_dtype = RunGraph(*g, {T(DType::kFloat64, {2}, {1, 2})});
  ASSERT_FALSE(wrong_dtype.ok());
  EXPECT_THAT(std::string(wrong_dtype.status().message()),
              HasSubstr("expected dtype f32, got f64"));
  auto wrong_count = RunGraph(*g, {});
  EXPECT_FALSE(wrong_count.ok());
  auto wrong_size = RunGraph(*g, {T(DType::kFloat32, {3}, {1, 2, 3})});
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_THAT(std::string(wrong_size.status().message()),
              HasSubstr("expected 2"));
}

TEST(InterpreterTest, Float16ComputesInFloatAndRoundsOnce) {
  auto g = Parse(R"(
graph(%x: f16[2], %y: f16[2]) {
  %add = aten::add.Tensor(%x, %y) : f16[2]
  return (%add)
})");
  ASSERT_NE(g, nullptr);
  // 2048 + 1 is not representable in f16 (spacing 2 there): rounds to even.
  auto out = RunGraph(*g, {T(DType::kFloat16, {2}, {2048, 2048}),
                           T(DType::kFloat16, {2}, {1, 3})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(), ElementsAre(2048, 2052));
}

TEST(InterpreterTest, NonContiguousInputsAndBroadcasting) {
  auto g = Parse(R"(
graph(%x: f32[3, 2]{1, 3}, %y: f32[1, 2]) {
  %add = aten::add.Tensor(%x, %y) : f32[3, 2]{1, 3}
  return (%add)
})");
  ASSERT_NE(g, nullptr);
  // x is the transpose of a contiguous [2, 3] tensor [[0, 1, 2], [3, 4, 5]].
  rt::Tensor base =
      rt::Tensor::FromDoubles(DType::kFloat32, {2, 3}, {0, 1, 2, 3, 4, 5});
  auto xt = rt::Tensor::View(base, {3, 2}, {1, 3}, 0);
  ASSERT_TRUE(xt.ok());
  auto out = RunGraph(*g, {RuntimeValue::OfTensor(*xt),
                           T(DType::kFloat32, {1, 2}, {100, 200})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(),
              ElementsAre(100, 203, 101, 204, 102, 205));
  EXPECT_THAT((*out)[0].tensor.strides(), ElementsAre(1, 3));
}

TEST(InterpreterTest, IntegerDivisionByZeroIsAnError) {
  auto g = Parse(R"(
graph(%x: i64[2], %y: i64[2]) {
  %d = aten::floor_divide.default(%x, %y) : i64[2]
  return (%d)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(
      *g, {T(DType::kInt64, {2}, {7, -7}), T(DType::kInt64, {2}, {2, 0})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(
      std::string(out.status().message()),
      HasSubstr("nodes[0] (aten::floor_divide.default): ZeroDivisionError"));
}

TEST(InterpreterTest, EmptyIntegerDivisionNeverRaises) {
  // As ATen: divisors are checked where a result is computed, so a zero
  // divisor broadcast into an empty result is no error.
  auto g = Parse(R"(
graph(%x: i64[0, 2], %y: i64[2]) {
  %d = aten::floor_divide.default(%x, %y) : i64[0, 2]
  return (%d)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(
      *g, {T(DType::kInt64, {0, 2}, {}), T(DType::kInt64, {2}, {2, 0})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].tensor.numel(), 0);
}

TEST(InterpreterTest, ConstantsHaveTheirTypesLayout) {
  auto g = Parse(R"(
graph(%x: f32[2, 3]) {
  %c = constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) : f32[2, 3]{1, 2}
  %b = constant([True, False, True]) : b8[3]
  %add = aten::add.Tensor(%x, %c) : f32[2, 3]
  %w = aten::where.self(%b, %add, %x) : f32[2, 3]
  return (%w, %c)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(*g, {T(DType::kFloat32, {2, 3}, {0, 0, 0, 10, 10, 10})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(), ElementsAre(1, 0, 3, 14, 10, 16));
  EXPECT_THAT((*out)[1].tensor.strides(), ElementsAre(1, 2));
}

TEST(InterpreterTest, FusedNodeRunsItsBodyWithTheGraphsSymbols) {
  auto bad = ir::ParseGraph(R"(
graph(%x: f32[s0, 3], %y: f32[3]) {
  %v = aten::view.default(%x, [3*s0]) : f32[3*s0]
  %f = kiln::fused.default([%x, %y, %v]) : (f32[s0, 3], f32[s0]) {
    kind=reduction, shape=[s0, 3], reduce_dims=[1], input_dims=[[0, 1], [1], [1]]
    graph(%x: f32[s0, 3], %y: f32[3], %v: f32[3*s0]) {
      %mul = aten::mul.Tensor(%x, %y) : f32[s0, 3]
      %sum = aten::sum.dim_IntList(%mul, [1]) : f32[s0]
      %neg = aten::neg.default(%sum) : f32[s0]
      return (%mul, %neg)
    }
  }
  return (%f#0, %f#1)
})");
  // The flat view is not read along the iteration space.
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("body input 'v' is not used"));
  auto g = Parse(R"(
graph(%x: f32[s0, 3], %y: f32[3]) {
  %f = kiln::fused.default([%x, %y]) : (f32[s0, 3], f32[s0]) {
    kind=reduction, shape=[s0, 3], reduce_dims=[1], input_dims=[[0, 1], [1]]
    graph(%x: f32[s0, 3], %y: f32[3]) {
      %mul = aten::mul.Tensor(%x, %y) : f32[s0, 3]
      %sum = aten::sum.dim_IntList(%mul, [1]) : f32[s0]
      %div = aten::div.Scalar(%sum, s0) : f32[s0]
      return (%mul, %div)
    }
  }
  return (%f#0, %f#1)
})");
  ASSERT_NE(g, nullptr);
  auto out = RunGraph(*g, {T(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
                           T(DType::kFloat32, {3}, {1, 10, 100})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT((*out)[0].tensor.ToDoubles(),
              ElementsAre(1, 20, 300, 4, 50, 600));
  EXPECT_THAT((*out)[1].tensor.ToDoubles(), ElementsAre(321 / 2.0, 654 / 2.0));
}

}  // namespace
}  // namespace kiln::interp
