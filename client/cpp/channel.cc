#include "client/cpp/channel.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_interceptor.h"

namespace kiln::client {
namespace {

// Client keepalive: a ping after 30 s without traffic, also between calls,
// so a dead server or a silently dropped connection is noticed. kiln-server
// accepts pings every 10 s or more (docs/operations.md).
constexpr int kKeepaliveTimeMs = 30 * 1000;
constexpr int kKeepaliveTimeoutMs = 10 * 1000;

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read ", option, " '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Adds `authorization: Bearer <token>` to every call on the channel.
class TokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class TokenInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(&header_);
  }

 private:
  const std::string header_;
};

void FromEnv(const char* name, std::string& field) {
  const char* value = std::getenv(name);
  if (value != nullptr && *value != '\0') field = value;
}

}  // namespace

ChannelOptions ChannelOptions::FromEnvironment() {
  ChannelOptions options;
  FromEnv("KILN_SERVER", options.server);
  FromEnv("KILN_TOKEN", options.token);
  FromEnv("KILN_TLS_CA", options.tls_ca);
  FromEnv("KILN_TLS_CERT", options.tls_cert);
  FromEnv("KILN_TLS_KEY", options.tls_key);
  FromEnv("KILN_TLS_SERVER_NAME", options.tls_server_name);
  return options;
}

bool ChannelOptions::UsesTls() const {
  return tls || !tls_ca.empty() || !tls_cert.empty() || !tls_key.empty() ||
         !tls_server_name.empty();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const ChannelOptions& options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("server address must not be empty");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        options.tls_cert.empty()
            ? "a TLS client key needs its certificate (--tls-cert)"
            : "a TLS client certificate needs its key (--tls-key)");
  }
  if (options.token.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("the token must be a single line");
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.UsesTls()) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadPem(options.tls_ca, "--tls-ca");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.tls_cert.empty()) {
      absl::StatusOr<std::string> cert =
          ReadPem(options.tls_cert, "--tls-cert");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPem(options.tls_key, "--tls-key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("gRPC refused the TLS options");
  }

  if (options.token.empty()) {
    return grpc::CreateCustomChannel(options.server, credentials, args);
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<TokenInterceptorFactory>(options.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      options.server, credentials, args, std::move(interceptors));
}

}  // namespace kiln::client
