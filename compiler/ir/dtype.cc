#include "compiler/ir/dtype.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::ir {
namespace {

struct DTypeInfo {
  DType dtype;
  int64_t size;
  std::string_view short_name;
  std::string_view torch_name;
  v1::DType proto;
};

constexpr DTypeInfo kInfo[kNumDTypes] = {
    {DType::kFloat16, 2, "f16", "torch.float16", v1::FLOAT16},
    {DType::kBFloat16, 2, "bf16", "torch.bfloat16", v1::BFLOAT16},
    {DType::kFloat32, 4, "f32", "torch.float32", v1::FLOAT32},
    {DType::kFloat64, 8, "f64", "torch.float64", v1::FLOAT64},
    {DType::kInt8, 1, "i8", "torch.int8", v1::INT8},
    {DType::kInt16, 2, "i16", "torch.int16", v1::INT16},
    {DType::kInt32, 4, "i32", "torch.int32", v1::INT32},
    {DType::kInt64, 8, "i64", "torch.int64", v1::INT64},
    {DType::kUInt8, 1, "u8", "torch.uint8", v1::UINT8},
    {DType::kBool, 1, "b8", "torch.bool", v1::BOOL},
};

const DTypeInfo& Info(DType d) { return kInfo[static_cast<int>(d)]; }

}  // namespace

int64_t ElementSize(DType dtype) { return Info(dtype).size; }

bool IsFloating(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat32 || dtype == DType::kFloat64;
}

bool IsIntegral(DType dtype, bool include_bool) {
  if (dtype == DType::kBool) return include_bool;
  return !IsFloating(dtype);
}

bool IsReducedFloat(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16;
}

DType OpMathType(DType dtype) {
  return IsReducedFloat(dtype) ? DType::kFloat32 : dtype;
}

std::string ShortName(DType dtype) {
  return std::string(Info(dtype).short_name);
}

std::optional<DType> DTypeFromShortName(std::string_view name) {
  for (const DTypeInfo& i : kInfo) {
    if (i.short_name == name) return i.dtype;
  }
  return std::nullopt;
}

std::string TorchName(DType dtype) {
  return std::string(Info(dtype).torch_name);
}

std::optional<DType> DTypeFromTorchName(std::string_view name) {
  for (const DTypeInfo& i : kInfo) {
    if (i.torch_name == name) return i.dtype;
  }
  return std::nullopt;
}

absl::StatusOr<DType> DTypeFromProto(int proto_value, std::string_view path) {
  for (const DTypeInfo& i : kInfo) {
    if (i.proto == proto_value) return i.dtype;
  }
  if (proto_value == v1::DTYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: dtype is not set", path));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: unknown dtype %d", path, proto_value));
}

int DTypeToProto(DType dtype) { return Info(dtype).proto; }

DType PromoteTypes(DType a, DType b) {
  // c10::promoteTypes restricted to Kiln's dtypes, indexed in enum order:
  // f16 bf16 f32 f64 i8 i16 i32 i64 u8 b8.
  constexpr DType f2 = DType::kFloat16, bf = DType::kBFloat16,
                  f4 = DType::kFloat32, f8 = DType::kFloat64, i1 = DType::kInt8,
                  i2 = DType::kInt16, i4 = DType::kInt32, i8 = DType::kInt64,
                  u1 = DType::kUInt8, b1 = DType::kBool;
  static constexpr DType kTable[kNumDTypes][kNumDTypes] = {
      /* f16  */ {f2, f4, f4, f8, f2, f2, f2, f2, f2, f2},
      /* bf16 */ {f4, bf, f4, f8, bf, bf, bf, bf, bf, bf},
      /* f32  */ {f4, f4, f4, f8, f4, f4, f4, f4, f4, f4},
      /* f64  */ {f8, f8, f8, f8, f8, f8, f8, f8, f8, f8},
      /* i8   */ {f2, bf, f4, f8, i1, i2, i4, i8, i2, i1},
      /* i16  */ {f2, bf, f4, f8, i2, i2, i4, i8, i2, i2},
      /* i32  */ {f2, bf, f4, f8, i4, i4, i4, i8, i4, i4},
      /* i64  */ {f2, bf, f4, f8, i8, i8, i8, i8, i8, i8},
      /* u8   */ {f2, bf, f4, f8, i2, i2, i4, i8, u1, u1},
      /* b8   */ {f2, bf, f4, f8, i1, i2, i4, i8, u1, b1},
  };
  return kTable[static_cast<int>(a)][static_cast<int>(b)];
}

DTypeSet DTypeSet::All() {
  DTypeSet s;
  for (const DTypeInfo& i : kInfo) s = s | Of({i.dtype});
  return s;
}

DTypeSet DTypeSet::Floating() {
  return Of(
      {DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64});
}

DTypeSet DTypeSet::Integral(bool include_bool) {
  DTypeSet s = Of({DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64,
                   DType::kUInt8});
  return include_bool ? s | Of({DType::kBool}) : s;
}

std::string DTypeSet::ToString() const {
  std::vector<std::string> names;
  for (const DTypeInfo& i : kInfo) {
    if (Contains(i.dtype)) names.emplace_back(i.short_name);
  }
  return absl::StrJoin(names, ", ");
}

void ResultTypeState::Update(DType dtype, PromotionCategory category) {
  auto promote = [](std::optional<DType>& slot, DType d) {
    slot = slot ? PromoteTypes(*slot, d) : d;
  };
  switch (category) {
    case PromotionCategory::kDimTensor:
      promote(dim_, dtype);
      break;
    case PromotionCategory::kZeroDimTensor:
      promote(zero_, dtype);
      break;
    case PromotionCategory::kWrappedNumber:
      promote(wrapped_, IsFloating(dtype) ? kDefaultFloat : dtype);
      break;
  }
}

namespace {

// at::native::combine_categories (complex types left out).
std::optional<DType> CombineCategories(std::optional<DType> higher,
                                       std::optional<DType> lower) {
  if (higher && IsFloating(*higher)) return higher;
  if (!higher) return lower;
  if (*higher == DType::kBool || (lower && IsFloating(*lower))) {
    return lower ? PromoteTypes(*higher, *lower) : *higher;
  }
  return higher;
}

}  // namespace

DType ResultTypeState::Result() const {
  std::optional<DType> r =
      CombineCategories(dim_, CombineCategories(zero_, wrapped_));
  return r.value_or(kDefaultFloat);
}

}  // namespace kiln::ir
