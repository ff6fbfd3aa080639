// The requests the service benchmark times: Kiln's Compile, Lookup,
// GetArtifact and Execute (inline bytes, ExecuteStream, shared memory), cold
// compiles, and Redis GETs of the same artifact bytes. Each is a
// ClientOpFactory for RunClosedLoop; every client gets its own connection.
#ifndef KILN_TOOLS_BENCH_WORKLOADS_H_
#define KILN_TOOLS_BENCH_WORKLOADS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/cpp/kiln_client.h"
#include "kiln/v1/compiler_service.pb.h"
#include "tools/bench/closed_loop.h"

namespace kiln::bench {

// Width of the benchmark's tensors: f32[s0, kCols], s0 dynamic (≥ 2).
inline constexpr int64_t kCols = 128;

// The benchmark graph in IR text over f32[s0, kCols]: `nodes` pointwise
// nodes chained as relu(v) → v * v → v + alpha·x → relu ..., returning the
// last. With nodes = 3 and alpha = 2 it is relu(x)^2 + 2x.
std::string ChainGraphText(int nodes, int64_t alpha = 2);

// A CompileRequest for `graph_text` with guards for one f32[s0, kCols]
// input on `backend`.
absl::StatusOr<v1::CompileRequest> CompileRequestFor(
    const std::string& graph_text, const std::string& backend);

// The signature of a call with one contiguous f32[rows, kCols] input.
v1::CallSignature SignatureFor(int64_t rows);

// Client options for the benchmark's clients of `server`: generous
// deadlines (cold compiles queue behind each other).
client::ClientOptions BenchClientOptions(const std::string& server);

// grpc.health.v1 Check of the whole server: a unary call that does no
// work, the floor under every Kiln call.
ClientOpFactory HealthCheck(client::ClientOptions options);

// Compile of `request`, expected to be a cache hit every time.
ClientOpFactory CompileHit(client::ClientOptions options,
                           v1::CompileRequest request);

// Lookup of (graph digest, target, a call with `rows` rows), expected to
// hit.
ClientOpFactory LookupHit(client::ClientOptions options,
                          std::string graph_digest, std::string backend,
                          int64_t rows);

// GetArtifact with the binary: the artifact's bytes over gRPC.
ClientOpFactory GetArtifactBytes(client::ClientOptions options,
                                 std::string artifact_key,
                                 int64_t expected_bytes);

// How Execute carries the tensors.
enum class Transport {
  kInline,     // `raw` bytes in one Execute message each way
  kStreamed,   // ExecuteStream: chunks over the stream chunk size
  kSharedMem,  // input and output in the client's shared-memory region
};
const char* TransportName(Transport transport);

// Execute of `artifact_key` on one f32[rows, kCols] input.
ClientOpFactory ExecuteRoundTrip(client::ClientOptions options,
                                 std::string artifact_key, int64_t rows,
                                 Transport transport);

// Compile of a graph no one compiled before on every call (a cache miss):
// the 3-node chain with a fresh alpha.
ClientOpFactory ColdCompile(client::ClientOptions options, std::string backend);

// Redis GET of `key`, whose value has `expected_bytes` bytes.
ClientOpFactory RedisGet(std::string address, std::string key,
                         int64_t expected_bytes);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_WORKLOADS_H_
