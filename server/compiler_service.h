#ifndef KILN_SERVER_COMPILER_SERVICE_H_
#define KILN_SERVER_COMPILER_SERVICE_H_

#include <string>

#include "cache/artifact_cache.h"
#include "kiln/v1/compiler_service.grpc.pb.h"
#include "server/config.h"

namespace kiln::server {

// kiln.v1.Compiler. Capabilities describes this server; the compile, lookup
// and execute paths answer UNIMPLEMENTED naming the feature that brings them.
//
// Thread safety: gRPC calls the methods concurrently; the service holds only
// immutable state.
class CompilerService final : public v1::Compiler::Service {
 public:
  // `cache` is owned by KilnServer and outlives the service.
  CompilerService(const ServerConfig& config, const std::string& store_id,
                  cache::ArtifactCache* cache);

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

 private:
  // Built once at start: the backends and limits do not change while the
  // server runs.
  v1::CapabilitiesResponse capabilities_;
  [[maybe_unused]] cache::ArtifactCache* cache_;
};

// The capabilities of a server started with `config` on this host.
v1::CapabilitiesResponse DescribeCapabilities(const ServerConfig& config,
                                              const std::string& store_id);

}  // namespace kiln::server

#endif  // KILN_SERVER_COMPILER_SERVICE_H_
