#include "compiler/passes/cse.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "compiler/ir/text.h"
#include "compiler/passes/pass_util.h"

namespace kiln::passes {
namespace {

// The node's identity: op, normalized arguments (value names are unique,
// so they stand for the values; floats print in shortest round-trip form,
// symbolic ints in normal form) and output types.
std::string Key(const ir::Node& node) {
  std::string key = node.op().name();
  for (const ir::Arg& a : node.args()) {
    absl::StrAppend(&key, "|", static_cast<int>(a.kind), ":", ir::PrintArg(a));
  }
  for (int o = 0; o < node.num_outputs(); ++o) {
    const ir::Value* v = node.output(o);
    absl::StrAppend(&key, "->", v ? v->type().ToString() : "None");
  }
  return key;
}

}  // namespace

absl::StatusOr<bool> CommonSubexpressionElimination::Run(ir::Graph& graph) {
  bool changed = false;
  absl::flat_hash_map<std::string, ir::Node*> seen;
  for (int i = 0; i < graph.num_nodes(); ++i) {
    ir::Node* node = graph.node(i);
    if (MutatesArguments(*node)) {
      seen.clear();
      continue;
    }
    if (HasSideEffects(*node) || IsNondeterministic(node->op()) ||
        node->fused() != nullptr) {
      continue;
    }
    auto [it, inserted] = seen.emplace(Key(*node), node);
    if (inserted) continue;
    ir::Node* earlier = it->second;
    for (int o = 0; o < node->num_outputs(); ++o) {
      if (node->output(o)) {
        graph.ReplaceAllUsesWith(node->output(o), earlier->output(o));
      }
    }
    graph.RemoveNode(node);
    --i;
    changed = true;
  }
  return changed;
}

KILN_REGISTER_PASS(CommonSubexpressionElimination::kName,
                   CommonSubexpressionElimination);

}  // namespace kiln::passes
