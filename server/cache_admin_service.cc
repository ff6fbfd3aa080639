#include "server/cache_admin_service.h"

#include "server/grpc_status.h"
#include "server/unimplemented.h"

namespace kiln::server {

grpc::Status CacheAdminService::List(grpc::ServerContext*,
                                     const v1::ListRequest*,
                                     v1::ListResponse*) {
  return ToGrpcStatus(NotYet("List", Feature::kCacheAdmin));
}

grpc::Status CacheAdminService::Get(grpc::ServerContext*, const v1::GetRequest*,
                                    v1::GetResponse*) {
  return ToGrpcStatus(NotYet("Get", Feature::kCacheAdmin));
}

grpc::Status CacheAdminService::Stats(grpc::ServerContext*,
                                      const v1::StatsRequest*,
                                      v1::StatsResponse*) {
  return ToGrpcStatus(NotYet("Stats", Feature::kCacheAdmin));
}

grpc::Status CacheAdminService::Explain(grpc::ServerContext*,
                                        const v1::ExplainRequest*,
                                        v1::ExplainResponse*) {
  return ToGrpcStatus(NotYet("Explain", Feature::kGuardCache));
}

grpc::Status CacheAdminService::Evict(grpc::ServerContext*,
                                      const v1::EvictRequest*,
                                      v1::EvictResponse*) {
  return ToGrpcStatus(NotYet("Evict", Feature::kCacheAdmin));
}

grpc::Status CacheAdminService::Export(grpc::ServerContext*,
                                       const v1::ExportRequest*,
                                       grpc::ServerWriter<v1::ExportChunk>*) {
  return ToGrpcStatus(NotYet("Export", Feature::kCacheAdmin));
}

grpc::Status CacheAdminService::Import(grpc::ServerContext*,
                                       grpc::ServerReader<v1::ImportChunk>*,
                                       v1::ImportResponse*) {
  return ToGrpcStatus(NotYet("Import", Feature::kCacheAdmin));
}

}  // namespace kiln::server
