// Precompiled runtime functions the CPU backend's plans call instead of
// generated code (plan.proto's LIBRARY_CALL steps): matrix products through
// OpenBLAS (CBLAS has no float16/bfloat16: those convert to float32,
// multiply, and round once).
//
// Thread-safe: functions keep no state; OpenBLAS's thread count is set
// once per process (SetLibraryThreads).
#ifndef KILN_COMPILER_BACKENDS_CPU_LIBRARY_H_
#define KILN_COMPILER_BACKENDS_CPU_LIBRARY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "compiler/ops/op_def.h"
#include "compiler/runtime/tensor.h"

namespace kiln::cpu {

// What a library function sees: the node's arguments through `kc` (inputs,
// scalars), and its outputs, already allocated with their declared layout.
struct LibraryCall {
  ops::KernelContext& kc;
  std::vector<rt::Tensor>& outputs;
  int num_threads = 1;
};

using LibraryFn = absl::Status (*)(LibraryCall& call);

// The library function that computes `op`, or an empty string.
std::string LibraryFunctionFor(const ops::OpDef& op);
// nullptr for an unknown name.
LibraryFn FindLibraryFunction(const std::string& name);

// OpenBLAS's thread count (process-wide).
void SetLibraryThreads(int n);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_LIBRARY_H_
