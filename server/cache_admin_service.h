#ifndef KILN_SERVER_CACHE_ADMIN_SERVICE_H_
#define KILN_SERVER_CACHE_ADMIN_SERVICE_H_

#include "cache/artifact_cache.h"
#include "kiln/v1/cache_admin.grpc.pb.h"

namespace kiln::server {

// kiln.v1.CacheAdmin: inspection and management of the artifact cache. Every
// method answers UNIMPLEMENTED naming the feature that brings it.
//
// Thread safety: gRPC calls the methods concurrently. The cache is owned by
// KilnServer and outlives the service.
class CacheAdminService final : public v1::CacheAdmin::Service {
 public:
  explicit CacheAdminService(cache::ArtifactCache* cache) : cache_(cache) {}

  grpc::Status List(grpc::ServerContext* context,
                    const v1::ListRequest* request,
                    v1::ListResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::GetResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context,
                     const v1::StatsRequest* request,
                     v1::StatsResponse* response) override;
  grpc::Status Explain(grpc::ServerContext* context,
                       const v1::ExplainRequest* request,
                       v1::ExplainResponse* response) override;
  grpc::Status Evict(grpc::ServerContext* context,
                     const v1::EvictRequest* request,
                     v1::EvictResponse* response) override;
  grpc::Status Export(grpc::ServerContext* context,
                      const v1::ExportRequest* request,
                      grpc::ServerWriter<v1::ExportChunk>* writer) override;
  grpc::Status Import(grpc::ServerContext* context,
                      grpc::ServerReader<v1::ImportChunk>* reader,
                      v1::ImportResponse* response) override;

 private:
  [[maybe_unused]] cache::ArtifactCache* cache_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_CACHE_ADMIN_SERVICE_H_
