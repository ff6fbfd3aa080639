// Checks of Compiler requests that relate two parts of a request to each
// other (the graph and its guards, a signature and the values of a call) or
// to the server's limits. Each part on its own is validated where it is
// understood: graphs by compiler/ir/convert.h, guard contexts and
// signatures by cache/guards/guard_set.h, wire tensors by tensor_wire.h.
//
// Every error is INVALID_ARGUMENT whose message starts with the path of the
// offending field, except limits, which are RESOURCE_EXHAUSTED. Pure
// functions, thread-safe.
#ifndef KILN_SERVER_REQUEST_VALIDATION_H_
#define KILN_SERVER_REQUEST_VALIDATION_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cache/guards/guard_set.h"
#include "google/protobuf/repeated_field.h"
#include "kiln/v1/compiler_service.pb.h"
#include "kiln/v1/graph.pb.h"
#include "kiln/v1/guards.pb.h"
#include "server/config.h"

namespace kiln::server {

// Microseconds since `start` on the steady clock (request timings).
inline int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// The guard limits of a server with these limits.
inline cache::GuardLimits GuardLimitsOf(const ServerLimits& limits) {
  cache::GuardLimits g;
  g.max_inputs = static_cast<int>(limits.max_inputs);
  g.max_sym_expr_depth = static_cast<int>(limits.max_sym_expr_depth);
  return g;
}

// One leaf of a GuardContext or CallSignature: what one graph placeholder
// (and one Execute input) stands for. Exactly one pointer is set; they
// point into the message the leaf was taken from.
struct GuardLeaf {
  const v1::TensorGuard* tensor = nullptr;
  const v1::SymIntGuard* symint = nullptr;
  const v1::ConstantGuard* constant = nullptr;
  // The leaf's field path, e.g. "guards.inputs[1].tensor.subclass.inner[0]
  // .guard".
  std::string path;
};

// The leaves of `inputs` in placeholder order (guards.proto, "Input
// leaves"), with paths under `prefix` ("guards.inputs", "signature.inputs").
std::vector<GuardLeaf> GuardLeaves(
    const google::protobuf::RepeatedPtrField<v1::InputGuard>& inputs,
    const std::string& prefix);

// RESOURCE_EXHAUSTED when `graph` has more nodes or placeholders than the
// limits allow (checked before anything else looks at the graph).
absl::Status CheckGraphLimits(const v1::Graph& graph,
                              const ServerLimits& limits);

// That every leaf of `guards` agrees with its placeholder in `graph`: the
// same number, a tensor guard's meta equal to the placeholder's TensorMeta,
// a SymInt guard's expression equal to the placeholder's, a constant of the
// placeholder's scalar kind. Both must be canonical (cache::CanonicalizeGraph
// and GuardSet::canonical()), which name symbols alike.
absl::Status CheckGuardsMatchGraph(const v1::GuardContext& guards,
                                   const v1::Graph& graph);

// That Execute's `inputs` agree with the leaves of `signature` (already
// validated with cache::ValidateSignature): one input per leaf; a tensor
// for a tensor leaf with the same dtype, device, sizes, strides, storage
// offset and requires_grad; an int equal to a SymInt leaf's value; a value
// equal to a constant leaf's. Tensor data is not looked at.
absl::Status CheckInputsMatchSignature(
    const v1::CallSignature& signature,
    const google::protobuf::RepeatedPtrField<v1::InputValue>& inputs);

}  // namespace kiln::server

#endif  // KILN_SERVER_REQUEST_VALIDATION_H_
