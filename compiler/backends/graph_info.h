// Facts about a graph that every backend's planner needs: a dense value
// numbering (the one plan.proto uses), which values share storage with
// which (views, in-place writes), the output spec and value lifetimes.
//
// Aliasing comes from the ops' schemas: an output annotated `Tensor(a)`
// shares storage with the argument annotated `(a)` or `(a!)`; an argument
// annotated `(a!)` is written in place. Ops of the view category whose
// schema carries no annotation (_unsafe_view) alias their first tensor.
//
// Thread-safe after construction (read-only); valid while the graph is
// alive and unmodified.
#ifndef KILN_COMPILER_BACKENDS_GRAPH_INFO_H_
#define KILN_COMPILER_BACKENDS_GRAPH_INFO_H_

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ir/graph.h"

namespace kiln::backends {

class GraphInfo {
 public:
  explicit GraphInfo(const ir::Graph& graph);

  const ir::Graph& graph() const { return graph_; }
  // Placeholders 0..P-1, then constants, then each node's output slots in
  // order.
  int num_values() const { return static_cast<int>(values_.size()); }
  int id(const ir::Value* v) const { return ids_.at(v); }
  // nullptr for a None output slot.
  const ir::Value* value(int id) const { return values_[id]; }
  // The first value number of node `n`'s outputs.
  int first_output_id(int node) const { return first_output_[node]; }

  // The tensor argument index of `node` whose storage output `i` shares,
  // or -1 when the output has storage of its own.
  static int AliasedArg(const ir::Node& node, int output);
  // The value whose storage `id` lives in (itself unless it is a view or an
  // in-place result).
  int root(int id) const { return root_[id]; }
  // The placeholder index a value's storage belongs to, or -1.
  int root_input(int id) const;

  // The index of the last step (node index) that reads a value or any view
  // of its storage; graph outputs live to the end (num_nodes()).
  int last_use(int id) const { return last_use_[id]; }
  // Whether a graph output shares the value's storage.
  bool escapes(int id) const { return escapes_[root_[id]]; }

  // kiln.plan.Output per graph output, and the placeholders written in
  // place, ascending.
  std::vector<plan::Output> Outputs() const;
  std::vector<int> MutatedInputs() const;

 private:
  const ir::Graph& graph_;
  std::vector<const ir::Value*> values_;
  absl::flat_hash_map<const ir::Value*, int> ids_;
  std::vector<int> first_output_;
  std::vector<int> root_;
  std::vector<int> last_use_;
  std::vector<bool> escapes_;
};

}  // namespace kiln::backends

#endif  // KILN_COMPILER_BACKENDS_GRAPH_INFO_H_
