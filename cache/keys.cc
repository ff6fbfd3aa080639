#include "cache/keys.h"

#include <openssl/sha.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "spdlog/spdlog.h"

namespace kiln::cache {
namespace {

// Bumped if the way components are combined into an artifact key changes.
constexpr char kArtifactKeyFormat[] = "kiln-artifact-key-v1";

std::string EscapeOption(std::string_view s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '-' || c == '=' || c == '%' || u < 0x21 || u > 0x7e) {
      out += absl::StrFormat("%%%02X", u);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendComponent(std::string& out, std::string_view value) {
  // Length-prefixed, so no two component lists encode alike.
  absl::StrAppend(&out, value.size(), ":");
  out.append(value.data(), value.size());
  out.push_back(';');
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA256_DIGEST_LENGTH, '\0');
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string SerializeDeterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

bool IsHexDigest(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string TargetSuffix(int compiler_version, int salt) {
  return absl::StrCat("-k", compiler_version, "-salt", salt);
}

std::string ResolveTarget(std::string_view device_target,
                          const std::map<std::string, std::string>& options,
                          int compiler_version, int salt) {
  std::string out(device_target);
  for (const auto& [key, value] : options) {
    absl::StrAppend(&out, "-", EscapeOption(key), "=", EscapeOption(value));
  }
  absl::StrAppend(&out, TargetSuffix(compiler_version, salt));
  return out;
}

absl::Status CheckTarget(std::string_view target, int compiler_version,
                         int salt) {
  std::string suffix = TargetSuffix(compiler_version, salt);
  if (target.size() <= suffix.size() ||
      !absl::EndsWith(absl::string_view(target.data(), target.size()),
                      suffix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target '", std::string(target),
                     "' was not resolved for this cache (compiler version ",
                     compiler_version, ", salt ", salt,
                     ": expected a target ending in '", suffix, "')"));
  }
  return absl::OkStatus();
}

std::string ArtifactKey(const ArtifactKeyParts& parts) {
  std::string material;
  AppendComponent(material, kArtifactKeyFormat);
  AppendComponent(material, parts.graph_digest);
  AppendComponent(material, parts.guards_digest);
  AppendComponent(material, parts.target);
  AppendComponent(material, absl::StrCat(parts.compiler_version));
  AppendComponent(material, absl::StrCat(parts.salt));
  return Sha256Hex(material);
}

void LogArtifactKey(std::string_view what, std::string_view artifact_key,
                    const ArtifactKeyParts& parts) {
  spdlog::debug(
      "{}: artifact_key={} graph_digest={} guards_digest={} target={} "
      "compiler_version={} salt={}",
      what, artifact_key, parts.graph_digest, parts.guards_digest, parts.target,
      parts.compiler_version, parts.salt);
}

std::string EntryListRecordKey(std::string_view graph_digest,
                               std::string_view target) {
  return absl::StrCat(std::string(kEntryListPrefix), std::string(graph_digest),
                      "/", std::string(target));
}

std::string HintsRecordKey(std::string_view graph_digest) {
  return absl::StrCat(std::string(kHintsPrefix), std::string(graph_digest));
}

}  // namespace kiln::cache
