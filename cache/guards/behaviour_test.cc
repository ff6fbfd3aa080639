// One test per row of the "Expected behaviour" table of spec/guards.md: the
// first call's GuardContext as Dynamo would produce it, and the second call's
// CallSignature. "Recompile" means the stored guard set does not hold.
#include "cache/guards/expect.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::Add;
using testing::C;
using testing::Ctx;
using testing::D;
using testing::Hits;
using testing::Misses;
using testing::MustCreate;
using testing::S;
using testing::Sig;
using testing::T;
namespace M = testing::M;
using F = v1::GuardFailure;

std::vector<v1::DynamicDimHint> Hints(const GuardSet& g,
                                      const v1::CallSignature& call) {
  return g.WobbledDims(call);
}

// | plain tensor, dynamic off | [3,4] → [3,4] | no |
TEST(ExpectedBehaviour, PlainStaticSameShapeHits) {
  auto g = MustCreate(Ctx().In(T().Sizes({3, 4})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({3, 4})).Build()));
}

// | plain tensor, dynamic off | [3,4] → [4,5] | yes, then dims 0 and 1
// dynamic |
TEST(ExpectedBehaviour, PlainStaticNewShapeRecompilesThenDynamic) {
  auto g = MustCreate(Ctx().In(T().Sizes({3, 4})).Build());
  v1::CallSignature second = Sig().In(T().Sizes({4, 5})).Build();
  EXPECT_TRUE(Misses(*g, second, F::SIZE, "inputs[0].size(0)"));
  std::vector<v1::DynamicDimHint> hints = Hints(*g, second);
  ASSERT_EQ(hints.size(), 1u);
  EXPECT_EQ(hints[0].input_index(), 0);
  EXPECT_EQ(hints[0].path(), "inputs[0]");
  EXPECT_EQ(std::vector<int>(hints[0].dims().begin(), hints[0].dims().end()),
            (std::vector<int>{0, 1}));
  // The recompiled entry (automatic dynamic) serves both calls and more.
  auto dynamic = MustCreate(Ctx().In(T().Sizes({"s0", "s1"})).Build());
  EXPECT_TRUE(Hits(*dynamic, second));
  EXPECT_TRUE(Hits(*dynamic, Sig().In(T().Sizes({3, 4})).Build()));
  EXPECT_TRUE(Hits(*dynamic, Sig().In(T().Sizes({9, 17})).Build()));
  EXPECT_TRUE(Hints(*dynamic, second).empty());
}

// | plain tensor, marked dynamic on dim 0 | [3,4] → [7,4] | no |
TEST(ExpectedBehaviour, MarkedDynamicDimHits) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0", 4})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(T().Sizes({7, 4})).Build()));
  // Dim 1 stays static.
  EXPECT_TRUE(Misses(*g, Sig().In(T().Sizes({7, 5})).Build(), F::SIZE,
                     "inputs[0].size(1)"));
}

// | plain tensor | grad mode on → off | yes |
TEST(ExpectedBehaviour, GradModeChangeRecompiles) {
  auto g = MustCreate(Ctx().In(T().Sizes({3, 4})).Build());
  Sig off;
  off.In(T().Sizes({3, 4})).global().set_grad_mode(false);
  EXPECT_TRUE(Misses(*g, off.Build(), F::GLOBAL_STATE, "global.grad_mode"));
  EXPECT_TRUE(Hints(*g, off.Build()).empty());
}

// | plain tensor | under DisableTorchFunctionSubclass → outside it | yes |
TEST(ExpectedBehaviour, TorchFunctionStateChangeRecompiles) {
  Ctx ctx;
  ctx.In(T("test.LocalSubclass").Sizes({2, 2}))
      .global()
      .set_torch_function(v1::GlobalState::SUBCLASS_DISABLED);
  auto g = MustCreate(ctx.Build());
  Sig inside;
  inside.In(T("test.LocalSubclass").Sizes({2, 2}))
      .global()
      .set_torch_function(v1::GlobalState::SUBCLASS_DISABLED);
  EXPECT_TRUE(Hits(*g, inside.Build()));
  EXPECT_TRUE(Misses(*g,
                     Sig().In(T("test.LocalSubclass").Sizes({2, 2})).Build(),
                     F::GLOBAL_STATE, "global.torch_function"));
}

T CtxSubclass(int64_t constant, std::vector<D> sizes = {3, 4}) {
  return T("test.CtxSubclassTensor")
      .Sizes(sizes)
      .Inner("a", T().Sizes(sizes))
      .Metadata(M::Tuple({M::Int(constant)}));
}

// | CtxSubclassTensor (metadata = constant) | constant 3 → 3 | no |
TEST(ExpectedBehaviour, CtxSubclassSameConstantHits) {
  auto g = MustCreate(Ctx().In(CtxSubclass(3)).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(CtxSubclass(3)).Build()));
}

// | CtxSubclassTensor | constant 3 → 4 | yes |
TEST(ExpectedBehaviour, CtxSubclassNewConstantRecompiles) {
  auto g = MustCreate(Ctx().In(T().Sizes({3, 4})).In(CtxSubclass(3)).Build());
  v1::CallSignature call =
      Sig().In(T().Sizes({3, 4})).In(CtxSubclass(4)).Build();
  EXPECT_TRUE(Misses(*g, call, F::SUBCLASS_METADATA,
                     "inputs[1].subclass(CtxSubclassTensor).metadata"));
  EXPECT_EQ(testing::Why(*g, call),
            "inputs[1].subclass(CtxSubclassTensor).metadata: expected (3,), "
            "got (4,)");
  // Also under dynamic shapes: the constant is not a SymInt.
  auto dynamic = MustCreate(Ctx().In(CtxSubclass(3, {"s0", "s1"})).Build());
  EXPECT_TRUE(Hits(*dynamic, Sig().In(CtxSubclass(3, {5, 6})).Build()));
  EXPECT_FALSE(dynamic->Check(Sig().In(CtxSubclass(4, {5, 6})).Build()));
}

T TwoTensor(std::vector<D> sizes) {
  return T("torch.testing._internal.two_tensor.TwoTensor")
      .Sizes(sizes)
      .Inner("a", T().Sizes(sizes))
      .Inner("b", T().Sizes(sizes));
}

// | TwoTensor | new values, same shapes | no |
TEST(ExpectedBehaviour, TwoTensorNewValuesHit) {
  auto g = MustCreate(Ctx().In(TwoTensor({3, 4})).Build());
  // Values never enter a signature: the same metadata is a hit.
  EXPECT_TRUE(Hits(*g, Sig().In(TwoTensor({3, 4})).Build()));
}

// | TwoTensor → plain tensor | | yes |
TEST(ExpectedBehaviour, TwoTensorToPlainRecompiles) {
  auto g = MustCreate(Ctx().In(TwoTensor({3, 4})).Build());
  v1::CallSignature plain = Sig().In(T().Sizes({3, 4})).Build();
  EXPECT_TRUE(Misses(*g, plain, F::TYPE, "inputs[0].type"));
  EXPECT_TRUE(Hints(*g, plain).empty());
}

T Scaled(std::vector<D> data, std::vector<D> scale) {
  return T("test.ScaledTensor")
      .Sizes(data)
      .Inner("_data", T().Sizes(data))
      .Inner("_scale", T().Sizes(scale))
      .Metadata(M::Dict({{M::Str("_constant"), M::Int(0)}}));
}

// | ScaledTensor, dynamic=True | data (2,4)→(3,5), scale 6→7 | no |
TEST(ExpectedBehaviour, ScaledTensorDynamicHits) {
  // Outer and _data share s0, s1 (duck sizing); _scale has its own s2.
  auto g = MustCreate(Ctx().In(Scaled({"s0", "s1"}, {"s2"})).Build());
  EXPECT_TRUE(Hits(*g, Sig().In(Scaled({2, 4}, {6})).Build()));
  EXPECT_TRUE(Hits(*g, Sig().In(Scaled({3, 5}, {7})).Build()));
  // The outer tensor and its data still agree.
  T mismatched("test.ScaledTensor");
  mismatched.Sizes({3, 5})
      .Inner("_data", T().Sizes({3, 6}))
      .Inner("_scale", T().Sizes({7}))
      .Metadata(M::Dict({{M::Str("_constant"), M::Int(0)}}));
  EXPECT_TRUE(Misses(*g, Sig().In(mismatched).Build(), F::SIZE,
                     "inputs[0].subclass(ScaledTensor).inner(_data).size(1)"));
}

// | ScaledTensor, dynamic=False | data size changes | yes |
TEST(ExpectedBehaviour, ScaledTensorStaticRecompiles) {
  auto g = MustCreate(Ctx().In(Scaled({2, 4}, {6})).Build());
  v1::CallSignature call = Sig().In(Scaled({3, 4}, {6})).Build();
  EXPECT_TRUE(Misses(*g, call, F::SIZE, "inputs[0].size(0)"));
  std::vector<v1::DynamicDimHint> hints = Hints(*g, call);
  ASSERT_EQ(hints.size(), 2u);
  EXPECT_EQ(hints[0].path(), "inputs[0]");
  EXPECT_EQ(hints[1].path(), "inputs[0].subclass(ScaledTensor).inner(_data)");
  EXPECT_EQ(hints[1].dims_size(), 1);
  EXPECT_EQ(hints[1].dims(0), 0);
}

// A nested jagged tensor (torch.nested, layout=jagged): outer (B, j0, D),
// _values (sum of lengths, D), _offsets (B + 1); the ragged dim j0 and the
// cached max/min sequence lengths are symbolic in the metadata.
T Jagged(D batch, D ragged, D total, D width, D offsets,
         const v1::MetadataValue& max_seqlen) {
  return T("torch.nested._internal.nested_tensor.NestedTensor")
      .Sizes({batch, ragged, width})
      .Strides({testing::Mul(S("s1"), S("s2")), S("s2"), 1})
      .Inner("_values", T().Sizes({total, width}))
      .Inner("_offsets", T().Sizes({offsets}).DType(v1::INT64))
      .Metadata(M::Dict({{M::Str("max_seqlen"), max_seqlen},
                         {M::Str("ragged_idx"), M::Int(1)}}));
}

// | nested jagged tensor, dynamic | batch, ragged lengths and width all
// change | no |
TEST(ExpectedBehaviour, NestedJaggedDynamicHits) {
  // Symbols: s0 = B, s1 = j0, s2 = D, s3 = total; offsets have B + 1.
  auto g = MustCreate(
      Ctx()
          .In(Jagged("s0", "s1", "s3", "s2", Add(S("s0"), C(1)), M::SymInt()))
          .Build());
  auto call = [](int64_t b, int64_t j, int64_t total, int64_t d,
                 int64_t max_seqlen) {
    T t = Jagged(b, j, total, d, b + 1, M::Int(max_seqlen));
    t.Strides({j * d, d, 1});
    return Sig().In(t).Build();
  };
  // Lengths (2, 3, 4), width 3; then (5, 1, 2, 6), width 8.
  EXPECT_TRUE(Hits(*g, call(3, 4, 9, 3, 4)));
  EXPECT_TRUE(Hits(*g, call(4, 6, 14, 8, 6)));
  // Offsets that do not fit the batch: a miss on the derived size.
  T bad = Jagged(4, 6, 14, 8, 6, M::Int(6));
  bad.Strides({48, 8, 1});
  EXPECT_TRUE(
      Misses(*g, Sig().In(bad).Build(), F::SIZE,
             "inputs[0].subclass(NestedTensor).inner(_offsets).size(0)"));
}

}  // namespace
}  // namespace kiln::cache
