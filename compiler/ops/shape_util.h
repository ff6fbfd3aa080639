// Shape helpers shared by op inference: broadcasting with symbolic sizes,
// TensorIterator's output layout, dim wrapping and scalar dtypes.
// Pure functions; thread-safe.
#ifndef KILN_COMPILER_OPS_SHAPE_UTIL_H_
#define KILN_COMPILER_OPS_SHAPE_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ir/tensor_type.h"

namespace kiln::ops {

using ir::DType;
using ir::ExprRef;

// Broadcasts shapes right-aligned as torch.broadcast_shapes does. Two sizes
// agree when they are the same expression or one is the constant 1; a
// symbolic size is never assumed to be 1. INVALID_ARGUMENT otherwise:
// "shapes [2, 3] and [4] do not broadcast: 3 vs 4 at dimension 1".
absl::StatusOr<std::vector<ExprRef>> BroadcastShapes(
    const std::vector<std::vector<ExprRef>>& shapes);

// The layout ATen's TensorIterator gives a freshly allocated output of
// `out_sizes` computed from `inputs` (in TensorIterator operand order; 0-d
// entries stand for wrapped scalars): the inputs' common memory format when
// they all share one (contiguous, channels-last, or identical dense
// strides), otherwise the dimension order that sorts the inputs' strides.
// `exact` is false when a symbolic comparison could not be decided; the
// strides are then contiguous.
struct LayoutResult {
  std::vector<ExprRef> strides;
  bool exact = true;
};
LayoutResult TensorIteratorLayout(
    const std::vector<ExprRef>& out_sizes,
    const std::vector<const ir::TensorType*>& inputs);

// Strides of `sizes` in channels-last (4-d) or channels-last-3d (5-d) order.
std::vector<ExprRef> ChannelsLastStrides(const std::vector<ExprRef>& sizes);

// Static non-overlapping-and-dense check (ATen's); nullopt when symbolic.
std::optional<bool> IsNonOverlappingAndDense(const ir::TensorType& t);

// at::maybe_wrap_dim: dim in [-rank, rank) (a 0-d tensor accepts -1 and 0).
absl::StatusOr<int64_t> WrapDim(int64_t dim, int64_t rank);

// The dtype a scalar argument has when ATen wraps it into a tensor: i64 for
// ints and SymInts, f64 for floats, b8 for bools; nullopt for non-scalars.
std::optional<DType> ScalarArgDType(const ir::Arg& a);

// "[2, s0]".
std::string ShapeString(const std::vector<ExprRef>& sizes);

// Equality of two integer expressions when decidable: true / false, or
// nullopt when the expressions differ by a non-constant.
std::optional<bool> ProvablyEqual(const ExprRef& a, const ExprRef& b);
// a < b when decidable, assuming every symbol is at least 2 (PyTorch
// specializes sizes 0 and 1, so symbolic sizes are >= 2; strides built
// from them are sums and products with non-negative coefficients). Used for
// layout decisions, never for shape equality.
std::optional<bool> ProvablyLess(const ExprRef& a, const ExprRef& b);

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_SHAPE_UTIL_H_
