// The reference interpreter: runs a Graph node by node on concrete inputs
// with each op's reference implementation (ops::OpDef::reference()).
//
// It is the oracle for differential tests, so it favours correctness over
// speed: every element goes through the same scalar functions generated
// kernels use (runtime/scalar_math.h), float16/bfloat16 compute in float32
// and round once, as ATen's CPU kernels do, and views share storage with
// their base.
//
// Symbols are bound from the inputs: a tensor placeholder's bare-symbol
// sizes (and strides and offset) and a SymInt placeholder that is a bare
// symbol bind their symbols; every other expression is evaluated and must
// match the actual value (INVALID_ARGUMENT naming the input otherwise).
//
// Threading: Run is reentrant; several threads may run the same Graph
// concurrently (it is only read).
#ifndef KILN_COMPILER_INTERPRETER_INTERPRETER_H_
#define KILN_COMPILER_INTERPRETER_INTERPRETER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "compiler/symbolic/expr.h"

namespace kiln::interp {

using ops::RuntimeValue;

// Binds the graph's symbols from `inputs` (one per placeholder: a tensor,
// or a scalar for SymInt and scalar placeholders) and checks them against
// the placeholders' types.
absl::StatusOr<sym::Bindings> BindInputs(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs);

// Runs `graph`; returns one value per graph output (kNone for None
// outputs, kScalar for int/float/bool outputs). A failing node gives its
// error prefixed with `nodes[i] (op)`. Constants are materialized with
// their type's layout; a `kiln::fused` node runs its kernel body (with this
// graph's symbol bindings), so fused graphs compute what unfused ones do.
// Inputs the graph mutates (ops::MutatedInputs: a functionalized graph's
// trailing `aten::copy_` into a placeholder) are written in place: the
// tensors in `inputs`, and every tensor sharing their storage (the
// caller's), hold the new values afterwards, as in eager mode.
absl::StatusOr<std::vector<RuntimeValue>> RunGraph(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs);

// A constant value (ir::Value::is_constant()) as a tensor with the layout
// of its type.
absl::StatusOr<rt::Tensor> ConstantTensor(const ir::Value& constant);

}  // namespace kiln::interp

#endif  // KILN_COMPILER_INTERPRETER_INTERPRETER_H_
