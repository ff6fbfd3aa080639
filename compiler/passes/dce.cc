#include "compiler/passes/dce.h"

#include "compiler/passes/pass_util.h"

namespace kiln::passes {

absl::StatusOr<bool> DeadCodeElimination::Run(ir::Graph& graph) {
  bool changed = false;
  // Backwards: a node's users come after it, so removing them first lets
  // the same sweep see the node dead.
  for (int i = graph.num_nodes() - 1; i >= 0; --i) {
    ir::Node* node = graph.node(i);
    if (HasSideEffects(*node)) continue;
    bool used = false;
    for (int o = 0; o < node->num_outputs(); ++o) {
      if (node->output(o) && node->output(o)->HasUses()) used = true;
    }
    if (used) continue;
    graph.RemoveNode(node);
    changed = true;
  }
  for (int i = graph.num_constants() - 1; i >= 0; --i) {
    ir::Value* c = graph.constants()[i].get();
    if (c->HasUses()) continue;
    graph.RemoveConstant(c);
    changed = true;
  }
  return changed;
}

KILN_REGISTER_PASS(DeadCodeElimination::kName, DeadCodeElimination);

}  // namespace kiln::passes
