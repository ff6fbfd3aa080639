// Facts about nodes that several passes need: side effects,
// determinism and aliasing, read from the op registry (categories and the
// schemas' alias annotations). Pure functions; thread-safe.
#ifndef KILN_COMPILER_PASSES_PASS_UTIL_H_
#define KILN_COMPILER_PASSES_PASS_UTIL_H_

#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"

namespace kiln::passes {

// The node writes one of its arguments (a mutable alias annotation such as
// copy_'s `Tensor(a!) self`, or the mutation category) or draws random
// numbers: it stays even when its outputs are unused, and nothing is
// reordered or merged across it.
bool HasSideEffects(const ir::Node& node);
// Writes an argument (the subset of HasSideEffects that changes data other
// nodes read).
bool MutatesArguments(const ir::Node& node);

// Two calls with equal arguments may give different results: random ops
// and uninitialized allocations (empty, empty_like, empty_strided, ...).
bool IsNondeterministic(const ops::OpDef& op);

// Whether output `output` of `node` may share storage with argument `arg`:
// views (category kView) alias their first tensor argument; other ops
// alias the arguments their schema annotates with the output's alias set
// (copy_'s result aliases `self`; reshape and contiguous may return their
// input). Returns the indices of such arguments.
std::vector<int> AliasedArgs(const ir::Node& node, int output);

// A view node: every output aliases `self` and nothing is computed.
bool IsView(const ir::Node& node);

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_PASS_UTIL_H_
