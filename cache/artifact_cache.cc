// ArtifactCache: opening and loading the index, handles, statistics,
// listing and the batched write-back of usage counters.

#include "cache/artifact_cache.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "cache/artifact_cache_impl.h"
#include "cache/keys.h"
#include "cache/sync_point.h"
#include "spdlog/spdlog.h"

namespace kiln::cache {
namespace {

constexpr char kRecompileLimitPayload[] = "kiln.dev/recompile-limit";

}  // namespace

bool IsRecompileLimit(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         status.GetPayload(kRecompileLimitPayload).has_value();
}

namespace internal {

absl::Status RecompileLimitError(const EntryList& list, int limit) {
  absl::Status status = absl::ResourceExhaustedError(
      absl::StrCat("recompile limit reached: graph ", list.graph_digest,
                   " already has ", list.entries.size(), " entries on target ",
                   list.target, " (limit ", limit, "); run this call eagerly"));
  status.SetPayload(kRecompileLimitPayload, absl::Cord(absl::StrCat(limit)));
  return status;
}

records::ArtifactMetadata CacheEntry::ToMetadata() const {
  records::ArtifactMetadata m;
  m.set_artifact_key(artifact_key);
  m.set_graph_digest(graph_digest);
  m.set_guards_digest(guards_digest);
  m.set_target(target);
  m.set_compiler_version(compiler_version);
  m.set_salt(salt);
  m.set_stored_bytes(stored_bytes);
  m.set_payload_bytes(payload_bytes);
  m.set_created_unix_ms(created_unix_ms);
  m.set_last_used_unix_ms(last_used_unix_ms.load());
  m.set_hit_count(hit_count.load());
  m.set_compile_time_us(compile_time_us);
  m.set_producing_client(producing_client);
  return m;
}

records::Entry CacheEntry::ToRecord() const {
  records::Entry e;
  e.set_artifact_key(artifact_key);
  e.set_guards_digest(guards_digest);
  *e.mutable_guards() = guards->canonical();
  *e.mutable_output_spec() = output_spec;
  e.set_created_unix_ms(created_unix_ms);
  return e;
}

v1::ArtifactInfo CacheEntry::ToInfo(int entry_index) const {
  v1::ArtifactInfo info;
  info.set_artifact_key(artifact_key);
  info.set_graph_digest(graph_digest);
  info.set_guards_digest(guards_digest);
  info.set_target(target);
  info.set_size_bytes(stored_bytes);
  info.set_created_unix_ms(created_unix_ms);
  info.set_last_used_unix_ms(last_used_unix_ms.load());
  info.set_hit_count(hit_count.load());
  info.set_compile_time_us(compile_time_us);
  info.set_producing_client(producing_client);
  info.set_entry_index(entry_index);
  return info;
}

records::EntryList EntryList::ToRecord() const {
  records::EntryList r;
  r.set_graph_digest(graph_digest);
  r.set_target(target);
  for (const auto& e : entries) *r.add_entries() = e->ToRecord();
  return r;
}

std::shared_ptr<const std::string> PayloadLru::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->second;
}

void PayloadLru::Put(const std::string& key,
                     std::shared_ptr<const std::string> value) {
  if (capacity_ <= 0 || static_cast<int64_t>(value->size()) > capacity_) return;
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it != items_.end()) {
    bytes_ -= it->second->second->size();
    order_.erase(it->second);
    items_.erase(it);
  }
  bytes_ += value->size();
  order_.emplace_front(key, std::move(value));
  items_[key] = order_.begin();
  while (bytes_ > capacity_ && !order_.empty()) {
    bytes_ -= order_.back().second->size();
    items_.erase(order_.back().first);
    order_.pop_back();
  }
}

void PayloadLru::Erase(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return;
  bytes_ -= it->second->second->size();
  order_.erase(it->second);
  items_.erase(it);
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void ThreadPool::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void ThreadPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

CacheImpl::CacheImpl(ArtifactCacheOptions options)
    : options_(std::move(options)), payloads_(options_.payload_cache_bytes) {}

CacheImpl::~CacheImpl() {
  absl::Status s = Close();
  if (!s.ok()) spdlog::error("closing artifact cache: {}", s.ToString());
}

absl::StatusOr<std::unique_ptr<CacheImpl>> CacheImpl::Open(
    ArtifactCacheOptions options) {
  if (options.recompile_limit < 1) {
    return absl::InvalidArgumentError("recompile_limit must be at least 1");
  }
  if (options.max_bytes < 0 || options.hard_max_bytes < 0) {
    return absl::InvalidArgumentError("size limits must not be negative");
  }
  if (options.max_bytes > 0 && options.hard_max_bytes > 0 &&
      options.hard_max_bytes < options.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hard_max_bytes (", options.hard_max_bytes,
        ") must not be below max_bytes (", options.max_bytes, ")"));
  }
  if (options.compile_threads < 1) {
    return absl::InvalidArgumentError("compile_threads must be at least 1");
  }
  std::unique_ptr<CacheImpl> impl(new CacheImpl(std::move(options)));
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(impl->options_.store);
  if (!store.ok()) return store.status();
  impl->store_ = std::move(*store);
  if (absl::Status s = impl->LoadIndex(); !s.ok()) return s;
  for (Family family : impl->store_->FamiliesToSalvage()) {
    // A write of the previous run found a damaged block: rebuild before
    // anything else is written.
    absl::MutexLock lock(&impl->write_mu_);
    if (absl::Status s = impl->SalvageLocked(family); !s.ok()) return s;
  }
  {
    // A budget smaller than what an earlier run left behind applies now.
    absl::MutexLock lock(&impl->write_mu_);
    if (impl->options_.max_bytes > 0 &&
        impl->total_bytes_ > impl->options_.max_bytes) {
      std::vector<std::shared_ptr<CacheEntry>> victims =
          impl->ClaimVictimsLocked(
              impl->total_bytes_ - impl->options_.max_bytes, nullptr);
      absl::Status s = impl->RemoveLocked(victims, RemovalReason::kBudget);
      if (!s.ok()) return s;
    }
  }
  impl->pool_ = std::make_unique<ThreadPool>(impl->options_.compile_threads);
  if (impl->options_.usage_flush_interval > absl::ZeroDuration()) {
    CacheImpl* raw = impl.get();
    impl->flusher_ = std::thread([raw] { raw->FlusherLoop(); });
  }
  return impl;
}

absl::Status CacheImpl::LoadIndex() {
  absl::flat_hash_map<std::string, records::ArtifactMetadata> metadata;
  std::vector<std::string> bad_records;  // (family, key) of unparsable ones
  Store::Batch repair;
  int repairs = 0;

  absl::Status s = store_->Scan(
      Family::kMetadata, "", [&](std::string_view key, std::string_view value) {
        records::ArtifactMetadata m;
        if (!m.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
            m.artifact_key() != key) {
          spdlog::error(
              "artifact cache: unreadable metadata record {}; "
              "removing it and its artifact",
              key);
          corruptions_.fetch_add(1);
          repair.Delete(Family::kMetadata, key);
          repair.Delete(Family::kArtifacts, key);
          ++repairs;
          return true;
        }
        metadata.emplace(std::string(key), std::move(m));
        return true;
      });
  if (!s.ok()) return s;

  std::vector<records::EntryList> lists;
  s = store_->Scan(
      Family::kEntries, kEntryListPrefix,
      [&](std::string_view key, std::string_view value) {
        records::EntryList list;
        if (!list.ParseFromArray(value.data(),
                                 static_cast<int>(value.size())) ||
            EntryListRecordKey(list.graph_digest(), list.target()) != key) {
          spdlog::error(
              "artifact cache: unreadable entry list {}; "
              "removing it",
              key);
          corruptions_.fetch_add(1);
          repair.Delete(Family::kEntries, key);
          ++repairs;
          return true;
        }
        lists.push_back(std::move(list));
        return true;
      });
  if (!s.ok()) return s;

  absl::flat_hash_map<std::string, std::vector<v1::DynamicDimHint>> hints;
  s = store_->Scan(
      Family::kEntries, kHintsPrefix,
      [&](std::string_view key, std::string_view value) {
        records::GraphHints h;
        if (!h.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          repair.Delete(Family::kEntries, key);
          ++repairs;
          return true;
        }
        std::string graph(key.substr(kHintsPrefix.size()));
        hints[graph].assign(h.hints().begin(), h.hints().end());
        return true;
      });
  if (!s.ok()) return s;

  absl::flat_hash_set<std::string> used;
  int64_t total = 0;
  absl::MutexLock write_lock(&write_mu_);
  absl::MutexLock lock(&index_mu_);
  for (records::EntryList& record : lists) {
    auto list = std::make_shared<EntryList>();
    list->graph_digest = record.graph_digest();
    list->target = record.target();
    list->counters = CountersFor(list->target);
    bool changed = false;
    for (records::Entry& e : *record.mutable_entries()) {
      auto meta = metadata.find(e.artifact_key());
      std::string why;
      std::shared_ptr<const GuardSet> guards;
      if (meta == metadata.end()) {
        why = "it has no metadata record";
      } else if (used.contains(e.artifact_key())) {
        why = "its artifact is listed twice";
      } else {
        absl::StatusOr<std::shared_ptr<const GuardSet>> g =
            GuardSet::Create(e.guards(), options_.guard_limits);
        if (!g.ok()) {
          why = absl::StrCat("its guards no longer load: ",
                             g.status().ToString());
        } else if ((*g)->digest() != e.guards_digest()) {
          why = "its guards canonicalize to another digest now";
        } else {
          guards = std::move(*g);
        }
      }
      if (guards == nullptr) {
        spdlog::warn("artifact cache: dropping entry {} of graph {} on {}: {}",
                     e.artifact_key(), list->graph_digest, list->target, why);
        if (!used.contains(e.artifact_key())) {
          repair.Delete(Family::kArtifacts, e.artifact_key());
          repair.Delete(Family::kMetadata, e.artifact_key());
        }
        changed = true;
        ++repairs;
        continue;
      }
      const records::ArtifactMetadata& m = meta->second;
      auto entry = std::make_shared<CacheEntry>();
      entry->artifact_key = e.artifact_key();
      entry->graph_digest = list->graph_digest;
      entry->guards_digest = e.guards_digest();
      entry->target = list->target;
      entry->guards = std::move(guards);
      entry->output_spec = std::move(*e.mutable_output_spec());
      entry->compiler_version = m.compiler_version();
      entry->salt = m.salt();
      entry->stored_bytes = m.stored_bytes();
      entry->payload_bytes = m.payload_bytes();
      entry->created_unix_ms = e.created_unix_ms();
      entry->compile_time_us = m.compile_time_us();
      entry->producing_client = m.producing_client();
      entry->last_used_unix_ms =
          std::max(m.last_used_unix_ms(), m.created_unix_ms());
      entry->hit_count = m.hit_count();
      used.insert(entry->artifact_key);
      total += entry->stored_bytes;
      by_key_[entry->artifact_key] = entry;
      list->entries.push_back(std::move(entry));
    }
    std::string key = EntryListRecordKey(list->graph_digest, list->target);
    if (changed) {
      if (list->entries.empty()) {
        repair.Delete(Family::kEntries, key);
      } else {
        repair.Put(Family::kEntries, key, list->ToRecord().SerializeAsString());
      }
    }
    if (!list->entries.empty()) {
      graphs_[list->graph_digest].lists.push_back(std::move(list));
    }
  }
  for (const auto& [key, m] : metadata) {
    if (used.contains(key)) continue;
    spdlog::warn("artifact cache: removing artifact {} that no entry lists",
                 key);
    repair.Delete(Family::kArtifacts, key);
    repair.Delete(Family::kMetadata, key);
    ++repairs;
  }
  for (auto& [graph, h] : hints) graphs_[graph].hints = std::move(h);
  total_bytes_ = total;
  total_bytes_seen_ = total;
  if (repairs > 0) {
    spdlog::warn("artifact cache: {} repairs at open", repairs);
    if (absl::Status c = store_->Commit(repair); !c.ok()) return c;
  }
  spdlog::info(
      "artifact cache: {} entries, {} bytes in {} (compiler version {}, salt "
      "{}, recompile limit {}, max bytes {})",
      by_key_.size(), total, store_->data_dir(), options_.compiler_version,
      options_.salt, options_.recompile_limit, options_.max_bytes);
  return absl::OkStatus();
}

absl::Time CacheImpl::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

int64_t CacheImpl::NowMs() const { return absl::ToUnixMillis(Now()); }

int64_t CacheImpl::hard_max_bytes() const {
  if (options_.hard_max_bytes > 0) return options_.hard_max_bytes;
  return options_.max_bytes > 0 ? 2 * options_.max_bytes : 0;
}

absl::Status CacheImpl::CheckKeyParts(std::string_view graph_digest,
                                      std::string_view target) const {
  if (!IsHexDigest(graph_digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph_digest: expected 64 lowercase hex characters, got '",
        std::string(graph_digest.substr(0, 80)), "'"));
  }
  absl::Status s =
      CheckTarget(target, options_.compiler_version, options_.salt);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("target: ", s.message()));
  }
  return absl::OkStatus();
}

TargetCounters* CacheImpl::CountersFor(std::string_view target,
                                       bool has_entries) const {
  absl::string_view key(target.data(), target.size());
  absl::MutexLock lock(&counters_mu_);
  auto it = target_counters_.find(key);
  if (it != target_counters_.end()) return it->second.get();
  if (!has_entries && target_counters_.size() >= kMaxCountedTargets) {
    return &uncounted_target_;
  }
  auto& slot = target_counters_[key];
  slot = std::make_unique<TargetCounters>();
  return slot.get();
}

std::shared_ptr<const EntryList> CacheImpl::FindList(
    std::string_view graph_digest, std::string_view target) const {
  absl::ReaderMutexLock lock(&index_mu_);
  auto it =
      graphs_.find(absl::string_view(graph_digest.data(), graph_digest.size()));
  if (it == graphs_.end()) return nullptr;
  for (const auto& list : it->second.lists) {
    if (list->target == target) return list;
  }
  return nullptr;
}

std::vector<v1::DynamicDimHint> CacheImpl::HintsFor(
    std::string_view graph_digest) const {
  absl::ReaderMutexLock lock(&index_mu_);
  auto it =
      graphs_.find(absl::string_view(graph_digest.data(), graph_digest.size()));
  if (it == graphs_.end()) return {};
  return it->second.hints;
}

std::shared_ptr<CacheEntry> CacheImpl::FindEntry(
    std::string_view artifact_key) const {
  absl::ReaderMutexLock lock(&index_mu_);
  auto it =
      by_key_.find(absl::string_view(artifact_key.data(), artifact_key.size()));
  return it == by_key_.end() ? nullptr : it->second;
}

void CacheImpl::MarkUsageDirty(const std::shared_ptr<CacheEntry>& entry) {
  if (entry->usage_dirty.exchange(true)) return;
  absl::MutexLock lock(&dirty_mu_);
  dirty_entries_.push_back(entry);
}

absl::Status CacheImpl::FlushUsage() {
  absl::MutexLock write_lock(&write_mu_);
  if (closed_) return absl::OkStatus();
  std::vector<std::shared_ptr<CacheEntry>> entries;
  absl::flat_hash_set<std::string> graphs;
  {
    absl::MutexLock lock(&dirty_mu_);
    entries.swap(dirty_entries_);
    graphs.swap(dirty_graphs_);
  }
  if (entries.empty() && graphs.empty()) return absl::OkStatus();
  Store::Batch batch;
  for (const auto& e : entries) {
    e->usage_dirty.store(false);
    // An entry removed since its hit must not get its metadata back.
    if (e->removed.load()) continue;
    batch.Put(Family::kMetadata, e->artifact_key,
              e->ToMetadata().SerializeAsString());
  }
  {
    absl::ReaderMutexLock lock(&index_mu_);
    for (const std::string& graph : graphs) {
      auto it = graphs_.find(graph);
      if (it == graphs_.end()) continue;
      records::GraphHints h;
      for (const auto& hint : it->second.hints) *h.add_hints() = hint;
      batch.Put(Family::kEntries, HintsRecordKey(graph), h.SerializeAsString());
    }
  }
  if (batch.Count() == 0) return absl::OkStatus();
  // Usage is advisory: no fsync, so a hit never waits for the disk.
  absl::Status s = store_->Commit(batch, /*sync=*/false);
  if (!s.ok()) spdlog::warn("artifact cache: usage flush: {}", s.ToString());
  KILN_SYNC_POINT("ArtifactCache::FlushUsage:Committed");
  return s;
}

void CacheImpl::FlusherLoop() {
  absl::MutexLock lock(&flusher_mu_);
  while (!stop_flusher_) {
    flusher_mu_.AwaitWithTimeout(
        absl::Condition(
            +[](bool* stop) { return *stop; }, &stop_flusher_),
        options_.usage_flush_interval);
    if (stop_flusher_) break;
    flusher_mu_.Unlock();
    FlushUsage().IgnoreError();  // logged inside
    flusher_mu_.Lock();
  }
}

std::optional<v1::ArtifactInfo> CacheImpl::GetInfo(
    std::string_view artifact_key) const {
  std::shared_ptr<CacheEntry> entry = FindEntry(artifact_key);
  if (entry == nullptr) return std::nullopt;
  std::shared_ptr<const EntryList> list =
      FindList(entry->graph_digest, entry->target);
  return entry->ToInfo(list == nullptr ? 0 : list->IndexOf(entry.get()));
}

std::vector<v1::ArtifactInfo> CacheImpl::ListArtifacts() const {
  std::vector<v1::ArtifactInfo> out;
  absl::ReaderMutexLock lock(&index_mu_);
  out.reserve(by_key_.size());
  for (const auto& [graph, state] : graphs_) {
    for (const auto& list : state.lists) {
      for (size_t i = 0; i < list->entries.size(); ++i) {
        out.push_back(list->entries[i]->ToInfo(static_cast<int>(i)));
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const v1::ArtifactInfo& a, const v1::ArtifactInfo& b) {
              return a.artifact_key() < b.artifact_key();
            });
  return out;
}

std::optional<v1::GetResponse> CacheImpl::Describe(
    std::string_view artifact_key) const {
  std::optional<v1::ArtifactInfo> info = GetInfo(artifact_key);
  if (!info.has_value()) return std::nullopt;
  std::shared_ptr<CacheEntry> entry = FindEntry(artifact_key);
  if (entry == nullptr) return std::nullopt;
  v1::GetResponse response;
  *response.mutable_info() = std::move(*info);
  for (std::string& line : entry->guards->Describe()) {
    response.add_guard_descriptions(std::move(line));
  }
  *response.mutable_guards() = entry->guards->canonical();
  *response.mutable_output_spec() = entry->output_spec;
  return response;
}

v1::StatsResponse CacheImpl::Stats() const {
  v1::StatsResponse stats;
  std::map<std::string, v1::TargetStats> by_target;
  int64_t entries = 0, bytes = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    for (const auto& [graph, state] : graphs_) {
      for (const auto& list : state.lists) {
        v1::TargetStats& t = by_target[list->target];
        t.set_target(list->target);
        t.set_entries(t.entries() + list->entries.size());
        for (const auto& e : list->entries) {
          t.set_bytes(t.bytes() + e->stored_bytes);
          bytes += e->stored_bytes;
        }
        entries += list->entries.size();
      }
    }
  }
  {
    absl::MutexLock lock(&counters_mu_);
    for (const auto& [target, counters] : target_counters_) {
      int64_t hits = counters->hits.load(), misses = counters->misses.load();
      if (hits == 0 && misses == 0 && by_target.count(target) == 0) continue;
      v1::TargetStats& t = by_target[target];
      t.set_target(target);
      t.set_hits(hits);
      t.set_misses(misses);
    }
  }
  stats.set_entries(entries);
  stats.set_artifacts(entries);  // one artifact per entry (content-addressed)
  stats.set_bytes(bytes);
  int64_t hits = hits_.load(), misses = misses_.load();
  stats.set_hits(hits);
  stats.set_misses(misses);
  stats.set_hit_rate(
      hits + misses == 0 ? 0.0 : static_cast<double>(hits) / (hits + misses));
  stats.set_evictions(evictions_.load());
  stats.set_corruptions_detected(corruptions_.load());
  stats.set_compile_time_saved_us(compile_time_saved_us_.load());
  for (auto& [target, t] : by_target) *stats.add_by_target() = std::move(t);
  stats.set_capacity_bytes(options_.max_bytes);
  return stats;
}

absl::Status CacheImpl::Close() {
  if (closing_.exchange(true)) {
    return absl::OkStatus();
  }
  KILN_SYNC_POINT("ArtifactCache::Close:Closing");
  if (pool_ != nullptr) pool_->Shutdown();
  if (flusher_.joinable()) {
    {
      absl::MutexLock lock(&flusher_mu_);
      stop_flusher_ = true;
    }
    flusher_.join();
  }
  absl::Status result;
  if (store_ != nullptr) {
    result = FlushUsage();
    absl::Status s = store_->Close();
    if (result.ok()) result = s;
  }
  absl::MutexLock lock(&write_mu_);
  closed_ = true;
  return result;
}

bool CacheImpl::Abandoned(const Flight& flight) {
  return flight.waiters.load() == 0 ||
         (flight.closing != nullptr && flight.closing->load());
}

}  // namespace internal

// ---- CompileContext ----

const std::string& CompileContext::graph_digest() const {
  return flight_->graph_digest;
}
const std::string& CompileContext::target() const { return flight_->target; }
const GuardSet& CompileContext::guards() const { return *flight_->guards; }
const std::string& CompileContext::artifact_key() const {
  return flight_->artifact_key;
}
bool CompileContext::abandoned() const {
  return internal::CacheImpl::Abandoned(*flight_);
}

// ---- ArtifactHandle ----

ArtifactHandle::ArtifactHandle(std::shared_ptr<internal::CacheEntry> entry,
                               std::shared_ptr<const std::string> payload)
    : entry_(std::move(entry)), payload_(std::move(payload)) {}

ArtifactHandle::ArtifactHandle(const ArtifactHandle& other)
    : entry_(other.entry_), payload_(other.payload_) {
  // Copying a live pin: the count is positive, so the entry cannot be
  // claimed for eviction in between.
  if (entry_ != nullptr) entry_->pins.fetch_add(1);
}

ArtifactHandle& ArtifactHandle::operator=(const ArtifactHandle& other) {
  if (this == &other) return *this;
  Release();
  entry_ = other.entry_;
  payload_ = other.payload_;
  if (entry_ != nullptr) entry_->pins.fetch_add(1);
  return *this;
}

ArtifactHandle::ArtifactHandle(ArtifactHandle&& other) noexcept
    : entry_(std::move(other.entry_)), payload_(std::move(other.payload_)) {
  other.entry_ = nullptr;
}

ArtifactHandle& ArtifactHandle::operator=(ArtifactHandle&& other) noexcept {
  if (this == &other) return *this;
  Release();
  entry_ = std::move(other.entry_);
  payload_ = std::move(other.payload_);
  other.entry_ = nullptr;
  return *this;
}

ArtifactHandle::~ArtifactHandle() { Release(); }

void ArtifactHandle::Release() {
  if (entry_ != nullptr) entry_->Unpin();
  entry_ = nullptr;
  payload_ = nullptr;
}

const std::string& ArtifactHandle::artifact_key() const {
  return entry_->artifact_key;
}
const std::string& ArtifactHandle::graph_digest() const {
  return entry_->graph_digest;
}
const std::string& ArtifactHandle::guards_digest() const {
  return entry_->guards_digest;
}
const std::string& ArtifactHandle::target() const { return entry_->target; }
const v1::OutputSpec& ArtifactHandle::output_spec() const {
  return entry_->output_spec;
}
const std::shared_ptr<const GuardSet>& ArtifactHandle::guards() const {
  return entry_->guards;
}
const std::string& ArtifactHandle::payload() const {
  static const std::string* const kEmpty = new std::string();
  return payload_ != nullptr ? *payload_ : *kEmpty;
}

// ---- ArtifactCache ----

ArtifactCache::ArtifactCache(std::unique_ptr<internal::CacheImpl> impl)
    : impl_(std::move(impl)) {}

ArtifactCache::~ArtifactCache() = default;

absl::StatusOr<std::unique_ptr<ArtifactCache>> ArtifactCache::Create(
    ArtifactCacheOptions options) {
  absl::StatusOr<std::unique_ptr<internal::CacheImpl>> impl =
      internal::CacheImpl::Open(std::move(options));
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<ArtifactCache>(new ArtifactCache(std::move(*impl)));
}

absl::StatusOr<v1::LookupResponse> ArtifactCache::Lookup(
    std::string_view graph_digest, std::string_view target,
    const v1::CallSignature& signature, const LookupOptions& options) {
  return impl_->Lookup(graph_digest, target, signature, options);
}

absl::StatusOr<v1::ExplainResponse> ArtifactCache::Explain(
    std::string_view graph_digest, std::string_view target,
    const v1::CallSignature& signature) const {
  return impl_->Explain(graph_digest, target, signature);
}

absl::StatusOr<GetOrCompileResult> ArtifactCache::GetOrCompile(
    const CompileKey& key, CompileFn compile,
    const GetOrCompileOptions& options) {
  return impl_->GetOrCompile(key, std::move(compile), options);
}

absl::StatusOr<std::optional<ArtifactHandle>> ArtifactCache::ReadArtifact(
    std::string_view artifact_key, const ReadArtifactOptions& options) {
  return impl_->ReadArtifact(artifact_key, options);
}

absl::StatusOr<std::vector<absl::StatusOr<ImportOutcome>>>
ArtifactCache::Import(std::vector<ImportEntry> entries) {
  return impl_->Import(std::move(entries));
}

std::optional<v1::ArtifactInfo> ArtifactCache::GetInfo(
    std::string_view artifact_key) const {
  return impl_->GetInfo(artifact_key);
}

std::vector<v1::ArtifactInfo> ArtifactCache::ListArtifacts() const {
  return impl_->ListArtifacts();
}

std::optional<v1::GetResponse> ArtifactCache::Describe(
    std::string_view artifact_key) const {
  return impl_->Describe(artifact_key);
}

absl::StatusOr<v1::EvictResponse> ArtifactCache::Evict(
    const v1::EvictRequest& request) {
  return impl_->Evict(request);
}

v1::StatsResponse ArtifactCache::Stats() const { return impl_->Stats(); }

absl::Status ArtifactCache::FlushUsage() { return impl_->FlushUsage(); }

int ArtifactCache::compiler_version() const {
  return impl_->options().compiler_version;
}

int ArtifactCache::salt() const { return impl_->options().salt; }

Store& ArtifactCache::store() { return impl_->store(); }

absl::Status ArtifactCache::Close() { return impl_->Close(); }

}  // namespace kiln::cache
