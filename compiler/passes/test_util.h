// Helpers for pass tests (testonly): golden text tests (parse, run a pass,
// verify, print, compare) and differential runs through the interpreter.
#ifndef KILN_COMPILER_PASSES_TEST_UTIL_H_
#define KILN_COMPILER_PASSES_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/graph.h"
#include "compiler/passes/pass.h"
#include "compiler/symbolic/expr.h"

namespace kiln::passes::testing {

// Text without the leading newline raw strings start with.
std::string Trim(std::string_view text);

// Parses `input`, runs `pass`, verifies the result and prints it.
struct PassResult {
  std::string text;
  bool changed = false;
  std::unique_ptr<ir::Graph> graph;
};
absl::StatusOr<PassResult> RunPassOnText(Pass& pass, std::string_view input);

// Random inputs for `graph`'s placeholders: tensors of their types'
// layout (symbols from `bindings`), values in a small range per dtype
// (bools, ints in [1, 3], floats in [-2, 2]); SymInt inputs from
// `bindings`.
absl::StatusOr<std::vector<interp::RuntimeValue>> RandomInputs(
    const ir::Graph& graph, uint64_t seed, const sym::Bindings& bindings = {});

// Runs both graphs on copies of `inputs` and compares every output element
// bit for bit (NaNs equal), dtypes and sizes, and the inputs afterwards
// (graphs may write them). INTERNAL describing the first difference.
absl::Status SameOutputs(const ir::Graph& a, const ir::Graph& b,
                         const std::vector<interp::RuntimeValue>& inputs);

// Checks graph.memory_plan() independently of the pass: every planned
// value is a non-view node output that no graph output reaches (through
// views or aliasing outputs), two values sharing a slot are never alive at
// the same node (a value lives from its producer to the last use of any
// value aliasing it), and static slots are large enough.
absl::Status CheckMemoryPlan(const ir::Graph& graph);

// The number of kernels (ir::CountKernels) in the graph `text`.
int KernelCount(std::string_view text);

}  // namespace kiln::passes::testing

#endif  // KILN_COMPILER_PASSES_TEST_UTIL_H_
