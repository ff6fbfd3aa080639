// Dead code elimination: removes nodes none of whose outputs is used (by a
// node or a graph output) and constants nobody uses. Nodes with side
// effects stay: mutations of graph inputs after functionalization
// (`copy_`), anything writing an argument, random ops (they advance the
// generator). Removing a node can make its producers dead; one backward
// sweep removes whole dead chains.
#ifndef KILN_COMPILER_PASSES_DCE_H_
#define KILN_COMPILER_PASSES_DCE_H_

#include "compiler/passes/pass.h"

namespace kiln::passes {

class DeadCodeElimination : public Pass {
 public:
  static constexpr char kName[] = "dce";
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_DCE_H_
