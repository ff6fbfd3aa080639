// Helpers shared by the op families that are not pointwise (reductions,
// normalization, matrix products, losses): static argument values, the dims
// a reduction's `dim` argument names, reduced shapes, and moving a
// reference kernel's values in and out of tensors in row-major order.
//
// Reference kernels built on these read their inputs as row-major vectors of
// double (every float16/bfloat16/float32/float64 value is exact in double)
// or int64 (exact for every integer dtype and bool), compute in double or
// wrapping int64, and round once into the output's dtype. Pure functions;
// thread-safe.
#ifndef KILN_COMPILER_OPS_OP_UTIL_H_
#define KILN_COMPILER_OPS_OP_UTIL_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "compiler/runtime/tensor.h"

namespace kiln::ops {

// The value of a bool / int argument that decides shapes or dtypes and so
// must be a constant (not a graph input): INVALID_ARGUMENT naming `name`
// otherwise.
absl::StatusOr<bool> StaticBool(const ir::Arg& a, std::string_view name);
absl::StatusOr<int64_t> StaticInt(const ir::Arg& a, std::string_view name);

// Which dims of a rank-`rank` tensor a reduction's `dim` argument reduces,
// with ATen's rules (negative dims wrap; a 0-d tensor accepts 0 and -1; a
// dim named twice is an error). `dim` is an int (`int dim`), an int list
// (`int[1]? dim`, `int[] dim`) or None. None reduces every dim; an empty
// list reduces every dim too unless `empty_list_reduces_nothing` (the
// `any.dims` / `all.dims` rule).
absl::StatusOr<std::vector<bool>> ReducedDims(
    const ir::Arg& dim, int rank, bool empty_list_reduces_nothing = false);

// The sizes after reducing `reduced` dims: dropped, or 1 with `keepdim`.
std::vector<ir::ExprRef> ReducedSizes(const std::vector<ir::ExprRef>& sizes,
                                      const std::vector<bool>& reduced,
                                      bool keepdim);

// INVALID_ARGUMENT when a reduced dim is statically 0 ("<op>(): Expected
// reduction dim 1 to have non-zero size."), for reductions without an
// identity (max, argmax, ...). Run-time sizes are checked by
// CheckNonEmptyReduction.
absl::Status CheckReducedDimsNonEmpty(std::string_view op,
                                      const std::vector<ir::ExprRef>& sizes,
                                      const std::vector<bool>& reduced);
absl::Status CheckNonEmptyReduction(std::string_view op,
                                    const std::vector<int64_t>& sizes,
                                    const std::vector<bool>& reduced);

// Calls fn(out, pos) for every element of a tensor of `sizes`, in row-major
// order: `out` is the row-major index of the element's output (over the
// kept dims) and `pos` its row-major position among the reduced dims. For
// one output, positions arrive in increasing order. The i-th call is the
// i-th element of the row-major flattening (as ToDoubles returns it).
template <class Fn>
void ForEachReduced(const std::vector<int64_t>& sizes,
                    const std::vector<bool>& reduced, Fn fn) {
  const int rank = static_cast<int>(sizes.size());
  rt::ForEachIndex(sizes, [&](const int64_t* idx) {
    int64_t out = 0, pos = 0;
    for (int d = 0; d < rank; ++d) {
      if (reduced[d]) {
        pos = pos * sizes[d] + idx[d];
      } else {
        out = out * sizes[d] + idx[d];
      }
    }
    fn(out, pos);
  });
}

// Product of the sizes of the reduced (or, with `kept`, the other) dims.
int64_t CountElements(const std::vector<int64_t>& sizes,
                      const std::vector<bool>& reduced, bool kept = false);

// Allocates output `i` (its declared dtype and layout), fills it from
// row-major `values` (converted with ATen's semantics, rounding once) and
// sets it.
absl::Status SetOutputDoubles(KernelContext& kc, int i,
                              const std::vector<double>& values);
absl::Status SetOutputInts(KernelContext& kc, int i,
                           const std::vector<int64_t>& values);

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_OP_UTIL_H_
