// One test per rule of spec/guards.md ("What a guard set holds" and "Reuse
// and recompilation"), each a compile-time GuardContext and later calls.
#include "cache/guards/expect.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::C;
using testing::CBool;
using testing::CFloat;
using testing::CInt;
using testing::CNone;
using testing::CStr;
using testing::Ctx;
using testing::Eq;
using testing::Ge;
using testing::Hits;
using testing::Lt;
using testing::Misses;
using testing::Mul;
using testing::MustCreate;
using testing::S;
using testing::Sig;
using testing::T;
namespace M = testing::M;
using F = v1::GuardFailure;

// --- Plain tensor (TENSOR_MATCH) ------------------------------------------

TEST(PlainTensorRule, ExactTypeMustMatch) {
  auto g = MustCreate(Ctx().In(T("torch.Tensor").Sizes({3})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T("torch.Tensor").Sizes({3})).Build()));
  EXPECT_TRUE(
      Misses(*g, Sig().In(T("torch.nn.parameter.Parameter").Sizes({3})).Build(),
             F::TYPE, "inputs[0].type"));
  // A subclass that only overrides __torch_function__ is guarded by name.
  EXPECT_TRUE(Misses(*g, Sig().In(T("test.MockSubclass").Sizes({3})).Build(),
                     F::TYPE, "inputs[0].type"));
}

TEST(PlainTensorRule, DTypeMustMatch) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).Build());
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3}).DType(v1::FLOAT16)).Build(),
                     F::DTYPE, "inputs[0].dtype"));
}

TEST(PlainTensorRule, DeviceTypeAndIndexMustMatch) {
  auto g = MustCreate(Ctx().In(T().Sizes({3}).Cuda(0)).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3}).Cuda(0)).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3}).Cuda(1)).Build(), F::DEVICE,
                     "inputs[0].device"));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3})).Build(), F::DEVICE,
                     "inputs[0].device"));
}

TEST(PlainTensorRule, RequiresGradMustMatch) {
  auto g = MustCreate(Ctx().In(T().Sizes({3}).Grad()).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3}).Grad()).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3})).Build(), F::REQUIRES_GRAD,
                     "inputs[0].requires_grad"));
}

TEST(PlainTensorRule, NumberOfDimsMustMatch) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0", 4})).Build());
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3, 4, 1})).Build(), F::RANK,
                     "inputs[0].dim()"));
  EXPECT_TRUE(
      Misses(*g, Sig().In(T().Sizes({})).Build(), F::RANK, "inputs[0].dim()"));
}

TEST(PlainTensorRule, StaticSizesMustBeEqual) {
  auto g = MustCreate(Ctx().In(T().Sizes({3, 4})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3, 4})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3, 5})).Build(), F::SIZE,
                     "inputs[0].size(1)"));
}

TEST(PlainTensorRule, SymbolicSizesTakeAnyValueAllowed) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0", "s1"})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3, 4})).Build()));
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({100, 2})).Build()));
}

TEST(PlainTensorRule, StridesAreGuardedAsValuesOrExpressions) {
  // Contiguous [s0, s1, 4]: strides [4*s1, 4, 1].
  auto g = MustCreate(Ctx().In(T().Sizes({"s0", "s1", 4})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({2, 5, 4})).Build()));
  // The same sizes, transposed (strides of a permuted tensor).
  EXPECT_TRUE(Misses(*g,
                     Sig().In(T().Sizes({2, 5, 4}).Strides({20, 1, 5})).Build(),
                     F::STRIDE, "inputs[0].stride(1)"));
  // A static stride.
  auto t = MustCreate(Ctx().In(T().Sizes({3, 4}).Strides({1, 3})).Build());
  EXPECT_TRUE(Hits(*t, Sig().In(T().Sizes({3, 4}).Strides({1, 3})).Build()));
  EXPECT_TRUE(Misses(*t, Sig().In(T().Sizes({3, 4})).Build(), F::STRIDE,
                     "inputs[0].stride(0)"));
}

TEST(PlainTensorRule, StorageOffsetGuardedWhereNotZero) {
  auto zero = MustCreate(Ctx().In(T().Sizes({3})).Build());
  EXPECT_TRUE(Hits(*zero, Sig().In(T().Sizes({3}).Offset(0)).Build()));
  EXPECT_TRUE(Misses(*zero, Sig().In(T().Sizes({3}).Offset(2)).Build(),
                     F::STORAGE_OFFSET, "inputs[0].storage_offset()"));
  auto two = MustCreate(Ctx().In(T().Sizes({3}).Offset(2)).Build());
  EXPECT_TRUE(Hits(*two, Sig().In(T().Sizes({3}).Offset(2)).Build()));
  EXPECT_TRUE(Misses(*two, Sig().In(T().Sizes({3})).Build(), F::STORAGE_OFFSET,
                     "inputs[0].storage_offset()"));
  // A symbolic offset binds like a size (no 0/1 rule).
  auto sym = MustCreate(
      Ctx().In(T().Sizes({3}).Offset("s0")).Sym("s0", 4, std::nullopt).Build());
  EXPECT_TRUE(Hits(*sym, Sig().In(T().Sizes({3}).Offset(1)).Build()));
}

TEST(PlainTensorRule, InputsThatAliasedMustAliasAgain) {
  // f(x, x): both inputs share storage at trace time.
  auto g = MustCreate(
      Ctx().In(T().Sizes({3}).Alias(7)).In(T().Sizes({3}).Alias(7)).Build());
  EXPECT_TRUE(Hits(
      *g,
      Sig().In(T().Sizes({3}).Alias(0)).In(T().Sizes({3}).Alias(0)).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3})).In(T().Sizes({3})).Build(),
                     F::ALIASING, "inputs[1].alias_group"));
}

TEST(PlainTensorRule, InputsThatDidNotAliasMustNotAlias) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).In(T().Sizes({3})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3})).In(T().Sizes({3})).Build()));
  // Labels on separate storages (singleton groups) mean no aliasing.
  EXPECT_TRUE(Hits(
      *g,
      Sig().In(T().Sizes({3}).Alias(0)).In(T().Sizes({3}).Alias(1)).Build()));
  EXPECT_TRUE(Misses(
      *g, Sig().In(T().Sizes({3}).Alias(4)).In(T().Sizes({3}).Alias(4)).Build(),
      F::ALIASING, "inputs[1].alias_group"));
}

TEST(PlainTensorRule, AliasGroupsMustPartitionTheSameWay) {
  // Groups {0, 2} and {1, 3}.
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({3}).Alias(1))
                          .In(T().Sizes({3}).Alias(2))
                          .In(T().Sizes({3}).Alias(1))
                          .In(T().Sizes({3}).Alias(2))
                          .Build());
  auto call = [](int a, int b, int c, int d) {
    return Sig()
        .In(T().Sizes({3}).Alias(a))
        .In(T().Sizes({3}).Alias(b))
        .In(T().Sizes({3}).Alias(c))
        .In(T().Sizes({3}).Alias(d))
        .Build();
  };
  EXPECT_TRUE(Hits(*g, call(5, 9, 5, 9)));
  EXPECT_TRUE(
      Misses(*g, call(5, 5, 5, 5), F::ALIASING, "inputs[1].alias_group"));
  EXPECT_TRUE(
      Misses(*g, call(5, 9, 9, 5), F::ALIASING, "inputs[2].alias_group"));
  EXPECT_TRUE(
      Misses(*g, call(5, 9, 5, 8), F::ALIASING, "inputs[3].alias_group"));
}

// --- Traceable wrapper subclasses -----------------------------------------

T TwoTensor(std::vector<testing::D> sizes) {
  return T("torch.testing._internal.two_tensor.TwoTensor")
      .Sizes(sizes)
      .Inner("a", T().Sizes(sizes))
      .Inner("b", T().Sizes(sizes));
}

TEST(SubclassRule, TypeNameMustMatch) {
  auto g = MustCreate(Ctx().In(TwoTensor({3})).Build());
  T other("my.pkg.OtherTwoTensor");
  other.Sizes({3}).Inner("a", T().Sizes({3})).Inner("b", T().Sizes({3}));
  EXPECT_TRUE(Misses(*g, Sig().In(other).Build(), F::TYPE, "inputs[0].type"));
}

TEST(SubclassRule, InnerNamesMustMatchInOrder) {
  auto scaled = [](bool with_scale) {
    T t("test.OptionalScaledTensor");
    t.Sizes({4}).Inner("_data", T().Sizes({4}));
    if (with_scale) t.Inner("_scale", T().Sizes({4}));
    return t.Metadata(M::Dict({{M::Str("_constant"), M::Int(0)}}));
  };
  auto g = MustCreate(Ctx().In(scaled(true)).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(scaled(true)).Build()));
  // The optional inner tensor absent later: a miss.
  EXPECT_TRUE(Misses(*g, Sig().In(scaled(false)).Build(),
                     F::SUBCLASS_INNER_NAMES,
                     "inputs[0].subclass(OptionalScaledTensor).inner_names"));
  // Same names, other order.
  T swapped("test.OptionalScaledTensor");
  swapped.Sizes({4})
      .Inner("_scale", T().Sizes({4}))
      .Inner("_data", T().Sizes({4}))
      .Metadata(M::Dict({{M::Str("_constant"), M::Int(0)}}));
  EXPECT_TRUE(Misses(*g, Sig().In(swapped).Build(), F::SUBCLASS_INNER_NAMES,
                     "inputs[0].subclass(OptionalScaledTensor).inner_names"));
}

T Ctx3(const v1::MetadataValue& constant) {
  return T("test.CtxSubclassTensor")
      .Sizes({3})
      .Inner("a", T().Sizes({3}))
      .Metadata(M::Tuple({constant}));
}

TEST(SubclassRule, MetadataMustBeEqual) {
  auto g = MustCreate(Ctx().In(Ctx3(M::Int(3))).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(Ctx3(M::Int(3))).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(Ctx3(M::Int(4))).Build(),
                     F::SUBCLASS_METADATA,
                     "inputs[0].subclass(CtxSubclassTensor).metadata"));
  // Byte equality: 3 and 3.0 and True differ.
  EXPECT_FALSE(g->Check(Sig().In(Ctx3(M::Float(3.0))).Build()));
  EXPECT_FALSE(g->Check(Sig().In(Ctx3(M::Bool(true))).Build()));
  // Unset metadata and None are the same value.
  T none("test.NoneCtx");
  none.Sizes({3}).Inner("a", T().Sizes({3}));
  auto n = MustCreate(Ctx().In(none).Build());
  T explicit_none = none;
  explicit_none.Metadata(M::None());
  EXPECT_TRUE(Hits(*n, Sig().In(explicit_none).Build()));
}

TEST(SubclassRule, SymbolicIntsInMetadataMatchAnyInt) {
  auto meta = [](const v1::MetadataValue& v) {
    return T("torch.nested._internal.nested_tensor.NestedTensor")
        .Sizes({3})
        .Inner("_values", T().Sizes({3}))
        .Metadata(M::Dict(
            {{M::Str("max_seqlen"), v}, {M::Str("ragged_idx"), M::Int(1)}}));
  };
  auto g = MustCreate(Ctx().In(meta(M::SymInt())).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(meta(M::Int(5))).Build()));
  EXPECT_TRUE(Hits(*g, Sig().In(meta(M::Int(-100))).Build()));
  // Only ints.
  EXPECT_TRUE(Misses(*g, Sig().In(meta(M::Str("5"))).Build(),
                     F::SUBCLASS_METADATA,
                     "inputs[0].subclass(NestedTensor).metadata"));
}

TEST(SubclassRule, MetadataGuardIsDecidedByTheClient) {
  auto t = [](int constant, bool custom) {
    return T("test.LenientTensor")
        .Sizes({3})
        .Inner("a", T().Sizes({3}))
        .Metadata(M::Tuple({M::Int(constant)}))
        .MetadataGuard(custom);
  };
  auto g = MustCreate(Ctx().In(t(3, true)).Build());
  EXPECT_TRUE(g->has_custom_metadata_guard());
  // The server skips the comparison when asked to (Lookup's candidates)...
  EvalOptions skip;
  skip.skip_custom_metadata = true;
  EXPECT_TRUE(Hits(*g, Sig().In(t(4, true)).Build(), skip));
  // ...and otherwise compares for equality.
  EXPECT_TRUE(Hits(*g, Sig().In(t(3, true)).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(t(4, true)).Build(), F::SUBCLASS_METADATA,
                     "inputs[0].subclass(LenientTensor).metadata"));
  // A class that gained or lost __metadata_guard__ misses either way.
  EXPECT_TRUE(Misses(*g, Sig().In(t(3, false)).Build(), F::SUBCLASS_METADATA,
                     "inputs[0].subclass(LenientTensor).metadata", skip));
  // The stored metadata goes to the client.
  std::vector<v1::StoredMetadata> stored = g->CustomMetadata();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].path(), "inputs[0]");
  EXPECT_EQ(stored[0].type_name(), "test.LenientTensor");
  EXPECT_EQ(FormatMetadata(&stored[0].metadata()), "(3,)");
  auto plain = MustCreate(Ctx().In(t(3, false)).Build());
  EXPECT_FALSE(plain->has_custom_metadata_guard());
  EXPECT_TRUE(plain->CustomMetadata().empty());
  EXPECT_FALSE(plain->Check(Sig().In(t(4, false)).Build(), skip));
}

TEST(SubclassRule, OuterTensorIsGuardedAsAPlainTensor) {
  auto g = MustCreate(Ctx().In(TwoTensor({3, 4})).Build());
  T outer_grad = TwoTensor({3, 4});
  outer_grad.Grad();
  EXPECT_TRUE(Misses(*g, Sig().In(outer_grad).Build(), F::REQUIRES_GRAD,
                     "inputs[0].requires_grad"));
  T outer_strides = TwoTensor({3, 4});
  outer_strides.Strides({1, 3});
  EXPECT_TRUE(Misses(*g, Sig().In(outer_strides).Build(), F::STRIDE,
                     "inputs[0].stride(0)"));
}

TEST(SubclassRule, InnerTensorsAreGuardedAsInputs) {
  auto g = MustCreate(Ctx().In(TwoTensor({3, 4})).Build());
  T t("torch.testing._internal.two_tensor.TwoTensor");
  t.Sizes({3, 4})
      .Inner("a", T().Sizes({3, 4}))
      .Inner("b", T().Sizes({3, 4}).DType(v1::FLOAT64));
  EXPECT_TRUE(Misses(*g, Sig().In(t).Build(), F::DTYPE,
                     "inputs[0].subclass(TwoTensor).inner(b).dtype"));
}

TEST(SubclassRule, NestedSubclassesAreGuardedAllTheWayDown) {
  auto nested = [](int64_t size) {
    return T("test.Outer")
        .Sizes({4})
        .Inner("x", T("torch.testing._internal.two_tensor.TwoTensor")
                        .Sizes({4})
                        .Inner("a", T().Sizes({4}))
                        .Inner("b", T().Sizes({size})))
        .Metadata(M::Str("outer"));
  };
  auto g = MustCreate(Ctx().In(nested(4)).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(nested(4)).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(nested(5)).Build(), F::SIZE,
                     "inputs[0].subclass(Outer).inner(x).subclass(TwoTensor)"
                     ".inner(b).size(0)"));
  EXPECT_EQ(g->placeholder_count(), 2);
}

TEST(SubclassRule, InnerAliasingCountsAcrossTheTree) {
  // A TwoTensor whose a and b are the same tensor, and a plain input.
  T shared("torch.testing._internal.two_tensor.TwoTensor");
  shared.Sizes({3})
      .Inner("a", T().Sizes({3}).Alias(0))
      .Inner("b", T().Sizes({3}).Alias(0));
  auto g = MustCreate(Ctx().In(shared).In(T().Sizes({3})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(shared).In(T().Sizes({3})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(TwoTensor({3})).In(T().Sizes({3})).Build(),
                     F::ALIASING,
                     "inputs[0].subclass(TwoTensor).inner(b).alias_group"));
  EXPECT_TRUE(Misses(*g, Sig().In(shared).In(T().Sizes({3}).Alias(0)).Build(),
                     F::ALIASING, "inputs[1].alias_group"));
}

// --- SymInt and constant inputs --------------------------------------------

TEST(SymIntRule, BoundToItsSymbolAndSatisfiesShapeGuards) {
  // f(x, n) with x: [s0], n: s1, guard s1 < s0.
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({"s0"}))
                          .SymInt(S("s1"))
                          .Sym("s1", 3, std::nullopt)
                          .Guard(Lt(S("s1"), S("s0")))
                          .Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({8})).SymInt(5).Build()));
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({8})).SymInt(0).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({8})).SymInt(8).Build(),
                     F::SHAPE_GUARD, "shape_guards[0]"));
}

TEST(SymIntRule, SharesItsSymbolWithSizes) {
  // n == x.size(0) at trace time: one symbol.
  auto g = MustCreate(Ctx().In(T().Sizes({"s0"})).SymInt(S("s0")).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({6})).SymInt(6).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({6})).SymInt(7).Build(),
                     F::SYMINT_VALUE, "inputs[1].value"));
}

TEST(SymIntRule, ExpressionMustEvaluateToTheValue) {
  auto g = MustCreate(
      Ctx().In(T().Sizes({"s0"})).SymInt(Mul(C(2), S("s0"))).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({6})).SymInt(12).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({6})).SymInt(13).Build(),
                     F::SYMINT_VALUE, "inputs[1].value"));
}

TEST(ConstantRule, MustBeEqual) {
  auto g = MustCreate(Ctx()
                          .Constant(CInt(3))
                          .Constant(CFloat(0.5))
                          .Constant(CBool(true))
                          .Constant(CNone())
                          .Constant(CStr("mean"))
                          .Build());
  auto call = [](v1::ConstantGuard a, v1::ConstantGuard b, v1::ConstantGuard c,
                 v1::ConstantGuard d, v1::ConstantGuard e) {
    return Sig()
        .Constant(a)
        .Constant(b)
        .Constant(c)
        .Constant(d)
        .Constant(e)
        .Build();
  };
  EXPECT_TRUE(
      Hits(*g, call(CInt(3), CFloat(0.5), CBool(true), CNone(), CStr("mean"))));
  EXPECT_TRUE(
      Misses(*g, call(CInt(4), CFloat(0.5), CBool(true), CNone(), CStr("mean")),
             F::CONSTANT_VALUE, "inputs[0].value"));
  EXPECT_TRUE(Misses(
      *g, call(CInt(3), CFloat(0.25), CBool(true), CNone(), CStr("mean")),
      F::CONSTANT_VALUE, "inputs[1].value"));
  EXPECT_TRUE(Misses(
      *g, call(CInt(3), CFloat(0.5), CBool(false), CNone(), CStr("mean")),
      F::CONSTANT_VALUE, "inputs[2].value"));
  EXPECT_TRUE(
      Misses(*g, call(CInt(3), CFloat(0.5), CBool(true), CInt(0), CStr("mean")),
             F::CONSTANT_VALUE, "inputs[3].value"));
  EXPECT_TRUE(
      Misses(*g, call(CInt(3), CFloat(0.5), CBool(true), CNone(), CStr("sum")),
             F::CONSTANT_VALUE, "inputs[4].value"));
}

TEST(ConstantRule, IntNeverMatchesFloatOrBool) {
  auto one = MustCreate(Ctx().Constant(CInt(1)).Build());
  EXPECT_FALSE(one->Check(Sig().Constant(CFloat(1.0)).Build()));
  EXPECT_FALSE(one->Check(Sig().Constant(CBool(true)).Build()));
}

TEST(ConstantRule, FloatsComparedWithPythonEquality) {
  auto zero = MustCreate(Ctx().Constant(CFloat(0.0)).Build());
  EXPECT_TRUE(Hits(*zero, Sig().Constant(CFloat(-0.0)).Build()));
  auto nan = MustCreate(Ctx().Constant(CFloat(std::nan(""))).Build());
  EXPECT_FALSE(nan->Check(Sig().Constant(CFloat(std::nan(""))).Build()));
}

// --- Shape guards, duck sizing, 0/1 specialization, ranges ------------------

TEST(ShapeGuardRule, AllMustHold) {
  // x: [s0], y: [s1] with Eq(2*s1, s0) and s0 >= 4.
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({"s0"}))
                          .In(T().Sizes({"s1"}))
                          .Guard(Eq(Mul(C(2), S("s1")), S("s0")))
                          .Guard(Ge(S("s0"), C(4)))
                          .Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({8})).In(T().Sizes({4})).Build()));
  // Canonical order sorts the guards: find which index each has.
  EXPECT_FALSE(g->Check(Sig().In(T().Sizes({8})).In(T().Sizes({5})).Build()));
  auto why = g->Explain(Sig().In(T().Sizes({8})).In(T().Sizes({5})).Build());
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->kind(), F::SHAPE_GUARD);
  EXPECT_EQ(why->expected(), "Eq(2*s1, s0)");
  EXPECT_EQ(why->actual(), "false (s0 = 8, s1 = 5)");
  auto small = g->Explain(Sig().In(T().Sizes({2})).In(T().Sizes({1})).Build());
  // s1 = 1 fails 0/1 specialization before any shape guard is evaluated.
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->path(), "inputs[1].size(0)");
  EXPECT_FALSE(g->Check(Sig().In(T().Sizes({2})).In(T().Sizes({2})).Build()));
}

TEST(ShapeGuardRule, DuckSizingOneSymbolOneValue) {
  // Two inputs whose sizes were equal at trace time share s0.
  auto g =
      MustCreate(Ctx().In(T().Sizes({"s0", 3})).In(T().Sizes({"s0"})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({5, 3})).In(T().Sizes({5})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({5, 3})).In(T().Sizes({6})).Build(),
                     F::SIZE, "inputs[1].size(0)"));
  // Distinct symbols take distinct values freely.
  auto h =
      MustCreate(Ctx().In(T().Sizes({"s0", 3})).In(T().Sizes({"s1"})).Build());
  EXPECT_TRUE(Hits(*h, Sig().In(T().Sizes({5, 3})).In(T().Sizes({6})).Build()));
}

TEST(ShapeGuardRule, DerivedSizesAreEvaluatedOnceBound) {
  // y's size is derived from a symbol bound later in the walk (x is second).
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({testing::Add(S("s0"), C(1))}))
                          .In(T().Sizes({"s0"}))
                          .Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({6})).In(T().Sizes({5})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({5})).In(T().Sizes({5})).Build(),
                     F::SIZE, "inputs[0].size(0)"));
}

TEST(ReuseRule, SizesZeroAndOneAreAlwaysSpecialized) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0"})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({2})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({1})).Build(), F::SIZE,
                     "inputs[0].size(0)"));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({0})).Build(), F::SIZE,
                     "inputs[0].size(0)"));
  // Even when the declaration has no lower bound.
  auto unbounded = MustCreate(
      Ctx().In(T().Sizes({"s0"})).Sym("s0", 4, std::nullopt).Build());
  EXPECT_FALSE(unbounded->Check(Sig().In(T().Sizes({1})).Build()));
}

TEST(ReuseRule, DeclaredSymbolRangesAreChecked) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0"})).Sym("s0", 8, 2, 64).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({64})).Build()));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({65})).Build(), F::SYMBOL_RANGE,
                     "symbols[s0]"));
}

TEST(ShapeGuardRule, ExpressionsThatCannotBeEvaluatedMiss) {
  // A derived stride that overflows int64 for s0 >= 2: never a hit.
  const int64_t big = int64_t{1} << 62;
  auto g = MustCreate(
      Ctx().In(T().Sizes({"s0"}).Strides({Mul(C(big), S("s0"))})).Build());
  v1::CallSignature call = Sig().In(T().Sizes({4}).Strides({0})).Build();
  EXPECT_TRUE(Misses(*g, call, F::STRIDE, "inputs[0].stride(0)"));
  EXPECT_EQ(testing::Why(*g, call),
            "inputs[0].stride(0): expected 4611686018427387904*s0 (cannot be "
            "evaluated: s0 = 4), got 0");
  // A shape guard dividing by zero.
  auto div = MustCreate(
      Ctx()
          .In(T().Sizes({"s0"}))
          .In(T().Sizes({"s1"}))
          .Guard(Eq(testing::Mod(S("s0"), testing::Sub(S("s1"), C(2))), C(0)))
          .Build());
  EXPECT_TRUE(Hits(*div, Sig().In(T().Sizes({6})).In(T().Sizes({5})).Build()));
  EXPECT_TRUE(Misses(*div, Sig().In(T().Sizes({6})).In(T().Sizes({2})).Build(),
                     F::SHAPE_GUARD, "shape_guards[0]"));
}

TEST(ReuseRule, WobbledDimsOnlyWhenOnlySizesDiffer) {
  // x: [3, 4] static, y: [s0] dynamic, a TwoTensor [2, 2].
  auto two = [](int64_t a0) {
    return T("torch.testing._internal.two_tensor.TwoTensor")
        .Sizes({2, 2})
        .Inner("a", T().Sizes({a0, 2}))
        .Inner("b", T().Sizes({2, 2}));
  };
  auto g = MustCreate(
      Ctx().In(T().Sizes({3, 4})).In(T().Sizes({"s0"})).In(two(2)).Build());
  auto dims = [](const v1::DynamicDimHint& h) {
    return std::vector<int>(h.dims().begin(), h.dims().end());
  };
  // Sizes of x and of the inner tensor a changed (x's strides with them).
  auto hints = g->WobbledDims(
      Sig().In(T().Sizes({5, 4})).In(T().Sizes({9})).In(two(7)).Build());
  ASSERT_EQ(hints.size(), 2u);
  EXPECT_EQ(hints[0].path(), "inputs[0]");
  EXPECT_EQ(dims(hints[0]), std::vector<int>{0});
  EXPECT_EQ(hints[1].input_index(), 2);
  EXPECT_EQ(hints[1].path(), "inputs[2].subclass(TwoTensor).inner(a)");
  EXPECT_EQ(dims(hints[1]), std::vector<int>{0});
  // A hit has nothing to hint.
  EXPECT_TRUE(
      g->WobbledDims(
           Sig().In(T().Sizes({3, 4})).In(T().Sizes({9})).In(two(2)).Build())
          .empty());
  // A dynamic dim failing its own guard (0/1) is not a wobble.
  EXPECT_TRUE(
      g->WobbledDims(
           Sig().In(T().Sizes({3, 4})).In(T().Sizes({1})).In(two(2)).Build())
          .empty());
  // Sizes changed, but so did a dtype, a rank, a type or the global state.
  EXPECT_TRUE(g->WobbledDims(Sig()
                                 .In(T().Sizes({5, 4}).DType(v1::FLOAT16))
                                 .In(T().Sizes({9}))
                                 .In(two(2))
                                 .Build())
                  .empty());
  EXPECT_TRUE(
      g->WobbledDims(
           Sig().In(T().Sizes({5, 4, 1})).In(T().Sizes({9})).In(two(2)).Build())
          .empty());
  EXPECT_TRUE(g->WobbledDims(Sig()
                                 .In(T().Sizes({5, 4}))
                                 .In(T().Sizes({9}))
                                 .In(T().Sizes({2, 2}))
                                 .Build())
                  .empty());
  Sig no_grad;
  no_grad.In(T().Sizes({5, 4})).In(T().Sizes({9})).In(two(2));
  no_grad.global().set_grad_mode(false);
  EXPECT_TRUE(g->WobbledDims(no_grad.Build()).empty());
}

// --- Global state ------------------------------------------------------------

TEST(GlobalStateRule, AnyDifferenceIsAMiss) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).Build());
  auto with = [](auto mutate) {
    Sig s;
    s.In(T().Sizes({3}));
    mutate(s.global());
    return s.Build();
  };
  EXPECT_TRUE(Misses(*g,
                     with([](v1::GlobalState& s) { s.set_grad_mode(false); }),
                     F::GLOBAL_STATE, "global.grad_mode"));
  EXPECT_TRUE(Misses(*g, with([](v1::GlobalState& s) {
    s.set_torch_function(v1::GlobalState::ALL_DISABLED);
  }),
                     F::GLOBAL_STATE, "global.torch_function"));
  EXPECT_TRUE(Misses(*g, with([](v1::GlobalState& s) {
    s.mutable_autocast(1)->set_enabled(true);
  }),
                     F::GLOBAL_STATE, "global.autocast(cuda).enabled"));
  EXPECT_TRUE(Misses(*g, with([](v1::GlobalState& s) {
    s.mutable_autocast(0)->set_dtype(v1::FLOAT16);
  }),
                     F::GLOBAL_STATE, "global.autocast(cpu).dtype"));
  EXPECT_TRUE(Misses(
      *g, with([](v1::GlobalState& s) { s.mutable_autocast()->RemoveLast(); }),
      F::GLOBAL_STATE, "global.autocast(cuda)"));
  EXPECT_TRUE(Misses(
      *g, with([](v1::GlobalState& s) { s.set_default_dtype(v1::FLOAT64); }),
      F::GLOBAL_STATE, "global.default_dtype"));
  EXPECT_TRUE(Misses(*g, with([](v1::GlobalState& s) {
    s.set_deterministic_algorithms(true);
  }),
                     F::GLOBAL_STATE, "global.deterministic_algorithms"));
  EXPECT_TRUE(Misses(*g, with([](v1::GlobalState& s) {
    s.set_fp32_matmul_precision(v1::GlobalState::HIGH);
  }),
                     F::GLOBAL_STATE, "global.fp32_matmul_precision"));
}

// --- Inputs
// --------------------------------------------------------------------

TEST(InputsRule, CountAndKindMustMatch) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).SymInt(S("s0")).Build());
  EXPECT_TRUE(
      Misses(*g, Sig().In(T().Sizes({3})).Build(), F::INPUT_COUNT, "inputs"));
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({3})).Constant(CInt(4)).Build(),
                     F::INPUT_KIND, "inputs[1]"));
}

TEST(EvaluationOrder, GlobalStateFirstThenInputsInOrder) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).In(T().Sizes({3})).Build());
  Sig s;
  s.In(T().Sizes({3}).DType(v1::FLOAT16)).In(T().Sizes({4}));
  s.global().set_grad_mode(false);
  EXPECT_TRUE(Misses(*g, s.Build(), F::GLOBAL_STATE, "global.grad_mode"));
  EXPECT_TRUE(Misses(
      *g,
      Sig().In(T().Sizes({3}).DType(v1::FLOAT16)).In(T().Sizes({4})).Build(),
      F::DTYPE, "inputs[0].dtype"));
  // Within a tensor: type, dtype, device, requires_grad, rank, sizes,
  // strides, storage offset.
  EXPECT_TRUE(Misses(
      *g, Sig().In(T().Sizes({4}).Grad().Cuda(0)).In(T().Sizes({3})).Build(),
      F::DEVICE, "inputs[0].device"));
  EXPECT_TRUE(Misses(*g,
                     Sig()
                         .In(T().Sizes({4}).Strides({2}).Offset(1))
                         .In(T().Sizes({3}))
                         .Build(),
                     F::SIZE, "inputs[0].size(0)"));
}

}  // namespace
}  // namespace kiln::cache
