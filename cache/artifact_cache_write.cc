// ArtifactCache: storing new entries, removing entries (eviction by budget
// or request, corruption) and choosing what to evict. Every change is one
// WriteBatch: an artifact, its metadata and the entry lists that mention it
// are written or deleted together, with the evictions that make room.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/artifact_cache_impl.h"
#include "cache/entry_filter.h"
#include "cache/keys.h"
#include "cache/sync_point.h"
#include "spdlog/spdlog.h"

namespace kiln::cache::internal {
const char* RemovalReasonName(RemovalReason reason) {
  switch (reason) {
    case RemovalReason::kBudget:
      return "over the size budget";
    case RemovalReason::kEvictRequest:
      return "evict request";
    case RemovalReason::kCorrupt:
      return "corrupt";
    case RemovalReason::kReplaced:
      return "replaced";
  }
  return "?";
}

std::shared_ptr<EntryList> CacheImpl::StagedList(
    StagedLists& staged, const std::string& graph_digest,
    const std::string& target) {
  std::string record_key = EntryListRecordKey(graph_digest, target);
  auto it = staged.find(record_key);
  if (it != staged.end()) return it->second;
  std::shared_ptr<const EntryList> current = FindList(graph_digest, target);
  auto copy = current != nullptr ? std::make_shared<EntryList>(*current)
                                 : std::make_shared<EntryList>();
  if (current == nullptr) {
    copy->graph_digest = graph_digest;
    copy->target = target;
    copy->counters = CountersFor(target);
  }
  staged.emplace(record_key, copy);
  return copy;
}

void CacheImpl::StageRemovals(
    const std::vector<std::shared_ptr<CacheEntry>>& gone, Store::Batch& batch,
    StagedLists& staged) {
  for (const auto& e : gone) {
    batch.Delete(Family::kArtifacts, e->artifact_key);
    batch.Delete(Family::kMetadata, e->artifact_key);
    std::shared_ptr<EntryList> list =
        StagedList(staged, e->graph_digest, e->target);
    auto& entries = list->entries;
    entries.erase(std::remove(entries.begin(), entries.end(), e),
                  entries.end());
  }
}

void CacheImpl::WriteLists(const StagedLists& staged, Store::Batch& batch) {
  for (const auto& [record_key, list] : staged) {
    if (list->entries.empty()) {
      batch.Delete(Family::kEntries, record_key);
    } else {
      batch.Put(Family::kEntries, record_key,
                SerializeDeterministic(list->ToRecord()));
    }
  }
}

void CacheImpl::PublishLocked(
    const StagedLists& staged,
    const std::vector<std::shared_ptr<CacheEntry>>& gone,
    const std::vector<std::shared_ptr<CacheEntry>>& added) {
  absl::MutexLock lock(&index_mu_);
  for (const auto& [record_key, list] : staged) {
    GraphState& graph = graphs_[list->graph_digest];
    auto it = std::find_if(graph.lists.begin(), graph.lists.end(),
                           [&](const std::shared_ptr<const EntryList>& l) {
                             return l->target == list->target;
                           });
    if (list->entries.empty()) {
      if (it != graph.lists.end()) graph.lists.erase(it);
    } else if (it != graph.lists.end()) {
      *it = list;
    } else {
      graph.lists.push_back(list);
    }
    if (graph.lists.empty() && graph.hints.empty()) {
      graphs_.erase(list->graph_digest);
    }
  }
  for (const auto& e : gone) {
    e->removed.store(true);
    auto it = by_key_.find(e->artifact_key);
    if (it != by_key_.end() && it->second == e) by_key_.erase(it);
  }
  for (const auto& e : added) by_key_[e->artifact_key] = e;
}

std::vector<std::shared_ptr<CacheEntry>> CacheImpl::ClaimVictimsLocked(
    int64_t need, const CacheEntry* keep) {
  std::vector<std::shared_ptr<CacheEntry>> candidates;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    candidates.reserve(by_key_.size());
    for (const auto& [key, e] : by_key_) {
      if (e.get() != keep) candidates.push_back(e);
    }
  }
  // Least recently used first; ties by age, then key, so the order is
  // deterministic.
  std::sort(candidates.begin(), candidates.end(),
            [](const std::shared_ptr<CacheEntry>& a,
               const std::shared_ptr<CacheEntry>& b) {
              int64_t ua = a->last_used_unix_ms.load();
              int64_t ub = b->last_used_unix_ms.load();
              if (ua != ub) return ua < ub;
              if (a->created_unix_ms != b->created_unix_ms) {
                return a->created_unix_ms < b->created_unix_ms;
              }
              return a->artifact_key < b->artifact_key;
            });
  std::vector<std::shared_ptr<CacheEntry>> victims;
  int64_t freed = 0;
  for (const auto& e : candidates) {
    if (freed >= need) break;
    if (!e->TryClaimForEviction()) continue;  // pinned by a running call
    KILN_SYNC_POINT_CALLBACK("ArtifactCache::Evict:Claimed", e.get());
    victims.push_back(e);
    freed += e->stored_bytes;
  }
  return victims;
}

void CacheImpl::LogRemoval(const CacheEntry& e, RemovalReason reason) const {
  auto log = reason == RemovalReason::kCorrupt ? spdlog::level::err
                                               : spdlog::level::info;
  spdlog::log(log,
              "artifact cache: removed artifact_key={} ({}): {} bytes, "
              "graph_digest={} guards_digest={} target={} created={} "
              "last_used={} hits={}",
              e.artifact_key, RemovalReasonName(reason), e.stored_bytes,
              e.graph_digest, e.guards_digest, e.target, e.created_unix_ms,
              e.last_used_unix_ms.load(), e.hit_count.load());
}

absl::Status CacheImpl::RemoveLocked(
    const std::vector<std::shared_ptr<CacheEntry>>& gone,
    RemovalReason reason) {
  if (gone.empty()) return absl::OkStatus();
  Store::Batch batch;
  StagedLists staged;
  StageRemovals(gone, batch, staged);
  WriteLists(staged, batch);
  KILN_SYNC_POINT("ArtifactCache::Remove:BeforeCommit");
  absl::Status s = store_->Commit(batch);
  if (!s.ok()) {
    if (reason == RemovalReason::kCorrupt) {
      // Never serve it, even though the store still lists it.
      for (const auto& e : gone) e->removed.store(true);
    } else {
      for (const auto& e : gone) e->ReleaseEvictionClaim();
    }
    spdlog::error("artifact cache: removing {} entries failed: {}", gone.size(),
                  s.ToString());
    return s;
  }
  PublishLocked(staged, gone, {});
  for (const auto& e : gone) {
    total_bytes_ -= e->stored_bytes;
    payloads_.Erase(e->artifact_key);
    LogRemoval(*e, reason);
  }
  total_bytes_seen_.store(total_bytes_);
  if (reason == RemovalReason::kBudget ||
      reason == RemovalReason::kEvictRequest) {
    evictions_.fetch_add(static_cast<int64_t>(gone.size()));
  }
  return absl::OkStatus();
}

void CacheImpl::RemoveCorrupt(const std::shared_ptr<CacheEntry>& entry,
                              const absl::Status& why) {
  absl::MutexLock lock(&write_mu_);
  if (entry->removed.load() || closed_) return;
  corruptions_.fetch_add(1);
  spdlog::error(
      "artifact cache: DATA_LOSS: artifact_key={} (graph_digest={} "
      "guards_digest={} target={}) failed verification and will not be "
      "served; removing it so the next request recompiles: {}",
      entry->artifact_key, entry->graph_digest, entry->guards_digest,
      entry->target, why.ToString());
  RemoveLocked({entry}, RemovalReason::kCorrupt).IgnoreError();  // logged
  if (IsStorageCorruption(why)) {
    // RocksDB itself found the damage: the block stays in its SST file
    // until the family is rebuilt, and a compaction reading it would stop
    // every later write.
    absl::Status s = SalvageLocked(Family::kArtifacts);
    if (!s.ok()) {
      spdlog::error("artifact cache: rebuilding the artifacts family: {}",
                    s.ToString());
    }
  }
}

absl::Status CacheImpl::SalvageLocked(Family family) {
  std::vector<std::string> keys;
  std::vector<std::shared_ptr<CacheEntry>> entries;
  absl::flat_hash_map<std::string, std::string> from_index;  // key -> record
  {
    absl::ReaderMutexLock lock(&index_mu_);
    for (const auto& [key, e] : by_key_) entries.push_back(e);
    if (family == Family::kEntries) {
      for (const auto& [graph, state] : graphs_) {
        for (const auto& list : state.lists) {
          from_index[EntryListRecordKey(list->graph_digest, list->target)] =
              SerializeDeterministic(list->ToRecord());
        }
        if (!state.hints.empty()) {
          records::GraphHints h;
          for (const auto& hint : state.hints) *h.add_hints() = hint;
          from_index[HintsRecordKey(graph)] = SerializeDeterministic(h);
        }
      }
    }
  }
  if (family == Family::kEntries) {
    for (const auto& [key, record] : from_index) keys.push_back(key);
  } else {
    for (const auto& e : entries) keys.push_back(e->artifact_key);
    if (family == Family::kMetadata) {
      for (const auto& e : entries) {
        from_index[e->artifact_key] = SerializeDeterministic(e->ToMetadata());
      }
    }
  }
  std::sort(keys.begin(), keys.end());
  absl::Time start = absl::Now();
  absl::StatusOr<std::vector<std::string>> lost =
      store_->RebuildFamily(family, keys);
  if (!lost.ok()) return lost.status();
  spdlog::warn(
      "artifact cache: rebuilt a damaged store family in {}; {} "
      "records unreadable",
      absl::FormatDuration(absl::Now() - start), lost->size());
  if (lost->empty()) return absl::OkStatus();
  if (family == Family::kArtifacts) {
    absl::flat_hash_set<std::string> gone_keys(lost->begin(), lost->end());
    std::vector<std::shared_ptr<CacheEntry>> gone;
    for (const auto& e : entries) {
      if (gone_keys.contains(e->artifact_key)) gone.push_back(e);
    }
    corruptions_.fetch_add(static_cast<int64_t>(gone.size()));
    for (const auto& e : gone) {
      spdlog::error(
          "artifact cache: DATA_LOSS: artifact_key={} "
          "(graph_digest={} guards_digest={} target={}) was "
          "unreadable in the damaged family; removing it",
          e->artifact_key, e->graph_digest, e->guards_digest, e->target);
    }
    return RemoveLocked(gone, RemovalReason::kCorrupt);
  }
  // Entry lists, hints and metadata are all in the index: write them back.
  Store::Batch batch;
  for (const std::string& key : *lost) {
    auto it = from_index.find(key);
    if (it != from_index.end()) batch.Put(family, key, it->second);
  }
  return store_->Commit(batch);
}

absl::StatusOr<std::pair<ArtifactHandle, int>> CacheImpl::Insert(
    const Flight& flight, CompiledArtifact compiled,
    absl::Duration compile_time) {
  absl::MutexLock lock(&write_mu_);
  if (closed_) return absl::FailedPreconditionError("the cache is closed");
  std::shared_ptr<const EntryList> list =
      FindList(flight.graph_digest, flight.target);
  std::shared_ptr<CacheEntry> existing;
  if (list != nullptr) {
    for (const auto& e : list->entries) {
      if (e->artifact_key == flight.artifact_key) existing = e;
    }
  }
  if (existing == nullptr && list != nullptr &&
      static_cast<int>(list->entries.size()) >= options_.recompile_limit) {
    // Another key of this graph filled the list while this one compiled.
    return RecompileLimitError(*list, options_.recompile_limit);
  }

  auto payload =
      std::make_shared<const std::string>(std::move(compiled.payload));
  std::string framed =
      EncodeArtifact(*payload, store_->options().compress_min_bytes,
                     store_->options().zstd_level);
  const int64_t stored = static_cast<int64_t>(framed.size());
  const int64_t hard = hard_max_bytes();
  if (hard > 0 && stored > hard) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "artifact ", flight.artifact_key, " takes ", stored,
        " bytes stored, more than the cache's hard limit of ", hard, " bytes"));
  }
  int64_t projected = total_bytes_ -
                      (existing != nullptr ? existing->stored_bytes : 0) +
                      stored;
  std::vector<std::shared_ptr<CacheEntry>> victims;
  if (options_.max_bytes > 0 && projected > options_.max_bytes) {
    victims =
        ClaimVictimsLocked(projected - options_.max_bytes, existing.get());
    for (const auto& v : victims) projected -= v->stored_bytes;
  }
  if (hard > 0 && projected > hard) {
    for (const auto& v : victims) v->ReleaseEvictionClaim();
    return absl::ResourceExhaustedError(
        absl::StrCat("the artifact cache is full: storing ", stored,
                     " more bytes would "
                     "make ",
                     projected, " bytes, over the hard limit of ", hard,
                     " bytes, and the rest is pinned by running calls"));
  }

  auto entry = std::make_shared<CacheEntry>();
  entry->artifact_key = flight.artifact_key;
  entry->graph_digest = flight.graph_digest;
  entry->guards_digest = flight.guards->digest();
  entry->target = flight.target;
  entry->guards = flight.guards;
  entry->output_spec = std::move(compiled.output_spec);
  entry->compiler_version = options_.compiler_version;
  entry->salt = options_.salt;
  entry->stored_bytes = stored;
  entry->payload_bytes = static_cast<int64_t>(payload->size());
  entry->created_unix_ms = NowMs();
  entry->compile_time_us = absl::ToInt64Microseconds(compile_time);
  entry->producing_client = flight.client_id;
  entry->last_used_unix_ms.store(entry->created_unix_ms);
  entry->pins.store(1);  // the handle returned below

  Store::Batch batch;
  StagedLists staged;
  StageRemovals(victims, batch, staged);
  std::shared_ptr<EntryList> target_list =
      StagedList(staged, flight.graph_digest, flight.target);
  auto& entries = target_list->entries;
  auto at = std::find(entries.begin(), entries.end(), existing);
  if (existing != nullptr && at != entries.end()) {
    *at = entry;  // a bypass recompile replaces the entry where it was
  } else {
    entries.insert(entries.begin(), entry);  // newest first
  }
  int entry_index = target_list->IndexOf(entry.get());
  batch.PutEncodedArtifact(entry->artifact_key, std::move(framed));
  batch.Put(Family::kMetadata, entry->artifact_key,
            SerializeDeterministic(entry->ToMetadata()));
  WriteLists(staged, batch);
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::Insert:BeforeCommit", entry.get());
  absl::Status s = store_->Commit(batch);
  if (!s.ok()) {
    for (const auto& v : victims) v->ReleaseEvictionClaim();
    return s;
  }
  std::vector<std::shared_ptr<CacheEntry>> gone = victims;
  if (existing != nullptr) gone.push_back(existing);
  PublishLocked(staged, gone, {entry});
  total_bytes_ = projected;
  total_bytes_seen_.store(total_bytes_);
  if (existing != nullptr) payloads_.Erase(existing->artifact_key);
  payloads_.Put(entry->artifact_key, payload);
  for (const auto& v : victims) LogRemoval(*v, RemovalReason::kBudget);
  evictions_.fetch_add(static_cast<int64_t>(victims.size()));
  spdlog::info(
      "artifact cache: stored artifact_key={} graph_digest={} "
      "guards_digest={} target={} compiler_version={} salt={}: {} bytes "
      "({} stored), entry {} of {}, compiled in {} us for client '{}'{}",
      entry->artifact_key, entry->graph_digest, entry->guards_digest,
      entry->target, entry->compiler_version, entry->salt, entry->payload_bytes,
      stored, entry_index, target_list->entries.size(), entry->compile_time_us,
      entry->producing_client,
      victims.empty() ? ""
                      : absl::StrCat(", evicting ", victims.size(),
                                     " least recently used"));
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::Insert:Published", entry.get());
  return std::make_pair(
      CacheImpl::MakeHandle(std::move(entry), std::move(payload)), entry_index);
}

absl::StatusOr<v1::EvictResponse> CacheImpl::Evict(
    const v1::EvictRequest& request) {
  const int64_t now_ms = NowMs();
  std::function<bool(const CacheEntry&)> selected;
  switch (request.selector_case()) {
    case v1::EvictRequest::kArtifactKey: {
      if (!IsHexDigest(request.artifact_key())) {
        return absl::InvalidArgumentError(
            "artifact_key: expected 64 lowercase hex characters");
      }
      std::string key = request.artifact_key();
      selected = [key](const CacheEntry& e) { return e.artifact_key == key; };
      break;
    }
    case v1::EvictRequest::kGraphDigest: {
      if (!IsHexDigest(request.graph_digest())) {
        return absl::InvalidArgumentError(
            "graph_digest: expected 64 lowercase hex characters");
      }
      std::string graph = request.graph_digest();
      selected = [graph](const CacheEntry& e) {
        return e.graph_digest == graph;
      };
      break;
    }
    case v1::EvictRequest::kOlderThanS: {
      if (request.older_than_s() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "older_than_s: must be >= 0, got ", request.older_than_s()));
      }
      if (request.older_than_s() > (int64_t{1} << 40)) {
        return absl::InvalidArgumentError("older_than_s: too large");
      }
      int64_t cutoff = now_ms - request.older_than_s() * 1000;
      selected = [cutoff](const CacheEntry& e) {
        return e.last_used_unix_ms.load() < cutoff;
      };
      break;
    }
    case v1::EvictRequest::kAll:
      if (!request.all()) {
        return absl::InvalidArgumentError("all: must be true when set");
      }
      selected = [](const CacheEntry&) { return true; };
      break;
    case v1::EvictRequest::kFilter: {
      if (absl::Status s = ValidateEntryFilter(request.filter(), "filter");
          !s.ok()) {
        return s;
      }
      v1::EntryFilter f = request.filter();
      selected = [f, now_ms](const CacheEntry& e) {
        return EntryFilterMatches(f, e.ToInfo(0), now_ms);
      };
      break;
    }
    case v1::EvictRequest::SELECTOR_NOT_SET:
      return absl::InvalidArgumentError(
          "selector: exactly one of artifact_key, graph_digest, "
          "older_than_s, all, filter must be set");
  }

  absl::MutexLock lock(&write_mu_);
  std::vector<std::shared_ptr<CacheEntry>> matching;
  {
    absl::ReaderMutexLock index_lock(&index_mu_);
    for (const auto& [key, e] : by_key_) {
      if (selected(*e)) matching.push_back(e);
    }
  }
  std::sort(matching.begin(), matching.end(), [](const auto& a, const auto& b) {
    return a->artifact_key < b->artifact_key;
  });
  std::vector<std::shared_ptr<CacheEntry>> gone;
  for (const auto& e : matching) {
    bool free =
        request.dry_run() ? e->pins.load() == 0 : e->TryClaimForEviction();
    if (!free) {
      spdlog::info(
          "artifact cache: not evicting artifact_key={}: a running "
          "call holds it",
          e->artifact_key);
      continue;
    }
    gone.push_back(e);
  }
  v1::EvictResponse response;
  for (const auto& e : gone) {
    response.set_evicted_entries(response.evicted_entries() + 1);
    response.set_evicted_bytes(response.evicted_bytes() + e->stored_bytes);
    if (response.artifact_keys_size() < 10000) {
      response.add_artifact_keys(e->artifact_key);
    }
  }
  if (!request.dry_run()) {
    if (closed_) {
      for (const auto& e : gone) e->ReleaseEvictionClaim();
      return absl::FailedPreconditionError("the cache is closed");
    }
    absl::Status s = RemoveLocked(gone, RemovalReason::kEvictRequest);
    if (!s.ok()) return s;
  }
  return response;
}

}  // namespace kiln::cache::internal
