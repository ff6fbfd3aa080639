// Fusion: groups nodes into kernels, each a `kiln::fused` node carrying
// its body (compiler/ir/fusion.h; docs/compiler.md, "Fusion").
//
//  1. Pointwise nodes join the groups of their pointwise producers when
//     their output sizes and device agree, so chains (and diamonds) of
//     elementwise ops become one loop nest.
//  2. Each anchor (a reduction, _softmax/_log_softmax, native_layer_norm)
//     absorbs the pointwise group that produces its input when the group
//     runs over the anchor's input sizes (prologue), and the pointwise
//     groups that consume its outputs (epilogue: over the reduction's
//     output sizes, or the row for softmax and layer norm).
//  3. Every group becomes one fused node (single nodes too, unless
//     `wrap_single_nodes` is off), and the graph is re-sorted
//     topologically.
//
// Two groups merge only when no path leaves one and reaches the other
// through a node outside both (that would make a cycle), only within the
// stretch between two nodes that write an argument (`copy_` into a graph
// input: reads before it must see the old data, reads after it the new),
// and only into kernels ir::ComputeFusionLayout accepts. Nodes reading scalar
// graph inputs, matrix products, views, data movement, creation and copies stay
// outside kernels.
#ifndef KILN_COMPILER_PASSES_FUSION_H_
#define KILN_COMPILER_PASSES_FUSION_H_

#include "compiler/passes/pass.h"

namespace kiln::passes {

struct FusionOptions {
  // Prologues and epilogues into reductions, softmax and layer norm.
  bool fuse_anchors = true;
  // Lone pointwise nodes and anchors become one-node kernels, so backends
  // only generate code for fused nodes.
  bool wrap_single_nodes = true;
  // The most nodes one kernel body holds.
  int max_kernel_nodes = 256;
};

class Fusion : public Pass {
 public:
  static constexpr char kName[] = "fusion";
  explicit Fusion(FusionOptions options = {}) : options_(options) {}
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;

 private:
  FusionOptions options_;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_FUSION_H_
