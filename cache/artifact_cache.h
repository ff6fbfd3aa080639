#ifndef KILN_CACHE_ARTIFACT_CACHE_H_
#define KILN_CACHE_ARTIFACT_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cache/guards/guard_set.h"
#include "cache/store.h"
#include "kiln/v1/cache_admin.pb.h"
#include "kiln/v1/compiler_service.pb.h"
#include "kiln/v1/guards.pb.h"
#include "kiln/version.h"

namespace kiln::cache {

namespace internal {
struct CacheEntry;
struct Flight;
class CacheImpl;
}  // namespace internal

// How an ArtifactCache behaves. Defaults suit a server; tests shrink them.
struct ArtifactCacheOptions {
  StoreOptions store;
  // Part of every key (see keys.h): a target must have been resolved with
  // ResolveTarget(..., compiler_version, salt) or it is INVALID_ARGUMENT.
  int compiler_version = kCompilerVersion;
  int salt = kDefaultSalt;
  // Most entries (guard sets) per (graph, target). A compile that would add
  // one more fails with a status for which IsRecompileLimit() is true.
  int recompile_limit = 8;
  // Size budget: stored bytes of all artifacts (framed and compressed, as
  // on disk). Over it, least recently used artifacts are evicted with their
  // entries; pinned ones (see ArtifactHandle) never are. 0 = unlimited.
  int64_t max_bytes = 0;
  // A write that would take the stored bytes past this (because pinned
  // artifacts cannot be evicted, or the artifact alone is larger) gets
  // RESOURCE_EXHAUSTED and stores nothing. 0 = 2 * max_bytes (unlimited
  // when max_bytes is 0).
  int64_t hard_max_bytes = 0;
  // Threads that run compile functions.
  int compile_threads = 4;
  // Most compiles queued or running at once; a miss beyond it gets
  // RESOURCE_EXHAUSTED instead of queueing. 0 = unlimited.
  int max_pending_compiles = 0;
  // Verified artifact payloads kept in memory (an LRU by bytes); 0 = none.
  int64_t payload_cache_bytes = int64_t{256} << 20;
  // How often hit counts, last-used times and dim hints are written back
  // (batched, without fsync). Zero: only by FlushUsage() and Close().
  absl::Duration usage_flush_interval = absl::Seconds(1);
  // How often a waiter polls its `cancelled` callback.
  absl::Duration cancel_poll_interval = absl::Milliseconds(20);
  GuardLimits guard_limits;
  // The clock for created / last-used times; absl::Now when unset. Tests
  // set it to make LRU order explicit.
  std::function<absl::Time()> clock;
};

// What a compile produces.
struct CompiledArtifact {
  // The artifact: serialized plan and binaries (format owned by compiler/,
  // opaque here). Stored compressed with a checksum.
  std::string payload;
  // What Execute returns for it.
  v1::OutputSpec output_spec;
};

// Given to a CompileFn. Thread-safe.
class CompileContext {
 public:
  const std::string& graph_digest() const;
  const std::string& target() const;
  const GuardSet& guards() const;
  const std::string& artifact_key() const;
  // True while no caller waits for this compile any more (each gave up at
  // its deadline or was cancelled) or the cache is closing. A long compile
  // may poll it and return CANCELLED; a result it returns anyway is stored.
  bool abandoned() const;

 private:
  friend class internal::CacheImpl;
  explicit CompileContext(const internal::Flight* flight) : flight_(flight) {}
  const internal::Flight* flight_;
};

// Compiles one (graph, guards, target). Runs on one of the cache's compile
// threads, at most once per single-flight key at a time. An error fails
// every waiter with that status and caches nothing.
using CompileFn =
    std::function<absl::StatusOr<CompiledArtifact>(const CompileContext&)>;

// A pinned artifact: while a handle refers to it, eviction leaves it alone
// (a corrupt artifact is still removed; handles keep the bytes they read).
// Copies pin too. Handles must not outlive the ArtifactCache.
class ArtifactHandle {
 public:
  ArtifactHandle() = default;
  ArtifactHandle(const ArtifactHandle& other);
  ArtifactHandle& operator=(const ArtifactHandle& other);
  ArtifactHandle(ArtifactHandle&& other) noexcept;
  ArtifactHandle& operator=(ArtifactHandle&& other) noexcept;
  ~ArtifactHandle();

  explicit operator bool() const { return entry_ != nullptr; }

  const std::string& artifact_key() const;
  const std::string& graph_digest() const;
  const std::string& guards_digest() const;
  const std::string& target() const;
  const v1::OutputSpec& output_spec() const;
  // The guards the artifact was compiled under.
  const std::shared_ptr<const GuardSet>& guards() const;
  // The payload, verified against its checksum (empty if the handle was
  // made without reading it; the cache's own handles always read it).
  const std::string& payload() const;

 private:
  friend class internal::CacheImpl;
  ArtifactHandle(std::shared_ptr<internal::CacheEntry> entry,
                 std::shared_ptr<const std::string> payload);
  void Release();

  std::shared_ptr<internal::CacheEntry> entry_;
  std::shared_ptr<const std::string> payload_;
};

// What to compile, and where it goes in the cache.
struct CompileKey {
  std::string graph_digest;  // GraphDigest() of the graph
  std::string target;        // ResolveTarget(...) with this cache's version
  std::shared_ptr<const GuardSet> guards;
};

struct GetOrCompileOptions {
  // The concrete call that missed, when known (Lookup → Compile): lets the
  // cache record which dims wobbled against the graph's existing entries.
  const v1::CallSignature* signature = nullptr;
  // Recorded as the artifact's producing client and in logs.
  std::string client_id;
  // Compile anew and replace a stored artifact of the same key.
  bool bypass_cache = false;
  // When this caller stops waiting (DEADLINE_EXCEEDED). The compile goes on
  // for other waiters, and its result is stored.
  absl::Time deadline = absl::InfiniteFuture();
  // Polled while waiting; true stops waiting (CANCELLED).
  std::function<bool()> cancelled;
};

struct GetOrCompileResult {
  ArtifactHandle artifact;  // pinned, with its payload
  bool cache_hit = false;   // no compile was needed
  // Waited for a compile another caller started (single flight).
  bool shared_compile = false;
  int entry_index = 0;  // position in the graph's entry list, 0 = newest
  std::vector<v1::DynamicDimHint> dynamic_hints;
  absl::Duration lookup_time;   // key, index and payload lookup
  absl::Duration queue_time;    // waiting for a compile thread or a flight
  absl::Duration compile_time;  // the compile function (0 on a hit)
  absl::Duration store_time;    // writing it durably (0 on a hit)
};

struct LookupOptions {
  // On a miss, explain every entry (LookupMiss.explanations).
  bool explain = false;
  // Recorded in logs.
  std::string client_id;
};

struct ReadArtifactOptions {
  // Count the read as a use (last-used time). Off for tooling that only
  // inspects or copies artifacts (CacheAdmin Get and Export).
  bool touch = true;
};

// An entry exported by another cache (CacheAdmin.Import), with what its
// source knew about it.
struct ImportEntry {
  // Must equal ArtifactKey() of the parts below, with this cache's compiler
  // version and salt.
  std::string artifact_key;
  std::string graph_digest;
  // Resolved for this cache's compiler version and salt.
  std::string target;
  std::shared_ptr<const GuardSet> guards;
  v1::OutputSpec output_spec;
  std::string payload;
  // Kept as the source had them (a creation time of 0 or less means now).
  int64_t created_unix_ms = 0;
  int64_t compile_time_us = 0;
  std::string producing_client;
};

enum class ImportOutcome {
  kImported,
  // An artifact of the same key was stored already; it is left unchanged.
  kAlreadyPresent,
};

// True for the status GetOrCompile returns when a graph already has
// recompile_limit entries on a target: the client should run eagerly.
// (Other RESOURCE_EXHAUSTED statuses mean the store or queue is full.)
bool IsRecompileLimit(const absl::Status& status);

// The artifact cache: entries per (graph digest, target), each a guard set
// and the artifact that serves calls the guards admit, stored durably in a
// Store and indexed in memory.
//
// Lookup evaluates a graph's entries newest first against a concrete call
// and needs no store read. GetOrCompile returns the artifact of an exact
// (graph, guards, target) or compiles it, at most once at a time per key
// (single flight): concurrent identical misses share one compile. Every
// change to the store (artifact, metadata and entry list together, with
// any evictions it causes) is one atomic WriteBatch, acknowledged only
// once durable. Reads verify checksums; a corrupt artifact is removed,
// counted, logged and never served, and the next request recompiles it.
//
// Thread safety: every method may be called concurrently from any thread,
// except Close and the destructor, which must not overlap other calls --
// but callers already waiting in GetOrCompile may stay: Close lets running
// compiles finish and store, and fails queued ones with CANCELLED.
class ArtifactCache {
 public:
  // Opens the store, loads the index of entries and starts the compile
  // threads. Errors as Store::Open, and INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<ArtifactCache>> Create(
      ArtifactCacheOptions options);
  ~ArtifactCache();
  ArtifactCache(const ArtifactCache&) = delete;
  ArtifactCache& operator=(const ArtifactCache&) = delete;

  // Finds the entry that serves `signature` (see v1::LookupResponse for hit,
  // miss, metadata candidates and hints). A miss is an OK response; it
  // records dims that wobbled. INVALID_ARGUMENT for a malformed digest,
  // target or signature.
  absl::StatusOr<v1::LookupResponse> Lookup(std::string_view graph_digest,
                                            std::string_view target,
                                            const v1::CallSignature& signature,
                                            const LookupOptions& options = {});

  // Every entry of (graph, target), newest first, with the first guard that
  // fails for `signature` or would_hit. Changes nothing.
  absl::StatusOr<v1::ExplainResponse> Explain(
      std::string_view graph_digest, std::string_view target,
      const v1::CallSignature& signature) const;

  // The artifact of `key` (exact guards), from the cache or compiled by
  // `compile`; see GetOrCompileOptions. Errors: the compile's own status
  // (shared by every waiter); RESOURCE_EXHAUSTED for the recompile limit
  // (IsRecompileLimit), the hard size limit or a full compile queue;
  // DEADLINE_EXCEEDED / CANCELLED when this caller gave up; INVALID_ARGUMENT
  // for a malformed key; store errors.
  absl::StatusOr<GetOrCompileResult> GetOrCompile(
      const CompileKey& key, CompileFn compile,
      const GetOrCompileOptions& options = {});

  // The stored artifact, pinned, with its verified payload; std::nullopt
  // for an unknown key. DATA_LOSS when it fails its checksum (it is then
  // removed with its entry and counted).
  absl::StatusOr<std::optional<ArtifactHandle>> ReadArtifact(
      std::string_view artifact_key, const ReadArtifactOptions& options = {});

  // Adds entries exported by another cache, all in one atomic write with
  // the evictions that make room (as a compile's write would). One outcome
  // per entry, in order: kImported; kAlreadyPresent; or that entry's own
  // error -- INVALID_ARGUMENT for an entry that is malformed or whose key
  // does not match its parts, the recompile-limit status (IsRecompileLimit)
  // when its graph already has that many entries on its target, or
  // RESOURCE_EXHAUSTED for an artifact larger than the hard size limit. An
  // entry goes into its graph's list by creation time (newest first), keeps
  // its creation time, compile time and producing client, and starts its
  // use here: last used now, no hits. The call fails as a whole, storing
  // nothing, for store errors, the hard size limit, or a closed cache.
  absl::StatusOr<std::vector<absl::StatusOr<ImportOutcome>>> Import(
      std::vector<ImportEntry> entries);

  // What the cache knows about one artifact / all of them.
  std::optional<v1::ArtifactInfo> GetInfo(std::string_view artifact_key) const;
  std::vector<v1::ArtifactInfo> ListArtifacts() const;
  // One entry in full for CacheAdmin.Get: info, guards (canonical and in
  // words) and output spec. graph_text is left empty: the cache keeps
  // artifacts, not graphs.
  std::optional<v1::GetResponse> Describe(std::string_view artifact_key) const;

  // Removes the selected entries (see v1::EvictRequest); pinned artifacts
  // are skipped. INVALID_ARGUMENT for a malformed request.
  absl::StatusOr<v1::EvictResponse> Evict(const v1::EvictRequest& request);

  // Contents are current; traffic counters count since Create.
  v1::StatsResponse Stats() const;

  // Writes back batched hit counts, last-used times and dim hints now.
  absl::Status FlushUsage();

  // The compiler version and operator salt every target and key of this
  // cache carries (ArtifactCacheOptions).
  int compiler_version() const;
  int salt() const;

  // The underlying store (for tests and tools); owned by the cache.
  Store& store();

  // Stops the compile threads (running compiles finish, queued ones fail
  // with CANCELLED), flushes usage and closes the store. Idempotent.
  absl::Status Close();

 private:
  explicit ArtifactCache(std::unique_ptr<internal::CacheImpl> impl);
  std::unique_ptr<internal::CacheImpl> impl_;
};

}  // namespace kiln::cache

#endif  // KILN_CACHE_ARTIFACT_CACHE_H_
