#include "compiler/symbolic/expr.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/v1/symexpr.pb.h"

namespace kiln::sym {
namespace {

using ::testing::HasSubstr;

ExprRef S(const char* name) { return Expr::Symbol(name); }
ExprRef C(int64_t v) { return Expr::Const(v); }

TEST(ExprTest, NormalFormMakesEqualThingsEqual) {
  ExprRef s0 = S("s0"), s1 = S("s1");
  EXPECT_TRUE(SameExpr(Expr::Add(s0, s1), Expr::Add(s1, s0)));
  EXPECT_TRUE(SameExpr(Expr::Add(s0, s0), Expr::Mul(C(2), s0)));
  EXPECT_TRUE(SameExpr(Expr::Sub(s0, s0), C(0)));
  EXPECT_TRUE(SameExpr(Expr::Mul(s0, C(1)), s0));
  EXPECT_TRUE(SameExpr(Expr::Mul(s0, C(0)), C(0)));
  EXPECT_TRUE(SameExpr(Expr::Mul({C(2), s0, C(3)}), Expr::Mul(C(6), s0)));
  EXPECT_TRUE(SameExpr(Expr::Mul(C(2), Expr::Add(s0, C(1))),
                       Expr::Add(Expr::Mul(C(2), s0), C(2))));
  EXPECT_TRUE(SameExpr(Expr::Gt(s0, C(2)), Expr::Lt(C(2), s0)));
  EXPECT_TRUE(SameExpr(Expr::Eq(s0, s1), Expr::Eq(s1, s0)));
  EXPECT_TRUE(SameExpr(Expr::Eq(Expr::Add(s0, s1), Expr::Add(s1, s0)),
                       Expr::Bool(true)));
  EXPECT_FALSE(SameExpr(Expr::Add(s0, C(1)), Expr::Add(s1, C(1))));
  EXPECT_EQ(Expr::Add(s0, s1)->Hash(), Expr::Add(s1, s0)->Hash());
}

TEST(ExprTest, ConstantsFoldWithPythonSemantics) {
  EXPECT_EQ(Expr::FloorDiv(C(-7), C(2))->AsConst(), -4);
  EXPECT_EQ(Expr::Mod(C(-7), C(3))->AsConst(), 2);
  EXPECT_EQ(Expr::Mod(C(7), C(-3))->AsConst(), -2);
  EXPECT_EQ(Expr::Min({C(3), C(1), C(2)})->AsConst(), 1);
  EXPECT_EQ(Expr::Max({C(3), C(1)})->AsConst(), 3);
  EXPECT_EQ(Expr::Lt(C(1), C(2))->AsBool(), true);
  EXPECT_EQ(Expr::And({Expr::Bool(true), Expr::Bool(false)})->AsBool(), false);
  EXPECT_EQ(Expr::Not(Expr::Not(Expr::Lt(S("s0"), C(3))))->ToString(),
            "s0 < 3");
  // Division by a constant zero stays symbolic (and fails to evaluate).
  EXPECT_FALSE(Expr::FloorDiv(C(1), C(0))->AsConst().has_value());
}

TEST(ExprTest, PrintsLikeSympy) {
  ExprRef s0 = S("s0"), s1 = S("s1");
  EXPECT_EQ(Expr::Add(Expr::Mul(C(2), s1), C(1))->ToString(), "2*s1 + 1");
  EXPECT_EQ(Expr::Sub(s0, s1)->ToString(), "s0 - s1");
  EXPECT_EQ(Expr::Neg(s0)->ToString(), "-s0");
  EXPECT_EQ(Expr::Sub(s0, C(1))->ToString(), "s0 - 1");
  EXPECT_EQ(Expr::Mul(s0, s1)->ToString(), "s0*s1");
  EXPECT_EQ(Expr::Eq(Expr::Mul(C(2), s1), s0)->ToString(), "Eq(2*s1, s0)");
  EXPECT_EQ(Expr::Ge(s0, C(2))->ToString(), "2 <= s0");
  EXPECT_EQ(Expr::FloorDiv(s0, C(2))->ToString(), "FloorDiv(s0, 2)");
  EXPECT_EQ(Expr::Mod(s0, C(3))->ToString(), "Mod(s0, 3)");
  EXPECT_EQ(Expr::Min({s0, C(4)})->ToString(), "Min(s0, 4)");
  EXPECT_EQ(Expr::And({Expr::Lt(s0, C(4)), Expr::Ne(s1, C(1))})->ToString(),
            "(Ne(s1, 1)) & (s0 < 4)");
}

TEST(ExprTest, EvaluatesAndReportsErrors) {
  ExprRef e = Expr::Add(Expr::Mul(C(2), S("s1")), C(1));
  EXPECT_EQ(Evaluate(*e, {{"s1", 5}}).value(), 11);
  EXPECT_EQ(Evaluate(*Expr::Eq(Expr::Mul(C(2), S("s1")), S("s0")),
                     {{"s0", 6}, {"s1", 3}})
                .value(),
            1);
  auto unbound = Evaluate(*e, {});
  ASSERT_FALSE(unbound.ok());
  EXPECT_THAT(std::string(unbound.status().message()), HasSubstr("s1"));
  EXPECT_FALSE(
      Evaluate(*Expr::FloorDiv(S("s0"), S("s1")), {{"s0", 1}, {"s1", 0}}).ok());
  EXPECT_FALSE(
      Evaluate(*Expr::Mul(S("a"), S("b")), {{"a", INT64_MAX}, {"b", 2}}).ok());
}

TEST(ExprTest, ProgramMatchesEvaluate) {
  ExprRef e =
      Expr::And({Expr::Le(C(2), S("s0")),
                 Expr::Eq(Expr::Mod(Expr::Add(S("s0"), S("s1")), C(4)), C(0)),
                 Expr::Lt(Expr::Max({S("s0"), S("s1")}), C(100))});
  auto program = Program::Compile(*e, [](const std::string& name) {
    return name == "s0" ? 0 : name == "s1" ? 1 : -1;
  });
  ASSERT_TRUE(program.ok()) << program.status();
  for (int64_t a = -3; a < 10; ++a) {
    for (int64_t b = -3; b < 10; ++b) {
      int64_t slots[2] = {a, b};
      int64_t got = -1;
      ASSERT_TRUE(program->Eval(slots, &got));
      EXPECT_EQ(got, Evaluate(*e, {{"s0", a}, {"s1", b}}).value());
    }
  }
  auto div =
      Program::Compile(*Expr::FloorDiv(S("s0"), S("s1")),
                       [](const std::string& n) { return n == "s0" ? 0 : 1; });
  int64_t zero[2] = {5, 0}, out = 0;
  EXPECT_FALSE(div->Eval(zero, &out));
  EXPECT_FALSE(
      Program::Compile(*S("x"), [](const std::string&) { return -1; }).ok());
}

TEST(ExprTest, SubstituteRenamesAndRenormalizes) {
  ExprRef e = Expr::Add(S("a"), S("b"));
  ExprRef r = Substitute(e, {{"a", S("s0")}, {"b", S("s0")}});
  EXPECT_EQ(r->ToString(), "2*s0");
  std::vector<std::string> symbols;
  Expr::Add(S("z"), Expr::Mul(S("y"), S("z")))->CollectSymbols(&symbols);
  EXPECT_EQ(symbols.size(), 2u);
}

TEST(ExprProtoTest, RoundTripsAndValidates) {
  ExprRef e = Expr::Eq(Expr::Mul(C(2), S("s1")), S("s0"));
  v1::SymExpr p;
  ToProto(*e, &p);
  auto back = FromProto(p, "guards.shape_guards[0]", /*want_bool=*/true);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameExpr(*back, e));

  v1::SymExpr bad;
  bad.set_op(v1::SymExpr::ADD);
  bad.add_operands()->set_op(v1::SymExpr::SYMBOL);  // no name
  bad.add_operands()->set_op(v1::SymExpr::CONSTANT);
  auto r = FromProto(bad, "x.expr", /*want_bool=*/false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(std::string(r.status().message()),
            "x.expr.operands[0]: SYMBOL needs a name");

  v1::SymExpr unary_add;
  unary_add.set_op(v1::SymExpr::ADD);
  unary_add.add_operands()->set_op(v1::SymExpr::CONSTANT);
  EXPECT_THAT(std::string(FromProto(unary_add, "e", false).status().message()),
              HasSubstr("ADD takes 2 or more operands, got 1"));

  v1::SymExpr relation;
  relation.set_op(v1::SymExpr::LT);
  *relation.add_operands() = p;  // a boolean where an integer belongs
  relation.add_operands()->set_op(v1::SymExpr::CONSTANT);
  EXPECT_THAT(std::string(FromProto(relation, "g", true).status().message()),
              HasSubstr("g.operands[0]: expected an integer expression"));
  EXPECT_THAT(std::string(FromProto(p, "dim", false).status().message()),
              HasSubstr("dim: expected an integer expression, got EQ"));

  v1::SymExpr deep;
  v1::SymExpr* cur = &deep;
  for (int i = 0; i < 100; ++i) {
    cur->set_op(v1::SymExpr::NEG);
    cur = cur->add_operands();
  }
  cur->set_op(v1::SymExpr::CONSTANT);
  EXPECT_EQ(FromProto(deep, "d", false).status().code(),
            absl::StatusCode::kResourceExhausted);
  v1::SymExpr unset;
  EXPECT_EQ(FromProto(unset, "u", false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::sym
