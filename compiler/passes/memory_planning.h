// Memory planning: gives every intermediate buffer a slot of one arena,
// reusing a slot once the buffer that held it is dead, and records the plan
// (ir::MemoryPlan, Value::buffer_slot()) with the arena's peak size.
//
// Buffers are the storages nodes allocate: outputs of nodes that are not
// views (a view shares its input's storage; copy_ writes into its input's).
// A buffer lives from its producing node to the last use of any value
// whose storage it may be: the buffer itself, views of it (transitively)
// and outputs that may alias it (reshape, contiguous). Not planned: graph
// inputs and constants, and buffers a graph output may reach (they are
// returned to the caller). Slots are 64-byte aligned; sizes may be
// symbolic (a slot shared by buffers of different symbolic sizes takes
// their Max). Two buffers share a slot only when their lifetimes are
// disjoint, also at the node that frees one and allocates the other (no
// in-place reuse).
//
// Memory planning runs last: a pass that changes the graph afterwards must
// run it again.
#ifndef KILN_COMPILER_PASSES_MEMORY_PLANNING_H_
#define KILN_COMPILER_PASSES_MEMORY_PLANNING_H_

#include <cstdint>

#include "compiler/passes/pass.h"

namespace kiln::passes {

struct MemoryPlanningOptions {
  int64_t alignment = 64;
};

class MemoryPlanning : public Pass {
 public:
  static constexpr char kName[] = "memory_planning";
  explicit MemoryPlanning(MemoryPlanningOptions options = {})
      : options_(options) {}
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;

 private:
  MemoryPlanningOptions options_;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_MEMORY_PLANNING_H_
