#ifndef KILN_CACHE_KEYS_H_
#define KILN_CACHE_KEYS_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace kiln::cache {

// Cache keys (DESIGN.md, "Cache keys"):
//
//   graph_digest  = SHA-256 of the canonical graph        (graph_digest.h)
//   guards_digest = SHA-256 of the canonical GuardContext (guards/guard_set.h)
//   target        = device target + code-changing options + compiler
//                   version + operator salt, e.g. "cpu-x86_64-avx2-k1-salt0"
//   artifact key  = SHA-256 over (key format, graph_digest, guards_digest,
//                   target, compiler version, salt)
//
// The compiler version and the salt are part of the target string and are
// hashed into the artifact key once more on their own, so no key made by
// one (version, salt) can ever be read by another. Digests and keys are
// lowercase hex, 64 characters.

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The deterministic protobuf serialization that digests are computed over
// (map entries sorted; same message, same bytes within one protobuf
// version's wire format).
std::string SerializeDeterministic(const google::protobuf::MessageLite& m);

// True for 64 lowercase hex characters.
bool IsHexDigest(std::string_view s);

// The resolved target string: `device_target` (a backend's target such as
// "cpu-x86_64-avx2" or "cuda-sm_90"), each code-changing option as
// "-key=value" sorted by key (with '-', '=', '%' and non-printable bytes
// %-escaped, so distinct option sets never give the same string), then
// "-k<compiler_version>-salt<salt>".
std::string ResolveTarget(std::string_view device_target,
                          const std::map<std::string, std::string>& options,
                          int compiler_version, int salt);

// The suffix ResolveTarget ends every target with.
std::string TargetSuffix(int compiler_version, int salt);

// INVALID_ARGUMENT unless `target` was resolved for this compiler version
// and salt.
absl::Status CheckTarget(std::string_view target, int compiler_version,
                         int salt);

// The components of an artifact key.
struct ArtifactKeyParts {
  std::string_view graph_digest;
  std::string_view guards_digest;
  std::string_view target;
  int compiler_version = 0;
  int salt = 0;
};

// H(graph_digest, guards_digest, target, version, salt): length-prefixed
// components under a key-format tag, hashed with SHA-256.
std::string ArtifactKey(const ArtifactKeyParts& parts);

// Logs (spdlog debug) one key with all its components, so a miss can be
// explained component by component from the log alone.
void LogArtifactKey(std::string_view what, std::string_view artifact_key,
                    const ArtifactKeyParts& parts);

// Store record keys (docs/store.md):
//   entries family:  "entry/<graph_digest>/<target>"   the entry list
//                    "hints/<graph_digest>"            wobbled dims
//   metadata family: "<artifact_key>"
//   artifacts family:"<artifact_key>"
std::string EntryListRecordKey(std::string_view graph_digest,
                               std::string_view target);
std::string HintsRecordKey(std::string_view graph_digest);
inline constexpr std::string_view kEntryListPrefix = "entry/";
inline constexpr std::string_view kHintsPrefix = "hints/";

}  // namespace kiln::cache

#endif  // KILN_CACHE_KEYS_H_
