#include "client/cpp/kiln_client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

namespace {

constexpr char kGuardFailureMetadata[] = "kiln-guard-failure-bin";
constexpr char kGuardFailurePayload[] =
    "type.googleapis.com/kiln.v1.GuardFailure";
constexpr char kRetryAfterMetadata[] = "kiln-retry-after-ms";
constexpr char kRetryAfterPayload[] = "kiln.dev/retry-after-ms";

// The tensors of a response that carry data, in TensorChunk numbering:
// outputs, then mutations.
std::vector<v1::Tensor*> ResponseTensors(v1::ExecuteResponse* response) {
  std::vector<v1::Tensor*> out;
  for (v1::OutputValue& o : *response->mutable_outputs()) {
    out.push_back(o.has_tensor() ? o.mutable_tensor() : nullptr);
  }
  for (v1::InputMutation& m : *response->mutable_mutations()) {
    out.push_back(m.mutable_value());
  }
  return out;
}

}  // namespace

absl::Status KilnClient::CallStatus(const grpc::ClientContext& context,
                                    const grpc::Status& status,
                                    const std::string& method) const {
  absl::Status out = ToStatus(status, method);
  if (out.ok()) return out;
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find(kGuardFailureMetadata); it != trailers.end()) {
    out.SetPayload(
        kGuardFailurePayload,
        absl::Cord(std::string(it->second.data(), it->second.size())));
  }
  if (auto it = trailers.find(kRetryAfterMetadata); it != trailers.end()) {
    out.SetPayload(
        kRetryAfterPayload,
        absl::Cord(std::string(it->second.data(), it->second.size())));
  }
  return out;
}

absl::StatusOr<v1::CompileResponse> KilnClient::Compile(
    const v1::CompileRequest& request) {
  v1::CompileResponse response;
  auto context = NewContext();
  grpc::Status status = compiler_->Compile(context.get(), request, &response);
  if (!status.ok()) return CallStatus(*context, status, "Compile");
  return response;
}

absl::StatusOr<v1::LookupResponse> KilnClient::Lookup(
    const v1::LookupRequest& request) {
  v1::LookupResponse response;
  auto context = NewContext();
  grpc::Status status = compiler_->Lookup(context.get(), request, &response);
  if (!status.ok()) return CallStatus(*context, status, "Lookup");
  return response;
}

absl::StatusOr<v1::ExecuteResponse> KilnClient::Execute(
    const v1::ExecuteRequest& request) {
  v1::ExecuteResponse response;
  auto context = NewContext();
  grpc::Status status = compiler_->Execute(context.get(), request, &response);
  if (!status.ok()) return CallStatus(*context, status, "Execute");
  return response;
}

absl::StatusOr<int64_t> KilnClient::StreamChunkBytes() {
  int64_t known = stream_chunk_bytes_.load();
  if (known > 0) return known;
  absl::StatusOr<v1::CapabilitiesResponse> caps = Capabilities();
  if (!caps.ok()) return caps.status();
  int64_t chunk = caps->limits().stream_chunk_bytes();
  if (chunk <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kiln-server at ", options_.server,
        " advertises no stream_chunk_bytes; it cannot stream tensors"));
  }
  stream_chunk_bytes_.store(chunk);
  return chunk;
}

absl::StatusOr<v1::ExecuteResponse> KilnClient::ExecuteStreamed(
    v1::ExecuteRequest request) {
  absl::StatusOr<int64_t> chunk_bytes = StreamChunkBytes();
  if (!chunk_bytes.ok()) return chunk_bytes.status();
  const size_t chunk = static_cast<size_t>(*chunk_bytes);
  // Inline data stays inline while the header stays well under one message.
  const int64_t inline_budget = options_.max_message_bytes / 2;
  struct Pending {
    int index;
    std::string data;
  };
  std::vector<Pending> pending;
  int64_t inline_bytes = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    v1::InputValue* in = request.mutable_inputs(i);
    if (!in->has_tensor() || !in->tensor().has_raw()) continue;
    int64_t size = static_cast<int64_t>(in->tensor().raw().size());
    if (size <= *chunk_bytes && inline_bytes + size <= inline_budget) {
      inline_bytes += size;
      continue;
    }
    Pending p{i, std::move(*in->mutable_tensor()->mutable_raw())};
    in->mutable_tensor()->mutable_chunked()->set_byte_size(p.data.size());
    pending.push_back(std::move(p));
  }

  auto context = NewContext();
  auto stream = compiler_->ExecuteStream(context.get());
  auto finish = [&]() -> absl::Status {
    grpc::Status status = stream->Finish();
    absl::Status out = CallStatus(*context, status, "ExecuteStream");
    if (out.ok()) {
      return absl::InternalError(
          "ExecuteStream failed: the server ended the stream early without "
          "an error");
    }
    return out;
  };
  v1::ExecuteStreamRequest message;
  *message.mutable_header() = std::move(request);
  bool written = stream->Write(message);
  for (size_t k = 0; written && k < pending.size(); ++k) {
    const Pending& p = pending[k];
    for (size_t offset = 0; written && offset < p.data.size();
         offset += chunk) {
      v1::ExecuteStreamRequest piece;
      v1::TensorChunk* c = piece.mutable_chunk();
      c->set_tensor_index(p.index);
      c->set_offset(offset);
      c->set_data(
          p.data.substr(offset, std::min(chunk, p.data.size() - offset)));
      written = stream->Write(piece);
    }
  }
  if (written) {
    v1::ExecuteStreamRequest end;
    end.mutable_end();
    written = stream->Write(end);
  }
  stream->WritesDone();
  if (!written) return finish();

  v1::ExecuteStreamResponse reply;
  if (!stream->Read(&reply)) return finish();
  if (!reply.has_header()) {
    return absl::InternalError(
        "ExecuteStream failed: the server's first message is not a header");
  }
  v1::ExecuteResponse response = std::move(*reply.mutable_header());
  std::vector<v1::Tensor*> tensors = ResponseTensors(&response);
  std::vector<std::string> data(tensors.size());
  bool ended = false;
  while (stream->Read(&reply)) {
    if (reply.has_end()) {
      ended = true;
      continue;
    }
    if (!reply.has_chunk()) continue;
    const v1::TensorChunk& c = reply.chunk();
    if (c.tensor_index() < 0 ||
        c.tensor_index() >= static_cast<int>(tensors.size()) ||
        c.offset() != data[c.tensor_index()].size()) {
      return absl::InternalError(absl::StrCat(
          "ExecuteStream failed: the server sent a chunk out of order (tensor ",
          c.tensor_index(), ", offset ", c.offset(), ")"));
    }
    data[c.tensor_index()].append(c.data());
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) return CallStatus(*context, status, "ExecuteStream");
  if (!ended) {
    return absl::InternalError(
        "ExecuteStream failed: the server's stream ended without its end "
        "marker");
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    v1::Tensor* t = tensors[i];
    if (t == nullptr || !t->has_chunked()) continue;
    if (data[i].size() != t->chunked().byte_size()) {
      return absl::InternalError(absl::StrCat(
          "ExecuteStream failed: tensor ", i, " came with ", data[i].size(),
          " of its ", t->chunked().byte_size(), " bytes"));
    }
    t->set_raw(std::move(data[i]));
  }
  return response;
}

absl::Status KilnClient::RegisterSharedMemory(const std::string& name,
                                              const std::string& key,
                                              uint64_t offset,
                                              uint64_t byte_size) {
  v1::RegisterSharedMemoryRequest request;
  request.set_name(name);
  request.set_key(key);
  request.set_offset(offset);
  request.set_byte_size(byte_size);
  v1::RegisterSharedMemoryResponse response;
  auto context = NewContext();
  grpc::Status status =
      compiler_->RegisterSharedMemory(context.get(), request, &response);
  return CallStatus(*context, status, "RegisterSharedMemory");
}

absl::Status KilnClient::UnregisterSharedMemory(const std::string& name) {
  v1::UnregisterSharedMemoryRequest request;
  request.set_name(name);
  v1::UnregisterSharedMemoryResponse response;
  auto context = NewContext();
  grpc::Status status =
      compiler_->UnregisterSharedMemory(context.get(), request, &response);
  return CallStatus(*context, status, "UnregisterSharedMemory");
}

absl::StatusOr<v1::GetArtifactResponse> KilnClient::GetArtifact(
    const std::string& artifact_key, bool include_binary) {
  v1::GetArtifactRequest request;
  request.set_artifact_key(artifact_key);
  request.set_include_binary(include_binary);
  v1::GetArtifactResponse response;
  auto context = NewContext();
  grpc::Status status =
      compiler_->GetArtifact(context.get(), request, &response);
  if (!status.ok()) return CallStatus(*context, status, "GetArtifact");
  return response;
}

std::optional<v1::GuardFailure> GuardFailureOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kGuardFailurePayload);
  if (!payload.has_value()) return std::nullopt;
  v1::GuardFailure failure;
  if (!failure.ParseFromString(std::string(*payload))) return std::nullopt;
  return failure;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms) ||
      ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

}  // namespace kiln::client
