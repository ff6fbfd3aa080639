#ifndef KILN_CACHE_ARTIFACT_CACHE_IMPL_H_
#define KILN_CACHE_ARTIFACT_CACHE_IMPL_H_

// Internals of ArtifactCache, shared by artifact_cache*.cc; not part of the
// public API. The implementation is split by concern:
//   artifact_cache.cc          open, index load, stats, listing, usage flush
//   artifact_cache_lookup.cc   Lookup, Explain, wobbled dims
//   artifact_cache_compile.cc  GetOrCompile (single flight), ReadArtifact
//   artifact_cache_write.cc    inserting entries, eviction, removal
//   artifact_cache_import.cc   entries exported by another cache

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "cache/artifact_cache.h"
#include "cache/cache_records.pb.h"

namespace kiln::cache::internal {

// CacheEntry::pins while an eviction holds the entry.
inline constexpr int kEvicting = -(1 << 29);

// One entry of the index: a guard set, its artifact and the artifact's
// metadata. Identity fields are immutable; usage counters are atomics
// updated by hits without locks and written back lazily.
struct CacheEntry {
  std::string artifact_key;
  std::string graph_digest;
  std::string guards_digest;
  std::string target;
  std::shared_ptr<const GuardSet> guards;
  v1::OutputSpec output_spec;
  int compiler_version = 0;
  int salt = 0;
  int64_t stored_bytes = 0;
  int64_t payload_bytes = 0;
  int64_t created_unix_ms = 0;
  int64_t compile_time_us = 0;
  std::string producing_client;

  std::atomic<int64_t> last_used_unix_ms{0};
  std::atomic<int64_t> hit_count{0};
  // > 0: pinned by that many handles; kEvicting (plus transient pin
  // attempts) while an eviction commits.
  std::atomic<int> pins{0};
  // Set once the entry is gone from the index (evicted, corrupt, replaced).
  std::atomic<bool> removed{false};
  // Queued for the next usage flush.
  std::atomic<bool> usage_dirty{false};

  // Takes a pin unless the entry is being evicted or removed.
  bool TryPin() {
    int before = pins.fetch_add(1, std::memory_order_acq_rel);
    if (before < 0 || removed.load(std::memory_order_acquire)) {
      pins.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
    return true;
  }
  void Unpin() { pins.fetch_sub(1, std::memory_order_acq_rel); }
  // Claims an unpinned entry for eviction.
  bool TryClaimForEviction() {
    int expected = 0;
    return pins.compare_exchange_strong(expected, kEvicting,
                                        std::memory_order_acq_rel);
  }
  void ReleaseEvictionClaim() {
    pins.fetch_sub(kEvicting, std::memory_order_acq_rel);
  }

  records::ArtifactMetadata ToMetadata() const;
  records::Entry ToRecord() const;
  v1::ArtifactInfo ToInfo(int entry_index) const;
};

// Hit and miss counters of one target since the cache opened.
struct TargetCounters {
  std::atomic<int64_t> hits{0};
  std::atomic<int64_t> misses{0};
};

// The entries of one (graph, target), newest first. Immutable once
// published: writers replace the whole list (copy on write), so a Lookup
// evaluates a consistent snapshot without holding a lock.
struct EntryList {
  std::string graph_digest;
  std::string target;
  std::vector<std::shared_ptr<CacheEntry>> entries;
  TargetCounters* counters = nullptr;  // owned by CacheImpl, never freed

  int IndexOf(const CacheEntry* entry) const {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].get() == entry) return static_cast<int>(i);
    }
    return -1;
  }
  records::EntryList ToRecord() const;
};

// Everything known about one graph digest.
struct GraphState {
  std::vector<std::shared_ptr<const EntryList>> lists;  // one per target
  std::vector<v1::DynamicDimHint> hints;                // sorted by path
};

// One single-flight compile: the first caller of a key creates it, later
// callers of the same key wait for it; the compile runs on the pool.
struct Flight {
  std::string artifact_key;
  std::string graph_digest;
  std::string target;
  std::shared_ptr<const GuardSet> guards;
  std::string client_id;
  bool bypass_cache = false;
  CompileFn compile;
  const std::atomic<bool>* closing = nullptr;

  // Callers still waiting; changed under CacheImpl::flights_mu_.
  std::atomic<int> waiters{0};
  absl::Time enqueued;

  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
  ArtifactHandle handle ABSL_GUARDED_BY(mu);
  int entry_index ABSL_GUARDED_BY(mu) = 0;
  absl::Duration queue_time ABSL_GUARDED_BY(mu);
  absl::Duration compile_time ABSL_GUARDED_BY(mu);
  absl::Duration store_time ABSL_GUARDED_BY(mu);
};

// Verified payloads by artifact key, least recently used dropped first.
class PayloadLru {
 public:
  explicit PayloadLru(int64_t capacity_bytes) : capacity_(capacity_bytes) {}
  std::shared_ptr<const std::string> Get(const std::string& key);
  void Put(const std::string& key, std::shared_ptr<const std::string> value);
  void Erase(const std::string& key);

 private:
  using Item = std::pair<std::string, std::shared_ptr<const std::string>>;
  const int64_t capacity_;
  absl::Mutex mu_;
  std::list<Item> order_ ABSL_GUARDED_BY(mu_);  // most recent first
  absl::flat_hash_map<std::string, std::list<Item>::iterator> items_
      ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// A fixed set of threads running queued tasks in order. Shutdown lets the
// queue drain (tasks see the cache closing and finish quickly), then joins.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  // False (and the task is dropped) once Shutdown has begun.
  bool Schedule(std::function<void()> task);
  void Shutdown();

 private:
  void Loop();
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// The status for a (graph, target) whose list is full; see IsRecompileLimit.
absl::Status RecompileLimitError(const EntryList& list, int limit);

// Merges `add` into `into` (sorted by input and path, dims ascending and
// unique); true if anything was new.
bool MergeHints(std::vector<v1::DynamicDimHint>& into,
                const std::vector<v1::DynamicDimHint>& add);

// Why entries leave the cache (logged and counted).
enum class RemovalReason { kBudget, kEvictRequest, kCorrupt, kReplaced };
const char* RemovalReasonName(RemovalReason reason);

class CacheImpl {
 public:
  static absl::StatusOr<std::unique_ptr<CacheImpl>> Open(
      ArtifactCacheOptions options);
  ~CacheImpl();

  absl::StatusOr<v1::LookupResponse> Lookup(std::string_view graph_digest,
                                            std::string_view target,
                                            const v1::CallSignature& signature,
                                            const LookupOptions& options);
  absl::StatusOr<v1::ExplainResponse> Explain(
      std::string_view graph_digest, std::string_view target,
      const v1::CallSignature& signature) const;
  absl::StatusOr<GetOrCompileResult> GetOrCompile(
      const CompileKey& key, CompileFn compile,
      const GetOrCompileOptions& options);
  absl::StatusOr<std::optional<ArtifactHandle>> ReadArtifact(
      std::string_view artifact_key, const ReadArtifactOptions& options);
  absl::StatusOr<std::vector<absl::StatusOr<ImportOutcome>>> Import(
      std::vector<ImportEntry> entries);
  std::optional<v1::ArtifactInfo> GetInfo(std::string_view artifact_key) const;
  std::vector<v1::ArtifactInfo> ListArtifacts() const;
  std::optional<v1::GetResponse> Describe(std::string_view artifact_key) const;
  absl::StatusOr<v1::EvictResponse> Evict(const v1::EvictRequest& request);
  v1::StatsResponse Stats() const;
  absl::Status FlushUsage();
  Store& store() { return *store_; }
  const ArtifactCacheOptions& options() const { return options_; }
  absl::Status Close();

  // For CompileContext.
  static bool Abandoned(const Flight& flight);
  static CompileContext MakeContext(const Flight* flight) {
    return CompileContext(flight);
  }
  static ArtifactHandle MakeHandle(std::shared_ptr<CacheEntry> entry,
                                   std::shared_ptr<const std::string> payload) {
    return ArtifactHandle(std::move(entry), std::move(payload));
  }

 private:
  explicit CacheImpl(ArtifactCacheOptions options);

  // artifact_cache.cc
  absl::Status LoadIndex();
  int64_t NowMs() const;
  absl::Time Now() const;
  absl::Status CheckKeyParts(std::string_view graph_digest,
                             std::string_view target) const;
  // The counters of `target`, made on first use. Misses on targets without
  // entries (`has_entries` false) make new counters only while fewer than
  // kMaxCountedTargets exist, so arbitrary target strings in requests cannot
  // grow memory without bound; past that they count only in the totals.
  TargetCounters* CountersFor(std::string_view target,
                              bool has_entries = true) const;
  static constexpr size_t kMaxCountedTargets = 1024;
  std::shared_ptr<const EntryList> FindList(std::string_view graph_digest,
                                            std::string_view target) const;
  std::vector<v1::DynamicDimHint> HintsFor(std::string_view graph_digest) const;
  std::shared_ptr<CacheEntry> FindEntry(std::string_view artifact_key) const;
  void MarkUsageDirty(const std::shared_ptr<CacheEntry>& entry);
  void FlusherLoop();
  int64_t hard_max_bytes() const;

  // artifact_cache_lookup.cc
  // Merges dims that wobbled into the graph's hints; true if any were new.
  bool RecordWobble(const std::string& graph_digest,
                    const std::vector<v1::DynamicDimHint>& wobbled);
  std::vector<v1::DynamicDimHint> WobbleAgainst(
      const EntryList& list, const v1::CallSignature& signature) const;
  void CountHit(CacheEntry& entry, TargetCounters* counters,
                const std::shared_ptr<CacheEntry>& shared);

  // artifact_cache_compile.cc
  void RunFlight(const std::shared_ptr<Flight>& flight);
  void FinishFlight(const std::shared_ptr<Flight>& flight, absl::Status status,
                    ArtifactHandle handle, int entry_index);
  // The verified payload of a pinned entry (from the LRU or the store).
  // A corrupt or missing artifact is removed, counted and DATA_LOSS.
  absl::StatusOr<std::shared_ptr<const std::string>> ReadPayload(
      const std::shared_ptr<CacheEntry>& entry);

  // artifact_cache_write.cc
  // Stores a compiled artifact with its entry (evicting to make room) and
  // returns it pinned, with its position in the entry list.
  absl::StatusOr<std::pair<ArtifactHandle, int>> Insert(
      const Flight& flight, CompiledArtifact compiled,
      absl::Duration compile_time);
  // Removes entries (claimed for eviction, or corrupt) in one batch.
  absl::Status RemoveLocked(
      const std::vector<std::shared_ptr<CacheEntry>>& gone,
      RemovalReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Entry lists being rewritten by one batch, by record key (copies of the
  // published snapshots; an empty one is deleted).
  using StagedLists =
      absl::flat_hash_map<std::string, std::shared_ptr<EntryList>>;
  // Adds the deletes of `gone` to `batch` and takes them out of `staged`.
  void StageRemovals(const std::vector<std::shared_ptr<CacheEntry>>& gone,
                     Store::Batch& batch, StagedLists& staged)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The staged copy of (graph, target)'s list, made on first use.
  std::shared_ptr<EntryList> StagedList(StagedLists& staged,
                                        const std::string& graph_digest,
                                        const std::string& target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  static void WriteLists(const StagedLists& staged, Store::Batch& batch);
  // Makes a committed batch visible: the staged lists, `gone` out of the
  // index, `added` in.
  void PublishLocked(const StagedLists& staged,
                     const std::vector<std::shared_ptr<CacheEntry>>& gone,
                     const std::vector<std::shared_ptr<CacheEntry>>& added)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Picks and claims least recently used unpinned entries until `need`
  // bytes would be freed (or none are left to claim).
  std::vector<std::shared_ptr<CacheEntry>> ClaimVictimsLocked(
      int64_t need, const CacheEntry* keep)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void RemoveCorrupt(const std::shared_ptr<CacheEntry>& entry,
                     const absl::Status& why);
  // Rebuilds a damaged family from its readable records (Store::
  // RebuildFamily) so the damaged block cannot stop later writes. Lost
  // artifacts are removed with their entries and counted; lost entry lists,
  // hints and metadata are rewritten from the index.
  absl::Status SalvageLocked(Family family)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void LogRemoval(const CacheEntry& entry, RemovalReason reason) const;

  ArtifactCacheOptions options_;
  std::unique_ptr<Store> store_;
  std::atomic<bool> closing_{false};
  bool closed_ = false;

  // Lock order: write_mu_, then index_mu_, then the others. index_mu_ is
  // held only for in-memory work, never across a store write.
  mutable absl::Mutex index_mu_;
  absl::flat_hash_map<std::string, GraphState> graphs_
      ABSL_GUARDED_BY(index_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<CacheEntry>> by_key_
      ABSL_GUARDED_BY(index_mu_);

  // Serializes every change to the store's entry lists and artifacts.
  absl::Mutex write_mu_;
  int64_t total_bytes_ ABSL_GUARDED_BY(write_mu_) = 0;
  std::atomic<int64_t> total_bytes_seen_{0};  // for Stats, lock-free

  mutable absl::Mutex counters_mu_;
  mutable absl::flat_hash_map<std::string, std::unique_ptr<TargetCounters>>
      target_counters_ ABSL_GUARDED_BY(counters_mu_);
  mutable TargetCounters uncounted_target_;  // for targets past the cap
  std::atomic<int64_t> hits_{0};
  std::atomic<int64_t> misses_{0};
  std::atomic<int64_t> evictions_{0};
  std::atomic<int64_t> corruptions_{0};
  std::atomic<int64_t> compile_time_saved_us_{0};

  absl::Mutex dirty_mu_;
  std::vector<std::shared_ptr<CacheEntry>> dirty_entries_
      ABSL_GUARDED_BY(dirty_mu_);
  absl::flat_hash_set<std::string> dirty_graphs_ ABSL_GUARDED_BY(dirty_mu_);

  absl::Mutex flights_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_
      ABSL_GUARDED_BY(flights_mu_);
  int pending_compiles_ ABSL_GUARDED_BY(flights_mu_) = 0;

  PayloadLru payloads_;
  std::unique_ptr<ThreadPool> pool_;

  absl::Mutex flusher_mu_;
  bool stop_flusher_ ABSL_GUARDED_BY(flusher_mu_) = false;
  std::thread flusher_;
};

}  // namespace kiln::cache::internal

#endif  // KILN_CACHE_ARTIFACT_CACHE_IMPL_H_
