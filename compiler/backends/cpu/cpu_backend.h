// The CPU backend ("cpu" in the backend registry): generated C++ built by
// the host compiler into one shared object per graph. See docs/compiler.md
// ("The CPU backend").
//
// Most callers go through backends::CreateBackend("cpu"); the functions
// here expose the stages for tests and tools. Thread-safe.
#ifndef KILN_COMPILER_BACKENDS_CPU_CPU_BACKEND_H_
#define KILN_COMPILER_BACKENDS_CPU_CPU_BACKEND_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ir/graph.h"

namespace kiln::cpu {

// A graph's plan and the C++ source of its kernels.
struct PlannedGraph {
  plan::Plan plan;
  // The whole generated source: preamble + kernels.
  std::string source;
  std::string preamble;
  std::vector<std::string> kernel_sources;  // one per plan kernel
  int num_library_calls = 0;
  // Ops run by their reference implementation (no generated code), in
  // node order with repeats.
  std::vector<std::string> reference_ops;
};

// Plans a (verified, already optimized) graph: one step per node.
// `vector_math`: see CompileOptions.
absl::StatusOr<PlannedGraph> PlanGraph(const ir::Graph& graph,
                                       bool vector_math = true);

absl::StatusOr<std::unique_ptr<backends::Executable>> CompileCpu(
    const ir::Graph& graph, const backends::CompileOptions& options);
absl::StatusOr<std::unique_ptr<backends::Executable>> LoadCpu(
    std::string_view artifact, const backends::LoadOptions& options);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CPU_BACKEND_H_
