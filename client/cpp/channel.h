#ifndef KILN_CLIENT_CPP_CHANNEL_H_
#define KILN_CLIENT_CPP_CHANNEL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace kiln::client {

// How to connect to a kiln-server: its address, TLS and the bearer token
// (docs/security.md). FromEnvironment() reads the KILN_* variables the
// `kiln` CLI also honours.
struct ChannelOptions {
  // HOST:PORT (or unix:/path) of the server (KILN_SERVER).
  std::string server = "127.0.0.1:50051";
  // Bearer token sent as `authorization: Bearer <token>` metadata on every
  // call (KILN_TOKEN); empty = none. Over plaintext the token travels in
  // the clear: use TLS beyond loopback.
  std::string token;
  // Speak TLS, verifying the server against the system's CAs unless tls_ca
  // is set. Implied by any tls_* file.
  bool tls = false;
  // PEM file of the CA that signed the server's certificate (KILN_TLS_CA).
  std::string tls_ca;
  // Client certificate chain and key (PEM) for mutual TLS (KILN_TLS_CERT,
  // KILN_TLS_KEY); both or neither.
  std::string tls_cert;
  std::string tls_key;
  // Name checked against the server's certificate instead of the host in
  // `server` (KILN_TLS_SERVER_NAME), e.g. when connecting by IP to a
  // certificate issued for a DNS name.
  std::string tls_server_name;
  // Largest message sent or received.
  int64_t max_message_bytes = int64_t{64} << 20;

  // The defaults above, overridden by KILN_SERVER, KILN_TOKEN, KILN_TLS_CA,
  // KILN_TLS_CERT, KILN_TLS_KEY and KILN_TLS_SERVER_NAME where set.
  static ChannelOptions FromEnvironment();

  // True when the channel speaks TLS.
  bool UsesTls() const;
};

// A channel to the server described by `options`: TLS or plaintext, with
// client keepalive pings the server permits (every 30 s, also between
// calls; see docs/operations.md) and, when `options.token` is set, the
// token attached to every call. INVALID_ARGUMENT naming the option for an
// empty address, a certificate without its key (or the reverse) and
// unreadable PEM files. Connecting is lazy: an unreachable server shows in
// the first call's status.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const ChannelOptions& options);

}  // namespace kiln::client

#endif  // KILN_CLIENT_CPP_CHANNEL_H_
