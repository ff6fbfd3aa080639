// View simplification: removes views that change nothing and collapses
// chains of views, so later passes and backends see fewer layout nodes.
//
// Rules (each checked by re-running the op's inference: a rewrite happens
// only when the new node's type is exactly the old one's):
//   * a view whose type (sizes, strides, offset, dtype) equals that of the
//     tensor it views, or of any tensor further up a chain of views of the
//     same storage, is that tensor: t(t(x)), transpose(transpose(x, 0, 1),
//     0, 1), permute by the identity, unsqueeze then squeeze, full slices,
//     expand to the same sizes, alias, detach, view to the same shape;
//     contiguous() of a contiguous tensor and reshape() to the same shape
//     are their input (ATen returns the input itself);
//   * view/_unsafe_view/reshape of view/_unsafe_view/reshape: one node from
//     the first input (not across a reshape that may copy when the graph
//     writes an input: the copy's snapshot semantics would change);
//   * permute/transpose/t of permute/transpose/t: one permute (or nothing);
//   * expand of expand: one expand.
// Nodes left without uses by the rewrites are removed.
#ifndef KILN_COMPILER_PASSES_VIEW_SIMPLIFICATION_H_
#define KILN_COMPILER_PASSES_VIEW_SIMPLIFICATION_H_

#include "compiler/passes/pass.h"

namespace kiln::passes {

class ViewSimplification : public Pass {
 public:
  static constexpr char kName[] = "view_simplification";
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_VIEW_SIMPLIFICATION_H_
