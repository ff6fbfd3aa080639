// Helpers shared by the view, creation, data-movement and mutation op
// families (view_ops.cc, creation_ops.cc, data_movement_ops.cc,
// mutation_ops.cc):
//   * IntArgs reads integer arguments as expressions, symbolic at inference
//     and constant at run time, so that one geometry function serves both
//     (a view's reference implementation recomputes its layout from the
//     run-time input exactly as inference computed it from the IR type);
//   * ATen's memory-format rules: suggest_memory_format, empty_like's
//     "preserve" layout (also clone's and _to_copy's) and the strides of a
//     fresh tensor in a memory format;
//   * c10's checked Scalar conversion (Scalar::to<T>(), used by fill_ and
//     therefore full, full_like, scalar_tensor and constant_pad_nd).
// Pure functions and value types; thread-safe.
#ifndef KILN_COMPILER_OPS_LAYOUT_UTIL_H_
#define KILN_COMPILER_OPS_LAYOUT_UTIL_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/tensor.h"

namespace kiln::ops {

// Integer arguments by schema position, as expressions. At inference they
// are the graph's static or symbolic values; a Python-int graph input is
// not known then and gives UNIMPLEMENTED naming the argument. At run time
// they are the evaluated values, as constants.
class IntArgs {
 public:
  explicit IntArgs(const InferContext& ctx) : infer_(&ctx) {}
  explicit IntArgs(const KernelContext& kc) : kernel_(&kc) {}

  bool at_run_time() const { return kernel_ != nullptr; }
  bool is_none(int i) const;
  absl::StatusOr<ExprRef> Int(int i) const;
  // nullopt for None.
  absl::StatusOr<std::optional<ExprRef>> OptionalInt(int i) const;
  absl::StatusOr<std::vector<ExprRef>> IntList(int i) const;
  // A value that must be static (a dim, a split size): UNIMPLEMENTED when
  // symbolic at inference.
  absl::StatusOr<int64_t> StaticInt(int i) const;
  absl::StatusOr<std::vector<int64_t>> StaticIntList(int i) const;
  // The IR type of tensor argument i (at run time: the node's input type
  // as the graph declares it, e.g. to decide what inference decided).
  const ir::TensorType& ir_type(int i) const;
  // The schema argument's name (for messages).
  const std::string& name(int i) const;

 private:
  const ir::Arg& arg(int i) const;
  const InferContext* infer_ = nullptr;
  const KernelContext* kernel_ = nullptr;
};

// The type of a concrete tensor: constant sizes, strides and offset.
ir::TensorType ConstType(const rt::Tensor& t,
                         ir::Device device = ir::Device::Cpu());
// The constant values of expressions; INTERNAL when one is symbolic.
absl::StatusOr<std::vector<int64_t>> ConstValues(
    const std::vector<ExprRef>& exprs);
// A view of `base`'s storage with the (constant) layout of `type`.
absl::StatusOr<rt::Tensor> ViewAs(const rt::Tensor& base,
                                  const ir::TensorType& type);
// A fresh zero-filled tensor with the (constant) layout of `type`.
absl::StatusOr<rt::Tensor> AllocateLike(const ir::TensorType& type);

// Views as geometry functions: the output types of a view op from its
// input's type and its integer arguments. InferView runs the geometry on
// the IR type; RunView on the run-time input's constant type and returns
// views of the input's storage (one per output; a count that differs from
// the node's outputs is an error).
using ViewTypes = std::vector<ir::TensorType>;
using ViewGeometry = std::function<absl::StatusOr<ViewTypes>(
    const ir::TensorType& self, const IntArgs& args)>;
InferFn InferView(ViewGeometry geometry);
ReferenceFn RunView(ViewGeometry geometry);

// Tensor::narrow's type: `length` elements of `dim` from `start`.
ir::TensorType NarrowType(const ir::TensorType& self, int64_t dim,
                          const ExprRef& start, const ExprRef& length);

// Static non-negativity / negativity of an integer expression: constants,
// and symbols (sizes) combined by +, * (with non-negative constants),
// FloorDiv, Mod, Min and Max are known; anything else is not.
bool KnownNonNegative(const ExprRef& e);
bool KnownNegative(const ExprRef& e);

// ATen's is_contiguous(memory_format): nullopt when symbolic strides make
// it undecidable. kPreserve is not a format here.
std::optional<bool> IsContiguousIn(const ir::TensorType& t,
                                   ir::MemoryFormat format);
// ATen's Tensor::suggest_memory_format(): channels-last for a 4-d tensor
// whose strides look channels-last (is_channels_last_strides_2d), likewise
// 3d for 5-d, contiguous otherwise; nullopt when undecidable.
std::optional<ir::MemoryFormat> SuggestMemoryFormat(const ir::TensorType& t);
// Strides of a fresh tensor of `sizes` in `format` (contiguous,
// channels_last, channels_last_3d): INVALID_ARGUMENT "required rank 4
// tensor to use channels_last format" for a rank mismatch.
absl::StatusOr<std::vector<ExprRef>> FormatStrides(
    const std::vector<ExprRef>& sizes, ir::MemoryFormat format);
// The layout ATen gives `empty_like(self, memory_format)` (and clone,
// _to_copy, full_like, ...). `memory_format` is a MemoryFormat? argument
// (None means preserve): preserve keeps a non-overlapping-and-dense input's
// strides and otherwise orders the dims like the input's strides
// (infer_dense_strides, TensorIterator's rule); other formats give their
// strides. The offset is always 0. `exact` is false when undecidable.
absl::StatusOr<LayoutResult> LikeLayout(const ir::TensorType& self,
                                        const ir::Arg& memory_format);

// A constant int, float or bool argument as a Scalar; nullopt otherwise
// (a graph input).
std::optional<rt::Scalar> ConstantScalar(const ir::Arg& a);
// c10::checked_convert as Scalar::to<T>() applies it (ScalarOverflow in
// pointwise.h): INVALID_ARGUMENT "value 300 cannot be converted to u8
// without overflow" where ATen raises.
absl::Status CheckScalarConversion(const rt::Scalar& s, ir::DType dtype);
// Scalar::to<int64_t>() with the same check (floats truncate).
absl::StatusOr<int64_t> ScalarToInt64(const rt::Scalar& s);

// Fills every element of `t` with `s` converted to t's dtype (ATen's
// fill_, after CheckScalarConversion).
void FillTensor(const rt::Tensor& t, const rt::Scalar& s);

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_LAYOUT_UTIL_H_
