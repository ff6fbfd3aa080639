// Element types of tensors and ATen's type promotion.
//
// DType mirrors kiln.v1.DType (and torch.dtype) for the types Kiln compiles.
// Type promotion follows ATen exactly: PromoteTypes is c10::promoteTypes and
// ResultTypeState is at::native::ResultTypeState (result_type with the
// category rule: zero-dim tensors and wrapped Python numbers only promote
// across categories, never within one).
//
// Everything here is a pure function or a value type; thread-safe.
#ifndef KILN_COMPILER_IR_DTYPE_H_
#define KILN_COMPILER_IR_DTYPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::ir {

enum class DType : uint8_t {
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kBool,
};
inline constexpr int kNumDTypes = 10;

// torch.get_default_dtype(): what Python floats and int->float promotion give.
inline constexpr DType kDefaultFloat = DType::kFloat32;

// Bytes per element.
int64_t ElementSize(DType dtype);
// float16, bfloat16, float32, float64.
bool IsFloating(DType dtype);
// int8 .. uint8, and bool when `include_bool`.
bool IsIntegral(DType dtype, bool include_bool);
// float16 and bfloat16: computed in float32 (ATen's opmath type).
bool IsReducedFloat(DType dtype);
// ATen's opmath type: float32 for float16/bfloat16, the type itself otherwise.
DType OpMathType(DType dtype);

// Short names used by the IR text format: f16 bf16 f32 f64 i8 i16 i32 i64 u8
// b8.
std::string ShortName(DType dtype);
std::optional<DType> DTypeFromShortName(std::string_view name);
// torch names: "torch.float32", ... (also used by the text format for dtype
// arguments).
std::string TorchName(DType dtype);
std::optional<DType> DTypeFromTorchName(std::string_view name);

// kiln.v1.DType <-> DType. `path` names the field in the error
// (INVALID_ARGUMENT for DTYPE_UNSPECIFIED or an unknown value).
absl::StatusOr<DType> DTypeFromProto(int proto_value, std::string_view path);
int DTypeToProto(DType dtype);

// c10::promoteTypes: the smallest type both convert to without losing the
// category (bool < integral < floating). f16 with bf16 gives f32; u8 with i8
// gives i16.
DType PromoteTypes(DType a, DType b);

// A small set of dtypes (which dtypes an op accepts).
class DTypeSet {
 public:
  constexpr DTypeSet() = default;
  static constexpr DTypeSet Of(std::initializer_list<DType> dtypes) {
    DTypeSet s;
    for (DType d : dtypes) s.bits_ |= Bit(d);
    return s;
  }
  static DTypeSet All();
  static DTypeSet Floating();
  static DTypeSet Integral(bool include_bool);
  constexpr bool Contains(DType d) const { return (bits_ & Bit(d)) != 0; }
  constexpr DTypeSet operator|(DTypeSet o) const {
    DTypeSet s;
    s.bits_ = bits_ | o.bits_;
    return s;
  }
  constexpr DTypeSet Without(DType d) const {
    DTypeSet s;
    s.bits_ = bits_ & ~Bit(d);
    return s;
  }
  // "f32, f64, ..." for error messages.
  std::string ToString() const;

 private:
  static constexpr uint32_t Bit(DType d) {
    return 1u << static_cast<uint32_t>(d);
  }
  uint32_t bits_ = 0;
};

// How an operand takes part in ATen's result_type.
enum class PromotionCategory {
  kDimTensor,      // a tensor with at least one dimension
  kZeroDimTensor,  // a 0-d tensor (not a wrapped number)
  kWrappedNumber,  // a Python scalar (int -> i64, float -> f64, bool -> b8)
};

// at::native::ResultTypeState: feed every operand with Update(), then ask
// Result(). A wrapped floating number counts as the default dtype (float32),
// so `int_tensor + 2.5` is float32 and `f16_tensor + 2.5` stays float16.
class ResultTypeState {
 public:
  void Update(DType dtype, PromotionCategory category);
  // INVALID_ARGUMENT-free: with no operand at all, returns kDefaultFloat.
  DType Result() const;
  bool empty() const { return !dim_ && !zero_ && !wrapped_; }

 private:
  std::optional<DType> dim_, zero_, wrapped_;
};

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_DTYPE_H_
