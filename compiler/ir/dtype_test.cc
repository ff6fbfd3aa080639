#include "compiler/ir/dtype.h"

#include "gtest/gtest.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::ir {
namespace {

constexpr DType kAll[] = {DType::kFloat16, DType::kBFloat16, DType::kFloat32,
                          DType::kFloat64, DType::kInt8,     DType::kInt16,
                          DType::kInt32,   DType::kInt64,    DType::kUInt8,
                          DType::kBool};

// torch.promote_types(a, b) for every pair, printed by PyTorch 1.13 in enum
// order (f16 bf16 f32 f64 i8 i16 i32 i64 u8 b8).
constexpr const char* kTorchPromoteTypes[kNumDTypes][kNumDTypes] = {
    {"f16", "f32", "f32", "f64", "f16", "f16", "f16", "f16", "f16", "f16"},
    {"f32", "bf16", "f32", "f64", "bf16", "bf16", "bf16", "bf16", "bf16",
     "bf16"},
    {"f32", "f32", "f32", "f64", "f32", "f32", "f32", "f32", "f32", "f32"},
    {"f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64"},
    {"f16", "bf16", "f32", "f64", "i8", "i16", "i32", "i64", "i16", "i8"},
    {"f16", "bf16", "f32", "f64", "i16", "i16", "i32", "i64", "i16", "i16"},
    {"f16", "bf16", "f32", "f64", "i32", "i32", "i32", "i64", "i32", "i32"},
    {"f16", "bf16", "f32", "f64", "i64", "i64", "i64", "i64", "i64", "i64"},
    {"f16", "bf16", "f32", "f64", "i16", "i16", "i32", "i64", "u8", "u8"},
    {"f16", "bf16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "b8"},
};

TEST(DTypeTest, PromoteTypesMatchesTorch) {
  for (int a = 0; a < kNumDTypes; ++a) {
    for (int b = 0; b < kNumDTypes; ++b) {
      EXPECT_EQ(ShortName(PromoteTypes(kAll[a], kAll[b])),
                kTorchPromoteTypes[a][b])
          << ShortName(kAll[a]) << " with " << ShortName(kAll[b]);
    }
  }
}

DType ResultType(
    std::initializer_list<std::pair<DType, PromotionCategory>> ops) {
  ResultTypeState s;
  for (const auto& [d, c] : ops) s.Update(d, c);
  return s.Result();
}

TEST(DTypeTest, ResultTypeCategoryRule) {
  using C = PromotionCategory;
  // Wrapped numbers do not promote within a category...
  EXPECT_EQ(ResultType({{DType::kInt32, C::kDimTensor},
                        {DType::kInt64, C::kWrappedNumber}}),
            DType::kInt32);
  EXPECT_EQ(ResultType({{DType::kFloat16, C::kDimTensor},
                        {DType::kFloat64, C::kWrappedNumber}}),
            DType::kFloat16);
  EXPECT_EQ(ResultType({{DType::kUInt8, C::kDimTensor},
                        {DType::kInt64, C::kWrappedNumber}}),
            DType::kUInt8);
  // ...but across categories, to the default dtype for floats.
  EXPECT_EQ(ResultType({{DType::kInt64, C::kDimTensor},
                        {DType::kFloat64, C::kWrappedNumber}}),
            DType::kFloat32);
  EXPECT_EQ(ResultType({{DType::kBool, C::kDimTensor},
                        {DType::kInt64, C::kWrappedNumber}}),
            DType::kInt64);
  EXPECT_EQ(ResultType({{DType::kBool, C::kDimTensor},
                        {DType::kBool, C::kWrappedNumber}}),
            DType::kBool);
  // Zero-dim tensors likewise (torch: i32[3] + f64[] is f64).
  EXPECT_EQ(ResultType({{DType::kInt32, C::kDimTensor},
                        {DType::kInt64, C::kZeroDimTensor}}),
            DType::kInt32);
  EXPECT_EQ(ResultType({{DType::kInt32, C::kDimTensor},
                        {DType::kFloat64, C::kZeroDimTensor}}),
            DType::kFloat64);
  EXPECT_EQ(ResultType({{DType::kFloat16, C::kDimTensor},
                        {DType::kFloat64, C::kZeroDimTensor}}),
            DType::kFloat16);
  // Zero-dim beats wrapped within a category.
  EXPECT_EQ(ResultType({{DType::kFloat64, C::kZeroDimTensor},
                        {DType::kFloat64, C::kWrappedNumber}}),
            DType::kFloat64);
  EXPECT_EQ(ResultType({{DType::kInt64, C::kWrappedNumber},
                        {DType::kFloat64, C::kWrappedNumber}}),
            DType::kFloat32);
  // Dim tensors promote normally.
  EXPECT_EQ(ResultType({{DType::kUInt8, C::kDimTensor},
                        {DType::kInt8, C::kDimTensor}}),
            DType::kInt16);
}

TEST(DTypeTest, NamesAndProtoMapping) {
  for (DType d : kAll) {
    EXPECT_EQ(DTypeFromShortName(ShortName(d)), d);
    EXPECT_EQ(DTypeFromTorchName(TorchName(d)), d);
    auto back = DTypeFromProto(DTypeToProto(d), "x");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(ElementSize(DType::kBFloat16), 2);
  EXPECT_EQ(ElementSize(DType::kBool), 1);
  EXPECT_EQ(OpMathType(DType::kBFloat16), DType::kFloat32);
  EXPECT_FALSE(DTypeFromProto(v1::DTYPE_UNSPECIFIED, "t.dtype").ok());
  auto unknown = DTypeFromProto(99, "t.dtype");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(std::string(unknown.status().message()),
            "t.dtype: unknown dtype 99");
}

}  // namespace
}  // namespace kiln::ir
