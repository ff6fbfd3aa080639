#include "client/cpp/kiln_client.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace kiln::client {
namespace {

// A short reason for a transport failure, from gRPC's verbose message.
std::string TransportReason(const std::string& message) {
  struct Known {
    const char* needle;
    const char* reason;
  };
  static constexpr Known kKnown[] = {
      {"Connection refused", "connection refused (is kiln-server running?)"},
      {"DNS resolution failed", "cannot resolve the host name"},
      {"Name or service not known", "cannot resolve the host name"},
      {"No route to host", "no route to host"},
      {"Network is unreachable", "network is unreachable"},
      {"No such file or directory", "no such socket"},
      {"Connection reset", "connection reset by the server"},
      {"Socket closed", "the server closed the connection"},
      {"ssl", "TLS handshake failed"},
      {"SSL", "TLS handshake failed"},
      {"handshake", "TLS handshake failed"},
  };
  for (const Known& k : kKnown) {
    if (absl::StrContains(message, k.needle)) return k.reason;
  }
  return "the server is unavailable";
}

}  // namespace

const char* HealthName(Health health) {
  switch (health) {
    case Health::kServing:
      return "SERVING";
    case Health::kNotServing:
      return "NOT_SERVING";
    case Health::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case Health::kUnknown:
      break;
  }
  return "UNKNOWN";
}

KilnClient::KilnClient(ClientOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<KilnClient>> KilnClient::Create(
    ClientOptions options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("server address must not be empty");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  std::unique_ptr<KilnClient> client(new KilnClient(std::move(options)));
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateChannel(client->options_);
  if (!channel.ok()) return channel.status();
  client->channel_ = *std::move(channel);
  client->compiler_ = v1::Compiler::NewStub(client->channel_);
  client->admin_ = v1::CacheAdmin::NewStub(client->channel_);
  client->health_ = grpc::health::v1::Health::NewStub(client->channel_);
  return client;
}

std::unique_ptr<grpc::ClientContext> KilnClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  return context;
}

absl::Status KilnClient::ToStatus(const grpc::Status& status,
                                  const std::string& method) const {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  const std::string& server = options_.server;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat("cannot reach kiln-server at ", server, ": ",
                       TransportReason(status.error_message())));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(
          absl::StrCat("kiln-server at ", server, " did not answer ", method,
                       " within ", absl::FormatDuration(options_.timeout)));
    case grpc::StatusCode::UNIMPLEMENTED:
      if (status.error_message().empty()) {
        return absl::UnimplementedError(
            absl::StrCat("kiln-server at ", server, " does not implement ",
                         method, " (is it a kiln-server of this version?)"));
      }
      break;
    default:
      break;
  }
  return absl::Status(
      code, absl::StrCat(method, " failed: ", status.error_message()));
}

absl::StatusOr<Health> KilnClient::CheckHealth(const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto context = NewContext();
  grpc::Status status = health_->Check(context.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    return Health::kServiceUnknown;
  }
  if (!status.ok()) return ToStatus(status, "Health.Check");
  switch (response.status()) {
    case grpc::health::v1::HealthCheckResponse::SERVING:
      return Health::kServing;
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING:
      return Health::kNotServing;
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN:
      return Health::kServiceUnknown;
    default:
      return Health::kUnknown;
  }
}

absl::StatusOr<v1::CapabilitiesResponse> KilnClient::Capabilities() {
  v1::CapabilitiesRequest request;
  v1::CapabilitiesResponse response;
  auto context = NewContext();
  grpc::Status status =
      compiler_->Capabilities(context.get(), request, &response);
  if (!status.ok()) return ToStatus(status, "Capabilities");
  return response;
}

}  // namespace kiln::client
