// Common subexpression elimination: a node that calls the same op as an
// earlier node with the same normalized arguments (values by identity,
// constants by value) and declares the same output types is replaced by
// the earlier node. Not merged: nodes with side effects, nondeterministic
// ops (random ops, `empty` and friends: two allocations are two buffers),
// fused nodes. A node that writes an argument ends the scope: nothing
// before it is reused after it (its reads might see other data).
#ifndef KILN_COMPILER_PASSES_CSE_H_
#define KILN_COMPILER_PASSES_CSE_H_

#include "compiler/passes/pass.h"

namespace kiln::passes {

class CommonSubexpressionElimination : public Pass {
 public:
  static constexpr char kName[] = "cse";
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_CSE_H_
