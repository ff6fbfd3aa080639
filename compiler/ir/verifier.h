// The IR verifier: checks the invariants every pass must keep. Pipelines
// run it after each pass in tests.
//
// Checked: unique names; every argument and output references a value of
// this graph defined earlier (placeholders, then node outputs in order);
// users lists and output-use counts match the arguments; each node has one
// argument per schema argument of a kind the schema type allows; every
// symbol is bound by a placeholder; re-running the op's inference on the
// node's arguments gives types that agree with the node's output types
// (ops::CheckDeclaredType); graph outputs are values, None or numbers.
//
// Constants: unique names, static types, data of numel * element size
// bytes. `kiln::fused` nodes (fusion.h): instead of inference, the body is
// verified (with the enclosing graph's symbols bound), its placeholders and
// outputs match the node's inputs and outputs type for type, and the
// kernel's shape / reduce_dims / input_dims are ComputeFusionLayout's.
//
// Errors are INVALID_ARGUMENT (INTERNAL for broken bookkeeping such as
// users lists) naming the node: `nodes[3] (aten::add.Tensor, "add_1"):
// ...`. Thread-safe for concurrent verification of an unmodified graph.
#ifndef KILN_COMPILER_IR_VERIFIER_H_
#define KILN_COMPILER_IR_VERIFIER_H_

#include "absl/status/status.h"
#include "compiler/ir/graph.h"

namespace kiln::ir {

absl::Status VerifyGraph(const Graph& graph);

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_VERIFIER_H_
