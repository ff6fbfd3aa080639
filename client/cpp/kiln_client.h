#ifndef KILN_CLIENT_CPP_KILN_CLIENT_H_
#define KILN_CLIENT_CPP_KILN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/cpp/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "kiln/v1/cache_admin.grpc.pb.h"
#include "kiln/v1/compiler_service.grpc.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace kiln::client {

// How to reach a kiln-server: the channel (address, TLS, bearer token,
// message size; see channel.h) and the deadline of each call.
struct ClientOptions : ChannelOptions {
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(10);
};

// The server's health as grpc.health.v1 reports it.
enum class Health { kUnknown, kServing, kNotServing, kServiceUnknown };
const char* HealthName(Health health);

// A connection to one kiln-server. Errors come back as absl::Status whose
// message is one human sentence naming the server ("cannot reach kiln-server
// at 127.0.0.1:50051: connection refused"), never a dump of gRPC internals.
//
// Thread safety: all methods may be called concurrently; the channel is
// shared and reconnects on its own.
class KilnClient {
 public:
  static absl::StatusOr<std::unique_ptr<KilnClient>> Create(
      ClientOptions options);

  // Health of the whole server ("") or of one service ("kiln.v1.Compiler").
  absl::StatusOr<Health> CheckHealth(const std::string& service = "");
  absl::StatusOr<v1::CapabilitiesResponse> Capabilities();

  // The raw stubs, for calls this class has no wrapper for yet. Use
  // NewContext() to get a context with this client's deadline.
  v1::Compiler::Stub& compiler() { return *compiler_; }
  v1::CacheAdmin::Stub& admin() { return *admin_; }
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  // Turns a failed call's status into the client's error convention.
  absl::Status ToStatus(const grpc::Status& status,
                        const std::string& method) const;

  const ClientOptions& options() const { return options_; }

 private:
  explicit KilnClient(ClientOptions options);

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Compiler::Stub> compiler_;
  std::unique_ptr<v1::CacheAdmin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace kiln::client

#endif  // KILN_CLIENT_CPP_KILN_CLIENT_H_
