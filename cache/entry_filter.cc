#include "cache/entry_filter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "cache/keys.h"

namespace kiln::cache {
namespace {

constexpr size_t kMaxStringBytes = 1024;

absl::Status Invalid(std::string_view path, std::string_view field,
                     std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(path), ".", std::string(field), ": ", std::string(why)));
}

absl::Status CheckNonNegative(std::string_view path, std::string_view field,
                              bool has, int64_t value) {
  if (has && value < 0) {
    return Invalid(path, field,
                   absl::StrCat("must not be negative, got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEntryFilter(const v1::EntryFilter& filter,
                                 std::string_view path) {
  if (!filter.graph_digest().empty() && !IsHexDigest(filter.graph_digest())) {
    return Invalid(path, "graph_digest",
                   absl::StrCat("expected 64 lowercase hex characters, got '",
                                filter.graph_digest().substr(0, 80), "'"));
  }
  if (filter.target().size() > kMaxStringBytes) {
    return Invalid(path, "target",
                   absl::StrCat("longer than ", kMaxStringBytes, " bytes"));
  }
  if (filter.producing_client().size() > kMaxStringBytes) {
    return Invalid(path, "producing_client",
                   absl::StrCat("longer than ", kMaxStringBytes, " bytes"));
  }
  for (absl::Status s :
       {CheckNonNegative(path, "min_age_s", filter.has_min_age_s(),
                         filter.min_age_s()),
        CheckNonNegative(path, "max_age_s", filter.has_max_age_s(),
                         filter.max_age_s()),
        CheckNonNegative(path, "min_bytes", filter.has_min_bytes(),
                         filter.min_bytes()),
        CheckNonNegative(path, "max_bytes", filter.has_max_bytes(),
                         filter.max_bytes())}) {
    if (!s.ok()) return s;
  }
  // Ages in seconds become milliseconds when compared.
  constexpr int64_t kMaxAgeS = int64_t{1} << 40;
  if (filter.min_age_s() > kMaxAgeS) {
    return Invalid(path, "min_age_s", "too large");
  }
  if (filter.max_age_s() > kMaxAgeS) {
    return Invalid(path, "max_age_s", "too large");
  }
  if (filter.has_min_age_s() && filter.has_max_age_s() &&
      filter.min_age_s() > filter.max_age_s()) {
    return Invalid(
        path, "min_age_s",
        absl::StrCat("must not exceed max_age_s (", filter.min_age_s(), " > ",
                     filter.max_age_s(), ")"));
  }
  if (filter.has_min_bytes() && filter.has_max_bytes() &&
      filter.min_bytes() > filter.max_bytes()) {
    return Invalid(
        path, "min_bytes",
        absl::StrCat("must not exceed max_bytes (", filter.min_bytes(), " > ",
                     filter.max_bytes(), ")"));
  }
  return absl::OkStatus();
}

bool EntryFilterMatches(const v1::EntryFilter& filter,
                        const v1::ArtifactInfo& info, int64_t now_unix_ms) {
  const int64_t age_ms = now_unix_ms - info.last_used_unix_ms();
  return (filter.graph_digest().empty() ||
          filter.graph_digest() == info.graph_digest()) &&
         (filter.target().empty() || filter.target() == info.target()) &&
         (!filter.has_min_age_s() || age_ms >= filter.min_age_s() * 1000) &&
         (!filter.has_max_age_s() || age_ms <= filter.max_age_s() * 1000) &&
         (!filter.has_min_bytes() || info.size_bytes() >= filter.min_bytes()) &&
         (!filter.has_max_bytes() || info.size_bytes() <= filter.max_bytes()) &&
         (filter.producing_client().empty() ||
          filter.producing_client() == info.producing_client());
}

}  // namespace kiln::cache
