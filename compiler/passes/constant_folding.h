// Constant folding: a node whose tensor inputs are all constants (or that
// has none, like a creation op with constant arguments; creation ops such
// as zeros_like read only their inputs' static types) and whose
// arguments and output types are static is evaluated at compile time with
// its reference implementation (the interpreter's), and its outputs become
// graph constants. Chains fold in one pass. Not folded: side effects,
// nondeterministic ops (random, empty), fused nodes, ops without a
// reference implementation, nodes whose evaluation fails (left for run
// time, which reports the error), and anything that would grow the graph
// too much: a folded output over `max_constant_bytes`, or more than
// `max_total_bytes` of new constants in one run.
#ifndef KILN_COMPILER_PASSES_CONSTANT_FOLDING_H_
#define KILN_COMPILER_PASSES_CONSTANT_FOLDING_H_

#include <cstdint>

#include "compiler/passes/pass.h"

namespace kiln::passes {

struct ConstantFoldingOptions {
  int64_t max_constant_bytes = 64 << 10;
  int64_t max_total_bytes = 1 << 20;
};

class ConstantFolding : public Pass {
 public:
  static constexpr char kName[] = "constant_folding";
  explicit ConstantFolding(ConstantFoldingOptions options = {})
      : options_(options) {}
  std::string_view name() const override { return kName; }
  absl::StatusOr<bool> Run(ir::Graph& graph) override;

 private:
  ConstantFoldingOptions options_;
};

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_CONSTANT_FOLDING_H_
