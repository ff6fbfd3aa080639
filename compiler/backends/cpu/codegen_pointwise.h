// Building blocks of pointwise kernels, shared by per-node and fused
// kernels. Internal to the CPU backend's code generator.
#ifndef KILN_COMPILER_BACKENDS_CPU_CODEGEN_POINTWISE_H_
#define KILN_COMPILER_BACKENDS_CPU_CODEGEN_POINTWISE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {

// The RunPointwise call with its row lambda. `body` is the per-element
// code: x<k> is operand k's typed pointer, `$i<k>$` its element index
// (replaced by `i` in the all-unit-stride loop and `i * s<k>` in the
// general one); it may set `err` when `may_fail`.
// Output pointers are __restrict (kernels never write where they read)
// unless the kernel writes in place.
std::string PointwiseLoop(const KernelBuilder& b, int num_tensors,
                          const std::string& body, bool may_fail);

// The RunRows call over the kernel's tensors (operand order `ops`, default
// 0..n-1) with a row lambda: `row_body` uses x<k> (typed pointers to the
// row of operand k), n (row length) and `$j<k>$` for element j's index in
// operand k (`j` in the unit-stride copy of the body, `j * r<k>` in the
// general one). The unit copy runs when every operand in `unit_ops`
// (default: all) has row stride 1.
std::string RowLoop(const KernelBuilder& b, int row_begin, int row_count,
                    const std::string& row_body,
                    const std::vector<int>& ops = {},
                    const std::vector<int>& unit_ops = {});

// The C++ expressions (in the compute type) of each input of a pointwise
// node: tensors through `tensor_expr` (an expression in the tensor's own
// dtype), constants as literals, symbolic constants and scalar inputs as
// kernel arguments.
absl::StatusOr<std::vector<std::string>> PointwiseOperands(
    KernelBuilder& b, const ir::Node& node, const ops::PointwiseLowering& low,
    const std::function<std::string(const ir::Value*)>& tensor_expr);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CODEGEN_POINTWISE_H_
