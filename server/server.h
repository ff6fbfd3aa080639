#ifndef KILN_SERVER_SERVER_H_
#define KILN_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace kiln::cache {
class ArtifactCache;
}  // namespace kiln::cache

namespace kiln::server {

class Authorizer;
class ServerMetrics;
class CompilerService;
class CacheAdminService;

// A running kiln-server: the artifact cache (cache::ArtifactCache over its
// RocksDB store), the gRPC services (Compiler,
// CacheAdmin, grpc.health.v1.Health, server reflection) and their threads.
//
// Lifecycle: Create opens the store (failing fast when it is locked or
// incompatible), binds the listen address and starts serving; health reports
// SERVING from then on. Shutdown drains: health turns NOT_SERVING, no new
// calls are accepted, in-flight calls get until the deadline to finish (then
// they are cancelled), and the store is closed cleanly.
//
// Thread safety: Shutdown may be called from any thread, once; Wait may be
// called concurrently with it.
class KilnServer {
 public:
  static absl::StatusOr<std::unique_ptr<KilnServer>> Create(
      const ServerConfig& config);
  ~KilnServer();

  // The address actually bound ("127.0.0.1:41235" when --listen used port 0).
  const std::string& address() const { return address_; }

  // Drains and stops; returns the store's close status.
  absl::Status Shutdown(absl::Duration grace);

  // Blocks until the gRPC server has stopped.
  void Wait();

  // Re-reads --token-file (on SIGHUP): new calls are checked against the
  // new tokens; a file that no longer parses is logged and the old tokens
  // stay in force.
  void Reload();

 private:
  KilnServer() = default;

  ServerConfig config_;
  std::string address_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<cache::ArtifactCache> cache_;
  std::unique_ptr<CompilerService> compiler_;
  std::unique_ptr<CacheAdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SERVER_H_
