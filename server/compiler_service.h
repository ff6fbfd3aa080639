#ifndef KILN_SERVER_COMPILER_SERVICE_H_
#define KILN_SERVER_COMPILER_SERVICE_H_

#include <memory>
#include <string>

#include "cache/artifact_cache.h"
#include "kiln/v1/compiler_service.grpc.pb.h"
#include "server/config.h"
#include "server/executables.h"
#include "server/execution.h"
#include "server/shared_memory.h"

namespace kiln::server {

// A RESOURCE_EXHAUSTED for a full compile queue carries, as trailing
// metadata, how many milliseconds to wait before retrying (the status
// payload of the same name inside the server).
inline constexpr char kRetryAfterMetadata[] = "kiln-retry-after-ms";
inline constexpr char kRetryAfterPayload[] = "kiln.dev/retry-after-ms";

// kiln.v1.Compiler (proto/kiln/v1/compiler_service.proto; docs/services.md):
//   Compile      validate the graph, guards and target; key; GetOrCompile on
//                the cache's bounded worker pool (single flight), with the
//                call's deadline and cancellation; answer key, output spec,
//                hit or miss, timings and dynamic-dim hints.
//   Lookup       a graph (digest or in full) and a concrete signature: the
//                serving artifact, or a miss explained entry by entry.
//   Execute      an artifact key and inputs: guards checked on the call,
//                the executable (an in-memory LRU) run, outputs and mutated
//                inputs returned. ExecuteStream does the same with tensors
//                in chunks; Register/UnregisterSharedMemory map same-host
//                clients' regions (--allow-client-shm).
//   GetArtifact  an artifact's metadata, plan and optionally binaries.
//   Capabilities versions, backends, limits, compressors.
// Every method maps its absl::Status through ToGrpcStatus.
//
// Thread safety: gRPC calls the methods concurrently; shared state (the
// cache, the executable LRU, the shared-memory registry) is thread-safe.
class CompilerService final : public v1::Compiler::Service {
 public:
  // `cache` is owned by KilnServer and outlives the service.
  CompilerService(const ServerConfig& config, const std::string& store_id,
                  cache::ArtifactCache* cache);
  ~CompilerService() override;

  grpc::Status Compile(grpc::ServerContext* context,
                       const v1::CompileRequest* request,
                       v1::CompileResponse* response) override;
  grpc::Status Lookup(grpc::ServerContext* context,
                      const v1::LookupRequest* request,
                      v1::LookupResponse* response) override;
  grpc::Status Execute(grpc::ServerContext* context,
                       const v1::ExecuteRequest* request,
                       v1::ExecuteResponse* response) override;
  grpc::Status ExecuteStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ExecuteStreamResponse,
                               v1::ExecuteStreamRequest>* stream) override;
  grpc::Status RegisterSharedMemory(
      grpc::ServerContext* context,
      const v1::RegisterSharedMemoryRequest* request,
      v1::RegisterSharedMemoryResponse* response) override;
  grpc::Status UnregisterSharedMemory(
      grpc::ServerContext* context,
      const v1::UnregisterSharedMemoryRequest* request,
      v1::UnregisterSharedMemoryResponse* response) override;
  grpc::Status GetArtifact(grpc::ServerContext* context,
                           const v1::GetArtifactRequest* request,
                           v1::GetArtifactResponse* response) override;
  grpc::Status Capabilities(grpc::ServerContext* context,
                            const v1::CapabilitiesRequest* request,
                            v1::CapabilitiesResponse* response) override;

  // The largest stream chunk (TensorChunk.data, bundle chunks) this server
  // sends and accepts: Capabilities' stream_chunk_bytes.
  int64_t chunk_bytes() const {
    return capabilities_.limits().stream_chunk_bytes();
  }

 private:
  absl::Status DoCompile(grpc::ServerContext* context,
                         const v1::CompileRequest& request,
                         v1::CompileResponse* response);
  absl::Status DoLookup(const v1::LookupRequest& request,
                        v1::LookupResponse* response);
  absl::Status DoGetArtifact(const v1::GetArtifactRequest& request,
                             v1::GetArtifactResponse* response);
  absl::Status DoExecuteStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ExecuteStreamResponse,
                               v1::ExecuteStreamRequest>* stream);
  // The one exit of every method: trailing metadata from the status's
  // payloads (a guard failure, a retry hint), then ToGrpcStatus.
  static grpc::Status FinishCall(grpc::ServerContext* context,
                                 const absl::Status& status);

  const ServerConfig config_;
  // Built once at start: the backends and limits do not change while the
  // server runs.
  const v1::CapabilitiesResponse capabilities_;
  cache::ArtifactCache* const cache_;
  std::unique_ptr<ExecutableCache> executables_;
  std::unique_ptr<SharedMemoryRegistry> shared_memory_;
  std::unique_ptr<ExecutionSlots> execution_slots_;
  ExecutionEnv execution_env_;
};

// The capabilities of a server started with `config` on this host.
v1::CapabilitiesResponse DescribeCapabilities(const ServerConfig& config,
                                              const std::string& store_id);

}  // namespace kiln::server

#endif  // KILN_SERVER_COMPILER_SERVICE_H_
