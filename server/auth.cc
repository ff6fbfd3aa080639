#include "server/auth.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/security/server_credentials.h"

namespace kiln::server {
namespace {

constexpr size_t kMinTokenLength = 16;

std::array<uint8_t, 32> Sha256(absl::string_view data) {
  std::array<uint8_t, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest.data());
  return digest;
}

bool IsTokenChar(char c) { return c > 0x20 && c < 0x7f; }

absl::Status LineError(absl::string_view origin, int line,
                       absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(origin, ":", line, ": ", what));
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": cannot read '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read '", path, "'"));
  }
  return text.str();
}

// OpenSSL's reason for the last failure, or `fallback`.
std::string OpenSslReason(absl::string_view fallback) {
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(err);
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<X509Ptr> FirstCertificate(const std::string& pem,
                                         absl::string_view flag,
                                         const std::string& path) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", path, "' holds no PEM certificate (",
                     OpenSslReason("no start line"), ")"));
  }
  return cert;
}

// --- the metadata processor (gRPC core interface) ---------------------------

absl::string_view SliceView(const grpc_slice& slice) {
  return absl::string_view(
      reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
      GRPC_SLICE_LENGTH(slice));
}

std::string FirstProperty(const grpc_auth_context* context, const char* name) {
  grpc_auth_property_iterator it =
      grpc_auth_context_find_properties_by_name(context, name);
  const grpc_auth_property* p = grpc_auth_property_iterator_next(&it);
  if (p == nullptr) return "";
  return std::string(p->value, p->value_length);
}

void ProcessAuthMetadata(void* state, grpc_auth_context* context,
                         const grpc_metadata* md, size_t num_md,
                         grpc_process_auth_metadata_done_cb cb,
                         void* user_data) {
  const auto* authorizer = static_cast<const Authorizer*>(state);
  absl::string_view path;
  std::optional<absl::string_view> authorization;
  const grpc_metadata* authorization_md = nullptr;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view key = SliceView(md[i].key);
    if (key == ":path") {
      path = SliceView(md[i].value);
    } else if (key == "authorization" && !authorization.has_value()) {
      authorization = SliceView(md[i].value);
      authorization_md = &md[i];
    }
  }
  absl::StatusOr<std::optional<Principal>> principal =
      authorizer->Authorize(path, authorization, absl::Now());
  if (!principal.ok()) {
    authorizer->Rejected({std::string(path),
                          FirstProperty(context, "x509_common_name"),
                          principal.status()});
    std::string message(principal.status().message());
    cb(user_data, nullptr, 0, nullptr, 0,
       static_cast<grpc_status_code>(principal.status().code()),
       message.c_str());
    return;
  }
  if (principal->has_value()) {
    grpc_auth_context_add_cstring_property(context, kClientNameProperty,
                                           (*principal)->name.c_str());
    grpc_auth_context_add_cstring_property(context, kClientRoleProperty,
                                           RoleName((*principal)->role));
  }
  // The token is consumed here: services never see it.
  cb(user_data, authorization_md, authorization_md != nullptr ? 1 : 0, nullptr,
     0, GRPC_STATUS_OK, nullptr);
}

// Server credentials over a gRPC core credentials object, so that one
// metadata processor serves both TLS and plaintext listeners (the C++
// InsecureServerCredentials takes none).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  // Must run after the base constructor has initialized gRPC.
  void Init(grpc_server_credentials* creds, const Authorizer* authorizer) {
    creds_ = creds;
    if (authorizer != nullptr && authorizer->enabled()) {
      grpc_auth_metadata_processor processor;
      processor.process = ProcessAuthMetadata;
      processor.destroy = nullptr;
      processor.state = const_cast<Authorizer*>(authorizer);
      grpc_server_credentials_set_auth_metadata_processor(creds_, processor);
    }
  }
  ~CoreServerCredentials() override {
    if (creds_ != nullptr) grpc_server_credentials_release(creds_);
  }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // The processor is fixed at construction; replacing it would silently
    // change who may call.
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  grpc_server_credentials* creds_ = nullptr;
};

}  // namespace

const char* RoleName(Role role) {
  return role == Role::kAdmin ? "admin" : "client";
}

absl::StatusOr<TokenSet> TokenSet::Parse(absl::string_view text,
                                         absl::string_view origin) {
  TokenSet set;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    absl::string_view token = fields[0];
    if (fields.size() < 2) {
      return LineError(origin, line_number,
                       "expected '<token> <role> [name=<client name>] "
                       "[expires=<RFC 3339 time>]'");
    }
    if (token.size() < kMinTokenLength) {
      return LineError(origin, line_number,
                       absl::StrCat("token is shorter than ", kMinTokenLength,
                                    " characters"));
    }
    for (char c : token) {
      if (!IsTokenChar(c)) {
        return LineError(origin, line_number,
                         "token has a character that is not printable ASCII");
      }
    }
    Entry entry;
    entry.digest = Sha256(token);
    if (fields[1] == "client") {
      entry.principal.role = Role::kClient;
    } else if (fields[1] == "admin") {
      entry.principal.role = Role::kAdmin;
    } else {
      return LineError(origin, line_number,
                       absl::StrCat("unknown role '", fields[1],
                                    "' (expected client or admin)"));
    }
    for (size_t i = 2; i < fields.size(); ++i) {
      absl::string_view value = fields[i];
      if (absl::ConsumePrefix(&value, "name=")) {
        if (value.empty()) {
          return LineError(origin, line_number, "name= is empty");
        }
        entry.principal.name = std::string(value);
      } else if (absl::ConsumePrefix(&value, "expires=")) {
        std::string error;
        if (!absl::ParseTime(absl::RFC3339_full, value, &entry.expires,
                             &error)) {
          return LineError(origin, line_number,
                           absl::StrCat("expires= is not an RFC 3339 time like "
                                        "2030-01-31T00:00:00Z: '",
                                        value, "'"));
        }
      } else {
        return LineError(origin, line_number,
                         absl::StrCat("unknown field '",
                                      fields[i].substr(0, fields[i].find('=')),
                                      "' (expected name= or expires=)"));
      }
    }
    if (entry.principal.name.empty()) {
      entry.principal.name = absl::StrCat("line ", line_number);
    }
    for (const Entry& other : set.entries_) {
      if (other.digest == entry.digest) {
        return LineError(
            origin, line_number,
            absl::StrCat("the same token as '", other.principal.name, "'"));
      }
    }
    set.entries_.push_back(std::move(entry));
  }
  return set;
}

absl::StatusOr<TokenSet> TokenSet::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "--token-file");
  if (!text.ok()) return text.status();
  absl::StatusOr<TokenSet> set = Parse(*text, path);
  if (!set.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file ", set.status().message()));
  }
  return set;
}

absl::StatusOr<Principal> TokenSet::Authenticate(absl::string_view token,
                                                 absl::Time now) const {
  std::array<uint8_t, 32> digest = Sha256(token);
  // Every entry is compared, without early exit, so the time taken does not
  // depend on which (or whether any) token matched.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    bool same =
        CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (same) match = &entry;
  }
  if (match == nullptr) {
    return absl::UnauthenticatedError("unknown bearer token");
  }
  if (now >= match->expires) {
    return absl::UnauthenticatedError(
        absl::StrCat("bearer token '", match->principal.name, "' expired at ",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", match->expires,
                                      absl::UTCTimeZone())));
  }
  return match->principal;
}

Access RequiredAccess(absl::string_view method_path) {
  if (absl::StartsWith(method_path, "/grpc.health.v1.Health/")) {
    return Access::kAnyone;
  }
  if (method_path == "/kiln.v1.CacheAdmin/Evict" ||
      method_path == "/kiln.v1.CacheAdmin/Import") {
    return Access::kAdmin;
  }
  return Access::kClient;
}

Authorizer::Authorizer(std::shared_ptr<const TokenSet> tokens,
                       std::function<void(const RejectedCall&)> on_reject)
    : tokens_(std::move(tokens)), on_reject_(std::move(on_reject)) {}

bool Authorizer::enabled() const {
  absl::MutexLock lock(&mu_);
  return tokens_ != nullptr;
}

void Authorizer::ReplaceTokens(std::shared_ptr<const TokenSet> tokens) {
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(tokens);
}

void Authorizer::Rejected(const RejectedCall& call) const {
  if (on_reject_) on_reject_(call);
}

absl::StatusOr<std::optional<Principal>> Authorizer::Authorize(
    absl::string_view method_path,
    const std::optional<absl::string_view>& authorization,
    absl::Time now) const {
  std::shared_ptr<const TokenSet> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  Access access = RequiredAccess(method_path);
  if (tokens == nullptr || access == Access::kAnyone) return std::nullopt;
  absl::string_view method = absl::StripPrefix(method_path, "/");
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        method,
        " needs a bearer token: send 'authorization: Bearer <token>' "
        "metadata (kiln --token, KILN_TOKEN)"));
  }
  absl::string_view value = absl::StripAsciiWhitespace(*authorization);
  // RFC 6750: the scheme is case-insensitive.
  if (value.size() < 7 ||
      !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError(absl::StrCat(
        method, ": the authorization metadata is not 'Bearer <token>'"));
  }
  absl::string_view token = absl::StripLeadingAsciiWhitespace(value.substr(7));
  absl::StatusOr<Principal> principal = tokens->Authenticate(token, now);
  if (!principal.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat(method, ": ", principal.status().message()));
  }
  if (access == Access::kAdmin && principal->role != Role::kAdmin) {
    return absl::PermissionDeniedError(
        absl::StrCat(method, " needs an admin token; '", principal->name,
                     "' has the client role"));
  }
  return std::optional<Principal>(*std::move(principal));
}

absl::Status ValidateSecurityConfig(const ServerConfig& config) {
  if (!config.tls_key.empty() && config.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-key needs --tls-cert (the certificate chain it belongs to)");
  }
  if (!config.tls_cert.empty() && config.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert needs --tls-key (the certificate's private key)");
  }
  if (!config.tls_client_ca.empty() && config.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS "
        "with client certificates)");
  }
  if (!config.tls_cert.empty()) {
    absl::StatusOr<std::string> cert_pem =
        ReadFile(config.tls_cert, "--tls-cert");
    if (!cert_pem.ok()) return cert_pem.status();
    absl::StatusOr<std::string> key_pem = ReadFile(config.tls_key, "--tls-key");
    if (!key_pem.ok()) return key_pem.status();
    absl::StatusOr<X509Ptr> cert =
        FirstCertificate(*cert_pem, "--tls-cert", config.tls_cert);
    if (!cert.ok()) return cert.status();
    BioPtr key_bio = MemBio(*key_pem);
    PkeyPtr key(
        PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-key: '", config.tls_key,
                       "' holds no unencrypted PEM private key (",
                       OpenSslReason("no start line"), ")"));
    }
    if (X509_check_private_key(cert->get(), key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-key: '", config.tls_key,
                       "' is not the private key of the certificate in '",
                       config.tls_cert, "'"));
    }
  }
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca_pem =
        ReadFile(config.tls_client_ca, "--tls-client-ca");
    if (!ca_pem.ok()) return ca_pem.status();
    absl::StatusOr<X509Ptr> ca =
        FirstCertificate(*ca_pem, "--tls-client-ca", config.tls_client_ca);
    if (!ca.ok()) return ca.status();
  }
  if (!config.token_file.empty()) {
    absl::StatusOr<TokenSet> tokens = TokenSet::Load(config.token_file);
    if (!tokens.ok()) return tokens.status();
    if (tokens->size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file: '", config.token_file,
                       "' has no tokens, so no call could be authorized"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerConfig& config, const Authorizer* authorizer) {
  auto creds = std::make_shared<CoreServerCredentials>();
  if (config.tls_cert.empty()) {
    creds->Init(grpc_insecure_server_credentials_create(), authorizer);
    return creds;
  }
  absl::StatusOr<std::string> cert = ReadFile(config.tls_cert, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(config.tls_key, "--tls-key");
  if (!key.ok()) return key.status();
  std::string client_ca;
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFile(config.tls_client_ca, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    client_ca = *std::move(ca);
  }
  grpc_ssl_pem_key_cert_pair pair = {key->c_str(), cert->c_str()};
  grpc_server_credentials* core = grpc_ssl_server_credentials_create_ex(
      client_ca.empty() ? nullptr : client_ca.c_str(), &pair, 1,
      client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
      nullptr);
  if (core == nullptr) {
    return absl::InvalidArgumentError(
        "gRPC refused the TLS certificate and key");
  }
  creds->Init(core, authorizer);
  return creds;
}

}  // namespace kiln::server
