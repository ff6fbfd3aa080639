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

// The C++ expressions (in the compute type) of each input of a pointwise
// node: tensors through `tensor_expr` (an expression in the tensor's own
// dtype), constants as literals, symbolic constants and scalar inputs as
// kernel arguments.
absl::StatusOr<std::vector<std::string>> PointwiseOperands(
    KernelBuilder& b, const ir::Node& node, const ops::PointwiseLowering& low,
    const std::function<std::string(const ir::Value*)>& tensor_expr);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CODEGEN_POINTWISE_H_
