#include "compiler/ops/shape_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using ir::Const;
using ir::TensorType;
using sym::Expr;

ExprRef S(const char* n) { return Expr::Symbol(n); }

TEST(ShapeUtilTest, Broadcasting) {
  auto r =
      BroadcastShapes({{Const(2), Const(1), Const(3)}, {Const(4), Const(1)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeString(*r), "[2, 4, 3]");
  auto sym = BroadcastShapes(
      {{S("s0"), Const(1)}, {Const(1), S("s1")}, {S("s0"), S("s1")}});
  ASSERT_TRUE(sym.ok());
  EXPECT_EQ(ShapeString(*sym), "[s0, s1]");
  auto bad = BroadcastShapes({{S("s0")}, {Const(4)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "shapes [s0] and [4] do not broadcast: s0 vs 4 at dimension 0");
  auto scalar = BroadcastShapes({{}, {Const(3)}});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(ShapeString(*scalar), "[3]");
}

TensorType T(std::vector<int64_t> sizes, std::vector<int64_t> strides) {
  return TensorType::Strided(ir::DType::kFloat32, ir::Consts(sizes),
                             ir::Consts(strides));
}

std::string Layout(std::vector<int64_t> out, std::vector<TensorType> ins) {
  std::vector<const TensorType*> ptrs;
  for (const auto& t : ins) ptrs.push_back(&t);
  LayoutResult r = TensorIteratorLayout(ir::Consts(out), ptrs);
  return (r.exact ? "" : "inexact ") + ir::ExprListToString(r.strides);
}

// Expected strides were printed by PyTorch 1.13 for the same inputs.
TEST(ShapeUtilTest, TensorIteratorLayoutMatchesATen) {
  // contiguous + contiguous
  EXPECT_EQ(Layout({2, 3}, {T({2, 3}, {3, 1}), T({2, 3}, {3, 1})}), "[3, 1]");
  // transposed + transposed: keeps the transposed layout
  EXPECT_EQ(Layout({3, 2}, {T({3, 2}, {1, 3}), T({3, 2}, {1, 3})}), "[1, 3]");
  // transposed + contiguous: the first operand decides
  EXPECT_EQ(Layout({3, 2}, {T({3, 2}, {1, 3}), T({3, 2}, {2, 1})}), "[1, 3]");
  EXPECT_EQ(Layout({3, 2}, {T({3, 2}, {2, 1}), T({3, 2}, {1, 3})}), "[2, 1]");
  // broadcast row vector with a transposed matrix
  EXPECT_EQ(Layout({3, 2}, {T({3, 2}, {1, 3}), T({2}, {1})}), "[1, 3]");
  // channels-last stays channels-last
  EXPECT_EQ(Layout({2, 3, 4, 5}, {T({2, 3, 4, 5}, {60, 1, 15, 3})}),
            "[60, 1, 15, 3]");
  // (3, 1) with strides (1, 3) plus a wrapped scalar: size-1 dim ordered by
  // its stride
  EXPECT_EQ(Layout({3, 1}, {T({3, 1}, {1, 3}), T({}, {})}), "[1, 3]");
  EXPECT_EQ(Layout({3, 1}, {T({3, 1}, {1, 3}), T({3, 1}, {1, 3})}), "[1, 1]");
}

TEST(ShapeUtilTest, SymbolicLayouts) {
  TensorType c =
      TensorType::Contiguous(ir::DType::kFloat32, {S("s0"), S("s1")});
  std::vector<const TensorType*> ins = {&c, &c};
  LayoutResult r = TensorIteratorLayout(c.sizes, ins);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(ir::ExprListToString(r.strides), "[s1, 1]");
  TensorType t = TensorType::Strided(ir::DType::kFloat32, {S("s0"), S("s1")},
                                     {Const(1), S("s0")});
  TensorType row = TensorType::Contiguous(ir::DType::kFloat32, {S("s1")});
  ins = {&t, &row};
  r = TensorIteratorLayout(t.sizes, ins);
  EXPECT_TRUE(r.exact);  // 1 < s0 since symbols are at least 2
  EXPECT_EQ(ir::ExprListToString(r.strides), "[1, s0]");
  // Strides that differ by a symbol of unknown sign stay undecided.
  TensorType odd = TensorType::Strided(ir::DType::kFloat32, {S("s0"), S("s1")},
                                       {Expr::Sub(S("s2"), S("s3")), Const(1)});
  ins = {&odd, &row};
  r = TensorIteratorLayout(odd.sizes, ins);
  EXPECT_FALSE(r.exact);
}

TEST(ShapeUtilTest, ProvablyLessAssumesSymbolsAtLeastTwo) {
  EXPECT_EQ(ProvablyLess(Const(1), S("s0")), true);
  EXPECT_EQ(ProvablyLess(S("s0"), Const(2)), false);
  EXPECT_EQ(ProvablyLess(S("s0"), S("s1")), std::nullopt);
  EXPECT_EQ(ProvablyLess(Const(3), S("s0")), std::nullopt);
}

TEST(ShapeUtilTest, ProvablyEqualExpandsProducts) {
  ExprRef lhs = Expr::Mul(Expr::Sub(S("s0"), Const(2)), S("s1"));
  ExprRef rhs =
      Expr::Sub(Expr::Mul(S("s0"), S("s1")), Expr::Mul(Const(2), S("s1")));
  EXPECT_EQ(ProvablyEqual(lhs, rhs), true);
  EXPECT_EQ(ProvablyEqual(Expr::Mul(Expr::Add(S("s0"), Const(1)),
                                    Expr::Add(S("s0"), Const(1))),
                          Expr::Add({Expr::Mul(S("s0"), S("s0")),
                                     Expr::Mul(Const(2), S("s0")), Const(1)})),
            true);
  EXPECT_EQ(ProvablyEqual(lhs, Expr::Mul(S("s0"), S("s1"))), std::nullopt);
  EXPECT_EQ(ProvablyEqual(Expr::Mul(Expr::Add(S("s0"), Const(1)), Const(3)),
                          Expr::Add(Expr::Mul(Const(3), S("s0")), Const(4))),
            false);
}

TEST(ShapeUtilTest, WrapDim) {
  EXPECT_EQ(*WrapDim(-1, 3), 2);
  EXPECT_EQ(*WrapDim(0, 0), 0);
  EXPECT_EQ(*WrapDim(-1, 0), 0);
  auto bad = WrapDim(3, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "dimension out of range (expected to be in range of [-3, 2], but "
            "got 3)");
}

}  // namespace
}  // namespace kiln::ops
