// Helpers for backend tests: random inputs laid out as a graph's
// placeholders declare, and comparison of outputs against the reference
// interpreter with per-dtype tolerances.
#ifndef KILN_COMPILER_BACKENDS_TESTING_BACKEND_TESTING_H_
#define KILN_COMPILER_BACKENDS_TESTING_BACKEND_TESTING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "compiler/symbolic/expr.h"

namespace kiln::backends::testing {

using ops::RuntimeValue;

// One input per placeholder: tensors with the placeholder's strides and
// offset (evaluated with `symbols`), random values (floats uniform in
// [-3, 3), ints in [-9, 10), uint8 in [0, 10), bools fair); SymInt
// placeholders get their symbol's value; int/float/bool scalars random.
// `positive` makes floats uniform in [0.1, 3) instead (for log, sqrt, ...).
absl::StatusOr<std::vector<RuntimeValue>> RandomInputs(
    const ir::Graph& graph, const sym::Bindings& symbols, uint64_t seed,
    bool positive = false);

// The same with ranges of one's choosing: floats uniform in
// [float_low, float_high), integers (and uint8) in [int_low, int_high).
struct RandomRanges {
  double float_low = -3, float_high = 3;
  int64_t int_low = -9, int_high = 10;
};
absl::StatusOr<std::vector<RuntimeValue>> RandomInputs(
    const ir::Graph& graph, const sym::Bindings& symbols, uint64_t seed,
    const RandomRanges& ranges);

// Tolerances for comparing a backend with the interpreter: `scale` widens
// them (reductions reassociate).
struct Tolerance {
  double scale = 1.0;
};

// "" when `got` matches `want` (kind, dtype, sizes, values within
// tolerance, NaN where NaN), else a description of the first difference.
std::string CompareValues(const RuntimeValue& got, const RuntimeValue& want,
                          Tolerance tol = {});
std::string CompareOutputs(const std::vector<RuntimeValue>& got,
                           const std::vector<RuntimeValue>& want,
                           Tolerance tol = {});

// Deep copies (tensors get their own storage, same layout), so a graph
// that mutates its inputs can be run twice on equal inputs.
std::vector<RuntimeValue> CloneInputs(const std::vector<RuntimeValue>& in);

}  // namespace kiln::backends::testing

#endif  // KILN_COMPILER_BACKENDS_TESTING_BACKEND_TESTING_H_
