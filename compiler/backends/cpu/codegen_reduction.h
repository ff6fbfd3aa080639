// Reductions as code: what a reduction op accumulates (ReducerSpec) and the
// Reducer struct kernel_runtime.h's RunReduce calls. Shared by per-node
// reduction kernels and fused reduction kernels. Internal to the CPU
// backend's code generator.
#ifndef KILN_COMPILER_BACKENDS_CPU_CODEGEN_REDUCTION_H_
#define KILN_COMPILER_BACKENDS_CPU_CODEGEN_REDUCTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"

namespace kiln::cpu {

// What a reduction computes, as C++ snippets. Step sees `acc`, `x` (the
// element in the storage type of the op's input) and `idx`; Merge sees `a`
// and `b`; each store (one per op output) sees `acc` and `n` (the number
// of reduced elements) and gives a value of that output's storage type.
struct ReducerSpec {
  std::string acc_type;
  std::string prelude;  // extra definitions
  bool ordered = false;
  bool needs_elements = false;
  std::string identity;
  std::string step;
  std::string merge;
  std::vector<std::string> stores;
};

// The reducer of a reduction node (sum, mean, prod, amax/amin, max/min,
// argmax/argmin, any/all, var/std); UNIMPLEMENTED for others.
absl::StatusOr<ReducerSpec> ReducerFor(const ir::Node& node);

// Which dims of the node's input (argument 0) it reduces.
absl::StatusOr<std::vector<bool>> ReducedDimsOf(const ir::Node& node);

// The Reducer struct `name`: Step runs `step_prelude` (binding `x` from
// p/s/i) then the spec's step; StepUnit runs `step_unit_prelude` (unit
// strides); Store runs `store_body` (with `o`, `acc`, `n`).
std::string ReducerStruct(const std::string& name, const ReducerSpec& spec,
                          const std::string& step_prelude,
                          const std::string& step_unit_prelude,
                          const std::string& store_body);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CODEGEN_REDUCTION_H_
