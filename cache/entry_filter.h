#ifndef KILN_CACHE_ENTRY_FILTER_H_
#define KILN_CACHE_ENTRY_FILTER_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "kiln/v1/cache_admin.pb.h"
#include "kiln/v1/compiler_service.pb.h"

namespace kiln::cache {

// kiln.v1.EntryFilter, the selection CacheAdmin's List, Evict and Export
// share. Unset fields do not filter; set ones must all match. Ages count
// from the entry's last use (its creation, if never used).

// INVALID_ARGUMENT naming the offending field as "<path>.<field>": a
// graph_digest that is not 64 lowercase hex characters, a negative age or
// size, a min above its max, a target or client over 1024 bytes.
absl::Status ValidateEntryFilter(const v1::EntryFilter& filter,
                                 std::string_view path);

// Whether `info` is selected by a (valid) filter at `now_unix_ms`.
bool EntryFilterMatches(const v1::EntryFilter& filter,
                        const v1::ArtifactInfo& info, int64_t now_unix_ms);

}  // namespace kiln::cache

#endif  // KILN_CACHE_ENTRY_FILTER_H_
