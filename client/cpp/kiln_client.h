#ifndef KILN_CLIENT_CPP_KILN_CLIENT_H_
#define KILN_CLIENT_CPP_KILN_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
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

  // kiln.v1.Compiler, one method per rpc (compiler_service.proto says what
  // each field means). Errors follow the class's convention ("Compile
  // failed: graph.nodes[7] (aten::mm.default): inner dimensions 3 and 4
  // differ"), keeping the server's status code. A status with a payload
  // keeps it: GuardFailureOf() reads the failing guard of an Execute, and
  // RetryAfterOf() the server's retry hint for a full compile queue.
  absl::StatusOr<v1::CompileResponse> Compile(
      const v1::CompileRequest& request);
  absl::StatusOr<v1::LookupResponse> Lookup(const v1::LookupRequest& request);
  absl::StatusOr<v1::ExecuteResponse> Execute(
      const v1::ExecuteRequest& request);
  // Execute through ExecuteStream, for tensors larger than one message:
  // every input whose inline (`raw`) data is over the server's
  // stream_chunk_bytes goes in chunks, and the response comes back with
  // every tensor inline again. Asks Capabilities once for the chunk size.
  absl::StatusOr<v1::ExecuteResponse> ExecuteStreamed(
      v1::ExecuteRequest request);
  absl::Status RegisterSharedMemory(const std::string& name,
                                    const std::string& key, uint64_t offset,
                                    uint64_t byte_size);
  absl::Status UnregisterSharedMemory(const std::string& name);
  absl::StatusOr<v1::GetArtifactResponse> GetArtifact(
      const std::string& artifact_key, bool include_binary = false);

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

  // ToStatus, plus the payloads the server's trailing metadata carries.
  absl::Status CallStatus(const grpc::ClientContext& context,
                          const grpc::Status& status,
                          const std::string& method) const;
  absl::StatusOr<int64_t> StreamChunkBytes();

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Compiler::Stub> compiler_;
  std::unique_ptr<v1::CacheAdmin::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::atomic<int64_t> stream_chunk_bytes_{0};
};

// The guard that failed, for a FAILED_PRECONDITION from Execute (the
// server's `kiln-guard-failure-bin` trailing metadata); nullopt otherwise.
std::optional<v1::GuardFailure> GuardFailureOf(const absl::Status& status);

// How long the server asked to wait before retrying (a full compile queue);
// nullopt when it gave no hint.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

}  // namespace kiln::client

#endif  // KILN_CLIENT_CPP_KILN_CLIENT_H_
