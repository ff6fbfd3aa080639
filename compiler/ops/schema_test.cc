#include "compiler/ops/schema.h"

#include "compiler/ops/op_def.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using ::testing::HasSubstr;

TEST(SchemaTest, ParsesArgumentsDefaultsAndReturns) {
  auto s = ParseSchema(
      "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> "
      "Tensor");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->FullName(), "aten::add.Tensor");
  ASSERT_EQ(s->arguments.size(), 3);
  EXPECT_FALSE(s->arguments[1].kwarg_only);
  EXPECT_TRUE(s->arguments[2].kwarg_only);
  ASSERT_TRUE(s->arguments[2].default_value.has_value());
  EXPECT_EQ(s->arguments[2].default_value->AsInt(), 1);
  ASSERT_EQ(s->returns.size(), 1);

  auto max = ParseSchema(
      "aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor "
      "values, Tensor indices)");
  ASSERT_TRUE(max.ok()) << max.status();
  ASSERT_EQ(max->returns.size(), 2);
  EXPECT_EQ(max->returns[1].name, "indices");
  EXPECT_EQ(max->overload, "dim");

  auto mm = ParseSchema("aten::mm(Tensor self, Tensor mat2) -> Tensor");
  ASSERT_TRUE(mm.ok());
  EXPECT_EQ(mm->FullName(), "aten::mm.default");
}

TEST(SchemaTest, ParsesTypes) {
  auto s = ParseSchema(
      "aten::f(Tensor(a) self, int[1]? dim, SymInt[2] size, Tensor?[] "
      "indices, Tensor(a!) out, float eps=1e-05, str mode=\"none\", "
      "ScalarType? dtype=None, int[] stride=[-1, 2], bool[3] mask=[True, "
      "False, True], MemoryFormat? memory_format=contiguous_format) -> "
      "Tensor(a)");
  ASSERT_TRUE(s.ok()) << s.status();
  const auto& a = s->arguments;
  EXPECT_EQ(a[0].alias, "a");
  EXPECT_EQ(a[1].type.ToString(), "int[1]?");
  EXPECT_TRUE(a[1].type.optional);
  EXPECT_EQ(a[1].type.list_size, 1);
  EXPECT_EQ(a[2].type.ToString(), "SymInt[2]");
  EXPECT_TRUE(a[3].type.element_optional);
  EXPECT_FALSE(a[3].type.optional);
  EXPECT_TRUE(a[4].is_mutable());
  EXPECT_EQ(a[5].default_value->f, 1e-05);
  EXPECT_EQ(a[6].default_value->s, "none");
  EXPECT_TRUE(a[7].default_value->is_none());
  ASSERT_EQ(a[8].default_value->ints.size(), 2);
  EXPECT_EQ(a[8].default_value->ints[0]->AsConst(), -1);
  EXPECT_EQ(a[9].default_value->bools, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(a[10].default_value->memory_format, ir::MemoryFormat::kContiguous);
  EXPECT_EQ(s->returns[0].alias, "a");
  // Canonical text round-trips.
  auto again = ParseSchema(s->ToString());
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << s->ToString();
  EXPECT_EQ(again->ToString(), s->ToString());
}

TEST(SchemaTest, Errors) {
  auto no_ns = ParseSchema("add(Tensor self) -> Tensor");
  ASSERT_FALSE(no_ns.ok());
  EXPECT_THAT(std::string(no_ns.status().message()),
              HasSubstr("expected namespace::name"));
  auto bad_type = ParseSchema("aten::f(Tensr self) -> Tensor");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_THAT(std::string(bad_type.status().message()),
              HasSubstr("unknown type 'Tensr'"));
  EXPECT_FALSE(ParseSchema("aten::f(Tensor self) Tensor").ok());
}

TEST(SchemaTest, EveryRegisteredOpRoundTrips) {
  auto ops = OpRegistry::Global().All();
  EXPECT_GT(ops.size(), 50u);
  for (const OpDef* op : ops) {
    auto again = ParseSchema(op->schema().ToString());
    ASSERT_TRUE(again.ok()) << op->name() << ": " << again.status();
    EXPECT_EQ(again->FullName(), op->name());
    EXPECT_EQ(again->ToString(), op->schema().ToString());
    EXPECT_TRUE(op->has_reference()) << op->name();
  }
  EXPECT_NE(OpRegistry::Global().Find("aten::add.Tensor"), nullptr);
  EXPECT_EQ(OpRegistry::Global().Find("aten::add"), nullptr);
  EXPECT_EQ(GetOp("aten::mm.default").category(), OpCategory::kMatmul);
  EXPECT_EQ(GetOp("aten::relu.default").category(), OpCategory::kPointwise);
  EXPECT_NE(GetOp("aten::relu.default").pointwise(), nullptr);
}

}  // namespace
}  // namespace kiln::ops
