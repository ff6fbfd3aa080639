#ifndef KILN_SERVER_AUTH_H_
#define KILN_SERVER_AUTH_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/config.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace kiln::server {

// What a bearer token lets its holder do. kAdmin includes kClient.
enum class Role { kClient, kAdmin };
const char* RoleName(Role role);

// The holder of a valid token.
struct Principal {
  // The token's name= field, or "line N" of the token file without one.
  std::string name;
  Role role = Role::kClient;
};

// The tokens of a token file (docs/security.md), one per line:
//
//   <token> <role> [name=<client name>] [expires=<RFC 3339 time>]
//
// `#` starts a comment; blank lines are ignored. Tokens are at least 16
// characters of printable ASCII without spaces. Only their SHA-256 digests
// are kept in memory, and a presented token is compared with every digest
// in constant time.
//
// Thread safety: immutable after Parse/Load.
class TokenSet {
 public:
  // `origin` names the source in errors ("tokens.txt:3: unknown role ...").
  static absl::StatusOr<TokenSet> Parse(absl::string_view text,
                                        absl::string_view origin);
  // INVALID_ARGUMENT naming the file (and line) when it cannot be read or
  // parsed.
  static absl::StatusOr<TokenSet> Load(const std::string& path);

  // The principal of `token` at `now`; UNAUTHENTICATED for an unknown or
  // expired token (the message never contains the token).
  absl::StatusOr<Principal> Authenticate(absl::string_view token,
                                         absl::Time now) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    Principal principal;
    absl::Time expires = absl::InfiniteFuture();
  };
  std::vector<Entry> entries_;
};

// Who may call a method.
enum class Access {
  kAnyone,  // grpc.health.v1: probes carry no token
  kClient,  // client or admin
  kAdmin,   // admin only
};
// The rule for a gRPC method path ("/kiln.v1.CacheAdmin/Evict"): Evict and
// Import need admin (artifacts are executable code and only the server
// produces them), health is open, everything else needs a client token.
Access RequiredAccess(absl::string_view method_path);

// A call turned away before it reached a service, for the request log and
// metrics.
struct RejectedCall {
  std::string method_path;  // "/kiln.v1.CacheAdmin/Evict"
  std::string client;       // principal or certificate name; empty if none
  absl::Status status;      // UNAUTHENTICATED or PERMISSION_DENIED
};

// Checks each call's `authorization: Bearer <token>` metadata against the
// token file and the method's Access. Without a token file every call is
// let through.
//
// Thread safety: Authorize may be called from any thread, concurrently with
// ReplaceTokens.
class Authorizer {
 public:
  // `tokens` null: no authentication. `on_reject` (may be empty) is called
  // for every refused call, on a gRPC thread.
  Authorizer(std::shared_ptr<const TokenSet> tokens,
             std::function<void(const RejectedCall&)> on_reject);

  // The principal for the call, std::nullopt for a call that needs none
  // (health, or no token file); UNAUTHENTICATED (no, unknown or expired
  // token) or PERMISSION_DENIED (role too low), with a message that names
  // the method and never contains the token.
  absl::StatusOr<std::optional<Principal>> Authorize(
      absl::string_view method_path,
      const std::optional<absl::string_view>& authorization,
      absl::Time now) const;

  // Called by the credentials' metadata processor for refused calls.
  void Rejected(const RejectedCall& call) const;

  bool enabled() const;
  // Swaps in a reloaded token file (SIGHUP); calls in flight keep the old.
  void ReplaceTokens(std::shared_ptr<const TokenSet> tokens);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenSet> tokens_ ABSL_GUARDED_BY(mu_);
  std::function<void(const RejectedCall&)> on_reject_;
};

// Auth context properties the metadata processor adds to authorized calls.
inline constexpr char kClientNameProperty[] = "kiln_client";
inline constexpr char kClientRoleProperty[] = "kiln_role";

// Checks the security flags before the server starts: --tls-key and
// --tls-cert together, --tls-client-ca only with them, the PEM files
// readable and well-formed (the key matching the certificate), and the
// token file parsable. INVALID_ARGUMENT with one line naming the flag.
absl::Status ValidateSecurityConfig(const ServerConfig& config);

// The listening credentials for `config`: TLS (mutual TLS with
// --tls-client-ca) or plaintext, either way with `authorizer`'s metadata
// processor when it is enabled. `authorizer` must outlive the server.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerConfig& config, const Authorizer* authorizer);

}  // namespace kiln::server

#endif  // KILN_SERVER_AUTH_H_
