// Symbolic tensor types: dtype, device, sizes, strides and storage offset.
//
// Every size, stride and offset is a sym::ExprRef (a constant for static
// dims), so one type describes a tensor for every value of the graph's
// symbols. Value types; thread-safe to share once built.
#ifndef KILN_COMPILER_IR_TENSOR_TYPE_H_
#define KILN_COMPILER_IR_TENSOR_TYPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/dtype.h"
#include "compiler/symbolic/expr.h"

namespace kiln::ir {

using sym::ExprRef;

// torch.device: "cpu" or "cuda:N".
struct Device {
  enum class Type : uint8_t { kCpu, kCuda };
  Type type = Type::kCpu;
  int index = 0;

  static Device Cpu() { return Device{}; }
  static Device Cuda(int index) { return Device{Type::kCuda, index}; }
  std::string ToString() const;
  // Parses "cpu" or "cuda:N".
  static std::optional<Device> Parse(std::string_view text);
  bool operator==(const Device& o) const {
    return type == o.type && index == o.index;
  }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// The type of a tensor value.
struct TensorType {
  DType dtype = DType::kFloat32;
  Device device;
  std::vector<ExprRef> sizes;
  std::vector<ExprRef> strides;  // same length as sizes, in elements
  ExprRef storage_offset;        // never null once built by a factory
  bool requires_grad = false;

  // A contiguous (row-major) tensor of these sizes.
  static TensorType Contiguous(DType dtype, std::vector<ExprRef> sizes,
                               Device device = Device());
  static TensorType Strided(DType dtype, std::vector<ExprRef> sizes,
                            std::vector<ExprRef> strides,
                            ExprRef storage_offset = nullptr,
                            Device device = Device());

  int rank() const { return static_cast<int>(sizes.size()); }
  // Product of the sizes.
  ExprRef Numel() const;
  // True when the strides are statically known to be the row-major ones
  // (ATen's is_contiguous: dims of size 1 are ignored).
  bool IsContiguous() const;
  // Same dtype, device, requires_grad and structurally equal expressions.
  bool operator==(const TensorType& o) const;
  bool operator!=(const TensorType& o) const { return !(*this == o); }

  // The IR text form: `f32[s0, 4]`, with `{strides}` when not contiguous,
  // ` offset(E)` when the offset is not 0, ` cuda:0` off the CPU and
  // ` requires_grad`. Example: `f16[4, 3]{1, 4} offset(2) cuda:0`.
  std::string ToString() const;
};

// Row-major strides for `sizes` as ATen computes them: a static size 0 or 1
// counts as 1 (torch.empty((2, 0, 3)).stride() == (3, 3, 1)).
std::vector<ExprRef> ContiguousStrides(const std::vector<ExprRef>& sizes);

// Helpers to build constant expressions.
ExprRef Const(int64_t v);
std::vector<ExprRef> Consts(const std::vector<int64_t>& values);
// "[2, s0]"-style rendering of a list of expressions.
std::string ExprListToString(const std::vector<ExprRef>& list);
bool SameExprList(const std::vector<ExprRef>& a, const std::vector<ExprRef>& b);

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_TENSOR_TYPE_H_
