// What the Compiler service runs on a cache miss: a wire graph through the
// compiler (convert and verify, passes, backend) into the artifact envelope
// the cache stores (server/artifact_envelope.proto), plus the pieces around
// it: resolving a TargetSpec, the output spec of a graph, and reading an
// envelope back.
//
// Thread-safe: pure functions over their arguments (backends are stateless).
#ifndef KILN_SERVER_COMPILE_PIPELINE_H_
#define KILN_SERVER_COMPILE_PIPELINE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cache/artifact_cache.h"
#include "compiler/backends/backend.h"
#include "compiler/ir/graph.h"
#include "kiln/v1/compiler_service.pb.h"
#include "server/artifact_envelope.pb.h"

namespace kiln::server {

// The backends a TargetSpec may name on this server, in Capabilities order.
const std::vector<std::string>& KnownBackends();

// The TargetSpec.options keys `backend` accepts (BackendInfo.option_keys),
// sorted. Each takes "true" or "false":
//   run_passes   run the compiler's pass pipeline (default true; cpu)
//   vector_math  vectorized libmvec math in generated loops (default true;
//                cpu)
std::vector<std::string> OptionKeys(std::string_view backend);

// A TargetSpec resolved against this server.
struct ResolvedTarget {
  std::string backend;        // "cpu", "interpreter"
  std::string device_target;  // "cpu-x86_64-avx2", "interpreter"
  // The cache's target string: device target, options, compiler version
  // and salt (cache::ResolveTarget), e.g. "cpu-x86_64-avx2-k1-salt0".
  std::string target;
  backends::CompileOptions options;
};

// INVALID_ARGUMENT (naming `path`.backend / .device_index / .options[KEY])
// for an unknown backend, a device index out of range or an unknown option
// or value; FAILED_PRECONDITION for a known backend this server cannot run
// (cuda without a GPU or without a CUDA backend).
absl::StatusOr<ResolvedTarget> ResolveTargetSpec(const v1::TargetSpec& spec,
                                                 std::string_view path);

// Limits applied while converting a graph (Limits.max_graph_nodes, ...).
struct GraphLimits {
  int max_nodes = 0;
  int max_inputs = 0;
  int max_expr_depth = 64;
};

// Converts and compiles `graph` (a canonical kiln.v1.Graph, see
// cache::CanonicalizeGraph) for `target`, and packs the result into an
// ArtifactEnvelope payload with the output spec. Errors: INVALID_ARGUMENT
// with the graph's field path for a defective graph; UNIMPLEMENTED for an
// op or feature the backend lacks; CANCELLED when `context` says nobody
// waits any more (checked between stages); the backend's own errors.
absl::StatusOr<cache::CompiledArtifact> CompileGraph(
    const v1::Graph& graph, const ResolvedTarget& target,
    const GraphLimits& limits, const cache::CompileContext* context);

// What Execute returns for `graph` compiled into `executable`: one
// OutputInfo per graph output (tensor metadata with the graph's symbols,
// aliased inputs) and the mutated inputs.
v1::OutputSpec OutputSpecOf(const ir::Graph& graph,
                            const backends::Executable& executable);

// DATA_LOSS when `payload` is not an envelope (the cache verified its
// checksum, so this means a format this server does not read).
absl::StatusOr<envelope::ArtifactEnvelope> ParseEnvelope(
    std::string_view payload);

}  // namespace kiln::server

#endif  // KILN_SERVER_COMPILE_PIPELINE_H_
