#ifndef KILN_SERVER_CACHE_ADMIN_SERVICE_H_
#define KILN_SERVER_CACHE_ADMIN_SERVICE_H_

#include <cstdint>
#include <map>
#include <string>

#include "cache/artifact_cache.h"
#include "kiln/v1/cache_admin.grpc.pb.h"
#include "server/config.h"

namespace kiln::server {

struct CacheAdminOptions {
  // Largest ImportChunk accepted and ExportChunk sent
  // (Limits.stream_chunk_bytes).
  int64_t stream_chunk_bytes = ServerLimits().stream_chunk_bytes;
  // Where Import spools a bundle while it verifies it (it is read twice:
  // verified whole before anything is stored). Empty: the cache's data
  // directory.
  std::string spool_dir;
};

// kiln.v1.CacheAdmin: inspection and management of the artifact cache
// (List, Get, Stats, Explain, Evict) and moving entries between servers
// (Export, Import; the bundle format is server/bundle.h). Every request
// field is validated: INVALID_ARGUMENT names the field ("filter.min_age_s:
// must not be negative, got -1").
//
// Import verifies the whole bundle before it stores anything: a record
// whose checksum fails is DATA_LOSS naming the record, an artifact for a
// target this server cannot run (another backend, CPU or GPU architecture,
// compiler version or salt) is FAILED_PRECONDITION naming the entry, and a
// bundle that is malformed or inconsistent (an entry whose key does not
// match its graph, guards and target) is INVALID_ARGUMENT; in each case
// nothing is imported. Entries already present are skipped, so importing a
// bundle twice changes nothing. Which callers may Evict or Import is
// decided before the service is called (the server's authorization).
//
// Thread safety: gRPC calls the methods concurrently; the service holds
// only immutable state. The cache is owned by KilnServer and outlives the
// service.
class CacheAdminService final : public v1::CacheAdmin::Service {
 public:
  explicit CacheAdminService(cache::ArtifactCache* cache,
                             CacheAdminOptions options = {});

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

  // Initial metadata of an Export: the number of entries it will carry and
  // the sum of their stored sizes (for progress), before the first chunk.
  static constexpr char kExportEntriesHeader[] = "kiln-export-entries";
  static constexpr char kExportBytesHeader[] = "kiln-export-stored-bytes";
  // Trailing metadata of an Export: the entries the bundle holds.
  static constexpr char kExportWrittenHeader[] = "kiln-export-entries-written";

 private:
  cache::ArtifactCache* cache_;
  CacheAdminOptions options_;
  // Device target ("cpu-x86_64-avx2", "interpreter") by backend name, for
  // the backends this server can run.
  std::map<std::string, std::string> runnable_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_CACHE_ADMIN_SERVICE_H_
