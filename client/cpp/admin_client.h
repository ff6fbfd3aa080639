#ifndef KILN_CLIENT_CPP_ADMIN_CLIENT_H_
#define KILN_CLIENT_CPP_ADMIN_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cpp/kiln_client.h"
#include "kiln/v1/cache_admin.pb.h"

namespace kiln::client {

// How far a bundle transfer has come, for progress output.
struct TransferProgress {
  int64_t bytes = 0;  // bytes received (export) or sent (import) so far
  int64_t expected_bytes = -1;    // import: the file's size; export: -1
  int64_t expected_entries = -1;  // export: entries the server will send
  bool done = false;              // the last report of a transfer
};
using ProgressFn = std::function<void(const TransferProgress&)>;

struct ExportResult {
  int64_t entries = 0;  // entries in the bundle
  int64_t bytes = 0;    // size of the bundle file
};

// The kiln.v1.CacheAdmin calls, over a KilnClient's connection and with its
// error conventions (one human sentence; see KilnClient). Unary calls use
// the client's timeout; Export and Import run as long as they need.
//
// Thread safety: as KilnClient.
class AdminClient {
 public:
  // `client` must outlive this object.
  explicit AdminClient(KilnClient& client) : client_(client) {}

  absl::StatusOr<v1::ListResponse> List(const v1::ListRequest& request);
  // Every page from `request`'s on, at most `limit` entries (0: all);
  // `total` receives the number matching the filter.
  absl::StatusOr<std::vector<v1::ArtifactInfo>> ListAll(v1::ListRequest request,
                                                        int64_t limit,
                                                        int64_t* total);
  absl::StatusOr<v1::GetResponse> Get(const std::string& artifact_key);
  absl::StatusOr<v1::StatsResponse> Stats();
  absl::StatusOr<v1::ExplainResponse> Explain(
      const v1::ExplainRequest& request);
  absl::StatusOr<v1::EvictResponse> Evict(const v1::EvictRequest& request);

  // Streams the bundle of the entries `request` selects into the file
  // `path`. The bundle is written to "<path>.partial" and renamed when
  // complete, so a failed export never leaves a truncated bundle at `path`.
  absl::StatusOr<ExportResult> ExportToFile(const v1::ExportRequest& request,
                                            const std::string& path,
                                            const ProgressFn& progress = {});
  // Sends the bundle file `path` in chunks of `chunk_bytes`; 0: 1 MiB, or
  // the server's Limits.stream_chunk_bytes when that is smaller (asked with
  // Capabilities).
  absl::StatusOr<v1::ImportResponse> ImportFromFile(
      const std::string& path, const ProgressFn& progress = {},
      int64_t chunk_bytes = 0);

  // The full key of the one entry whose key starts with `prefix` (at least
  // 6 hex characters); NOT_FOUND or INVALID_ARGUMENT (ambiguous) otherwise.
  absl::StatusOr<std::string> ResolveKey(const std::string& prefix);

 private:
  KilnClient& client_;
};

}  // namespace kiln::client

#endif  // KILN_CLIENT_CPP_ADMIN_CLIENT_H_
