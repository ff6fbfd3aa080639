// ArtifactCache: entries exported by another cache (CacheAdmin.Import),
// stored in one WriteBatch with the evictions that make room.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/artifact_cache_impl.h"
#include "cache/keys.h"
#include "cache/sync_point.h"
#include "spdlog/spdlog.h"

namespace kiln::cache::internal {
namespace {

// The entry's identity, checked before anything is staged.
absl::Status CheckImportEntry(const ImportEntry& e, int compiler_version,
                              int salt) {
  if (e.guards == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact ", e.artifact_key, ": guards missing"));
  }
  ArtifactKeyParts parts{e.graph_digest, e.guards->digest(), e.target,
                         compiler_version, salt};
  if (ArtifactKey(parts) != e.artifact_key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact ", e.artifact_key,
        ": the key does not match its graph digest, guards and target"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<absl::StatusOr<ImportOutcome>>> CacheImpl::Import(
    std::vector<ImportEntry> entries) {
  std::vector<absl::StatusOr<ImportOutcome>> outcomes;
  outcomes.reserve(entries.size());
  for (const ImportEntry& e : entries) {
    absl::Status s = IsHexDigest(e.artifact_key)
                         ? CheckKeyParts(e.graph_digest, e.target)
                         : absl::InvalidArgumentError(
                               "artifact_key: expected 64 lowercase hex "
                               "characters");
    if (s.ok()) {
      s = CheckImportEntry(e, options_.compiler_version, options_.salt);
    }
    if (s.ok()) {
      outcomes.emplace_back(ImportOutcome::kImported);
    } else {
      outcomes.emplace_back(std::move(s));
    }
  }

  absl::MutexLock lock(&write_mu_);
  if (closed_) return absl::FailedPreconditionError("the cache is closed");
  const int64_t now_ms = NowMs();
  const int64_t hard = hard_max_bytes();
  Store::Batch batch;
  StagedLists staged;
  std::vector<std::shared_ptr<CacheEntry>> added;
  absl::flat_hash_set<std::string> in_batch;
  int64_t added_bytes = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!outcomes[i].ok()) continue;
    ImportEntry& e = entries[i];
    if (in_batch.contains(e.artifact_key) ||
        FindEntry(e.artifact_key) != nullptr) {
      outcomes[i] = ImportOutcome::kAlreadyPresent;
      continue;
    }
    std::shared_ptr<EntryList> list =
        StagedList(staged, e.graph_digest, e.target);
    if (static_cast<int>(list->entries.size()) >= options_.recompile_limit) {
      outcomes[i] = RecompileLimitError(*list, options_.recompile_limit);
      continue;
    }
    std::string framed =
        EncodeArtifact(e.payload, store_->options().compress_min_bytes,
                       store_->options().zstd_level);
    const int64_t stored = static_cast<int64_t>(framed.size());
    if (hard > 0 && stored > hard) {
      outcomes[i] = absl::ResourceExhaustedError(
          absl::StrCat("artifact ", e.artifact_key, " takes ", stored,
                       " bytes stored, more than the cache's hard limit of ",
                       hard, " bytes"));
      continue;
    }
    auto entry = std::make_shared<CacheEntry>();
    entry->artifact_key = e.artifact_key;
    entry->graph_digest = e.graph_digest;
    entry->guards_digest = e.guards->digest();
    entry->target = e.target;
    entry->guards = e.guards;
    entry->output_spec = std::move(e.output_spec);
    entry->compiler_version = options_.compiler_version;
    entry->salt = options_.salt;
    entry->stored_bytes = stored;
    entry->payload_bytes = static_cast<int64_t>(e.payload.size());
    entry->created_unix_ms =
        e.created_unix_ms > 0 ? std::min(e.created_unix_ms, now_ms) : now_ms;
    entry->compile_time_us = std::max<int64_t>(0, e.compile_time_us);
    entry->producing_client = std::move(e.producing_client);
    entry->last_used_unix_ms.store(now_ms);

    // Newest first: before the first entry created earlier.
    auto& list_entries = list->entries;
    auto at =
        std::find_if(list_entries.begin(), list_entries.end(),
                     [&](const std::shared_ptr<CacheEntry>& other) {
                       return other->created_unix_ms < entry->created_unix_ms;
                     });
    list_entries.insert(at, entry);
    batch.PutEncodedArtifact(entry->artifact_key, std::move(framed));
    batch.Put(Family::kMetadata, entry->artifact_key,
              SerializeDeterministic(entry->ToMetadata()));
    in_batch.insert(entry->artifact_key);
    added.push_back(std::move(entry));
    added_bytes += stored;
  }
  if (added.empty()) return outcomes;

  int64_t projected = total_bytes_ + added_bytes;
  std::vector<std::shared_ptr<CacheEntry>> victims;
  if (options_.max_bytes > 0 && projected > options_.max_bytes) {
    // Only entries stored before this import are in the index to claim.
    victims = ClaimVictimsLocked(projected - options_.max_bytes, nullptr);
    for (const auto& v : victims) projected -= v->stored_bytes;
  }
  if (hard > 0 && projected > hard) {
    for (const auto& v : victims) v->ReleaseEvictionClaim();
    return absl::ResourceExhaustedError(
        absl::StrCat("the artifact cache is full: importing ", added_bytes,
                     " more bytes would make ", projected,
                     " bytes, over the hard limit of ", hard, " bytes"));
  }
  StageRemovals(victims, batch, staged);
  WriteLists(staged, batch);
  KILN_SYNC_POINT("ArtifactCache::Import:BeforeCommit");
  absl::Status s = store_->Commit(batch);
  if (!s.ok()) {
    for (const auto& v : victims) v->ReleaseEvictionClaim();
    return s;
  }
  PublishLocked(staged, victims, added);
  total_bytes_ = projected;
  total_bytes_seen_.store(total_bytes_);
  for (const auto& v : victims) {
    payloads_.Erase(v->artifact_key);
    LogRemoval(*v, RemovalReason::kBudget);
  }
  evictions_.fetch_add(static_cast<int64_t>(victims.size()));
  for (const auto& e : added) {
    spdlog::info(
        "artifact cache: imported artifact_key={} graph_digest={} "
        "guards_digest={} target={}: {} bytes ({} stored), produced by '{}'",
        e->artifact_key, e->graph_digest, e->guards_digest, e->target,
        e->payload_bytes, e->stored_bytes, e->producing_client);
  }
  return outcomes;
}

}  // namespace kiln::cache::internal
