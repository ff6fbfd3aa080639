// Dtype dispatch for reference kernels: maps an ir::DType to its C++
// element type (pw::Half and pw::BFloat16 for the 16-bit floats) and calls
// a generic lambda with a tag of that type:
//
//   DispatchDType(t.dtype(), [&](auto tag) {
//     using T = typename decltype(tag)::type;
//     ...
//   });
//
// This is dtype dispatch inside one kernel, not op dispatch (ops are found
// through the registry).
#ifndef KILN_COMPILER_RUNTIME_DISPATCH_H_
#define KILN_COMPILER_RUNTIME_DISPATCH_H_

#include <cstdint>

#include "compiler/ir/dtype.h"
#include "compiler/runtime/scalar_math.h"

namespace kiln::rt {

template <class T>
struct TypeTag {
  using type = T;
};

template <class Fn>
decltype(auto) DispatchDType(ir::DType dtype, Fn&& fn) {
  switch (dtype) {
    case ir::DType::kFloat16:
      return fn(TypeTag<pw::Half>{});
    case ir::DType::kBFloat16:
      return fn(TypeTag<pw::BFloat16>{});
    case ir::DType::kFloat32:
      return fn(TypeTag<float>{});
    case ir::DType::kFloat64:
      return fn(TypeTag<double>{});
    case ir::DType::kInt8:
      return fn(TypeTag<int8_t>{});
    case ir::DType::kInt16:
      return fn(TypeTag<int16_t>{});
    case ir::DType::kInt32:
      return fn(TypeTag<int32_t>{});
    case ir::DType::kInt64:
      return fn(TypeTag<int64_t>{});
    case ir::DType::kUInt8:
      return fn(TypeTag<uint8_t>{});
    case ir::DType::kBool:
      break;
  }
  return fn(TypeTag<bool>{});
}

// The compute ("opmath") C++ type class of a dtype: float for f16/bf16/f32,
// double for f64, int64_t for integers, bool for bool.
template <class Fn>
decltype(auto) DispatchComputeType(ir::DType dtype, Fn&& fn) {
  switch (dtype) {
    case ir::DType::kFloat16:
    case ir::DType::kBFloat16:
    case ir::DType::kFloat32:
      return fn(TypeTag<float>{});
    case ir::DType::kFloat64:
      return fn(TypeTag<double>{});
    case ir::DType::kBool:
      return fn(TypeTag<bool>{});
    default:
      break;
  }
  return fn(TypeTag<int64_t>{});
}

// Loads the element at `p` (of C++ type S) converted to T.
template <class T, class S>
inline T LoadElement(const uint8_t* p) {
  S s;
  __builtin_memcpy(&s, p, sizeof(S));
  return pw::Convert<T>(s);
}
template <class T, class D>
inline void StoreElement(uint8_t* p, T value) {
  D d = pw::Convert<D>(value);
  __builtin_memcpy(p, &d, sizeof(D));
}

}  // namespace kiln::rt

#endif  // KILN_COMPILER_RUNTIME_DISPATCH_H_
