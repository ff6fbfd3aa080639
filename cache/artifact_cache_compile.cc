// ArtifactCache: GetOrCompile with single-flight compiles, and reading
// artifacts (verified, through the payload LRU).

#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/artifact_cache_impl.h"
#include "cache/keys.h"
#include "cache/sync_point.h"
#include "spdlog/spdlog.h"

namespace kiln::cache::internal {
namespace {

// Blocks until `flight` is done (OK), or until this caller gives up:
// DEADLINE_EXCEEDED at its deadline, CANCELLED when its callback says so.
absl::Status WaitForFlight(Flight& flight, const GetOrCompileOptions& options,
                           absl::Duration poll) {
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::GetOrCompile:Waiting", &flight);
  absl::MutexLock lock(&flight.mu);
  auto done = [&flight]()
                  ABSL_NO_THREAD_SAFETY_ANALYSIS { return flight.done; };
  while (!flight.done) {
    if (options.cancelled && options.cancelled()) {
      return absl::CancelledError(
          "the caller cancelled while waiting for the "
          "compile");
    }
    absl::Time now = absl::Now();
    if (now >= options.deadline) {
      return absl::DeadlineExceededError(
          "deadline passed while waiting for the compile");
    }
    absl::Time wake = options.deadline;
    if (options.cancelled) wake = std::min(wake, now + poll);
    flight.mu.AwaitWithDeadline(absl::Condition(&done), wake);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GetOrCompileResult> CacheImpl::GetOrCompile(
    const CompileKey& key, CompileFn compile,
    const GetOrCompileOptions& options) {
  absl::Time start = absl::Now();
  if (absl::Status s = CheckKeyParts(key.graph_digest, key.target); !s.ok()) {
    return s;
  }
  if (key.guards == nullptr) {
    return absl::InvalidArgumentError("guards: required");
  }
  if (!compile) return absl::InvalidArgumentError("compile: required");
  if (options.signature != nullptr) {
    absl::Status s =
        ValidateSignature(*options.signature, options_.guard_limits);
    if (!s.ok()) return s;
  }
  if (closing_.load()) {
    return absl::FailedPreconditionError("the artifact cache is closing");
  }
  ArtifactKeyParts parts{key.graph_digest, key.guards->digest(), key.target,
                         options_.compiler_version, options_.salt};
  const std::string artifact_key = ArtifactKey(parts);
  LogArtifactKey("artifact cache: get-or-compile", artifact_key, parts);

  GetOrCompileResult result;
  bool counted_miss = false;
  for (int attempt = 0;; ++attempt) {
    if (!options.bypass_cache) {
      std::shared_ptr<CacheEntry> entry = FindEntry(artifact_key);
      if (entry != nullptr && entry->TryPin()) {
        absl::StatusOr<std::shared_ptr<const std::string>> payload =
            ReadPayload(entry);
        if (payload.ok()) {
          result.artifact = MakeHandle(entry, *payload);  // adopts the pin
          std::shared_ptr<const EntryList> list =
              FindList(key.graph_digest, key.target);
          result.cache_hit = true;
          result.entry_index =
              list == nullptr ? 0 : std::max(0, list->IndexOf(entry.get()));
          CountHit(*entry, list == nullptr ? nullptr : list->counters, entry);
          result.dynamic_hints = HintsFor(key.graph_digest);
          result.lookup_time = absl::Now() - start;
          KILN_SYNC_POINT("ArtifactCache::GetOrCompile:Hit");
          return result;
        }
        entry->Unpin();
        // A corrupt artifact was just removed (and counted); one removed
        // meanwhile is simply gone. Either way: compile it again.
        if (payload.status().code() != absl::StatusCode::kDataLoss &&
            payload.status().code() != absl::StatusCode::kNotFound) {
          return payload.status();
        }
      }
    }

    std::shared_ptr<const EntryList> list =
        FindList(key.graph_digest, key.target);
    if (!counted_miss) {
      counted_miss = true;
      (list != nullptr ? list->counters
                       : CountersFor(key.target, /*has_entries=*/false))
          ->misses.fetch_add(1);
      misses_.fetch_add(1);
      if (options.signature != nullptr && list != nullptr) {
        RecordWobble(key.graph_digest,
                     WobbleAgainst(*list, *options.signature));
      }
    }
    result.lookup_time = absl::Now() - start;
    if (list != nullptr &&
        static_cast<int>(list->entries.size()) >= options_.recompile_limit) {
      bool listed = false;
      for (const auto& e : list->entries)
        listed |= e->artifact_key == artifact_key;
      if (!listed) {
        spdlog::info(
            "artifact cache: recompile limit ({}) reached for "
            "graph_digest={} target={}; client {} should run eagerly",
            options_.recompile_limit, key.graph_digest, key.target,
            options.client_id);
        return RecompileLimitError(*list, options_.recompile_limit);
      }
    }

    // Join the compile in flight for this key, or start one.
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      absl::MutexLock lock(&flights_mu_);
      auto it = flights_.find(artifact_key);
      if (it != flights_.end()) {
        flight = it->second;
        flight->waiters.fetch_add(1);
      } else {
        if (options_.max_pending_compiles > 0 &&
            pending_compiles_ >= options_.max_pending_compiles) {
          return absl::ResourceExhaustedError(
              absl::StrCat("compile queue is full (", pending_compiles_,
                           " compiles queued or running; limit ",
                           options_.max_pending_compiles, ")"));
        }
        flight = std::make_shared<Flight>();
        flight->artifact_key = artifact_key;
        flight->graph_digest = key.graph_digest;
        flight->target = key.target;
        flight->guards = key.guards;
        flight->client_id = options.client_id;
        flight->bypass_cache = options.bypass_cache;
        flight->compile = compile;  // kept for a retry
        flight->closing = &closing_;
        flight->enqueued = absl::Now();
        flight->waiters.store(1);
        flights_.emplace(artifact_key, flight);
        ++pending_compiles_;
        leader = true;
      }
    }
    if (leader) {
      spdlog::debug("artifact cache: compiling artifact_key={} for client {}",
                    artifact_key, options.client_id);
      if (!pool_->Schedule([this, flight] { RunFlight(flight); })) {
        // Close shut the pool down after this call began.
        FinishFlight(flight,
                     absl::CancelledError("the artifact cache is closing"),
                     ArtifactHandle(), 0);
      }
      KILN_SYNC_POINT_CALLBACK("ArtifactCache::GetOrCompile:StartedFlight",
                               flight.get());
    } else {
      KILN_SYNC_POINT_CALLBACK("ArtifactCache::GetOrCompile:JoinedFlight",
                               flight.get());
    }

    absl::Time wait_start = absl::Now();
    absl::Status waited =
        WaitForFlight(*flight, options, options_.cancel_poll_interval);
    if (!waited.ok()) {
      bool finished;
      int left = -1;
      {
        absl::MutexLock lock(&flights_mu_);
        {
          absl::MutexLock flight_lock(&flight->mu);
          finished = flight->done;
        }
        if (!finished) left = flight->waiters.fetch_sub(1) - 1;
      }
      if (!finished) {
        if (left == 0) {
          spdlog::info(
              "artifact cache: nobody waits for the compile of {} any "
              "more; it may be abandoned",
              artifact_key);
        }
        KILN_SYNC_POINT_CALLBACK("ArtifactCache::GetOrCompile:GaveUp",
                                 flight.get());
        return waited;
      }
      // Finished just as this caller gave up: take the result.
    }

    absl::Status status;
    {
      absl::MutexLock lock(&flights_mu_);
      absl::MutexLock flight_lock(&flight->mu);
      status = flight->status;
      if (status.ok()) {
        result.artifact = flight->handle;  // a pin of our own
        result.entry_index = flight->entry_index;
        result.compile_time = flight->compile_time;
        result.store_time = flight->store_time;
      }
      // The flight pinned the artifact only until its last waiter took it.
      if (flight->waiters.fetch_sub(1) == 1) flight->handle = ArtifactHandle();
    }
    result.queue_time =
        absl::Now() - wait_start - result.compile_time - result.store_time;
    if (result.queue_time < absl::ZeroDuration()) {
      result.queue_time = absl::ZeroDuration();
    }
    result.shared_compile = !leader;
    if (!status.ok()) {
      // A compile abandoned before this caller joined may have stopped
      // early; this caller still wants the artifact, so start anew once.
      if (status.code() == absl::StatusCode::kCancelled && attempt == 0 &&
          !closing_.load() && !(options.cancelled && options.cancelled())) {
        continue;
      }
      return status;
    }
    result.dynamic_hints = HintsFor(key.graph_digest);
    return result;
  }
}

void CacheImpl::RunFlight(const std::shared_ptr<Flight>& flight) {
  absl::Time started = absl::Now();
  absl::Duration queue_time = started - flight->enqueued;
  if (closing_.load()) {
    FinishFlight(flight, absl::CancelledError("the artifact cache is closing"),
                 ArtifactHandle(), 0);
    return;
  }
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::Compile:Start", flight.get());
  absl::StatusOr<CompiledArtifact> compiled =
      flight->compile(MakeContext(flight.get()));
  absl::Duration compile_time = absl::Now() - started;
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::Compile:Done", flight.get());
  if (!compiled.ok()) {
    spdlog::warn(
        "artifact cache: compile of artifact_key={} (graph_digest={} "
        "target={}) failed for {} waiter(s): {}",
        flight->artifact_key, flight->graph_digest, flight->target,
        flight->waiters.load(), compiled.status().ToString());
    {
      absl::MutexLock lock(&flight->mu);
      flight->queue_time = queue_time;
      flight->compile_time = compile_time;
    }
    FinishFlight(flight, compiled.status(), ArtifactHandle(), 0);
    return;
  }
  absl::Time store_start = absl::Now();
  absl::StatusOr<std::pair<ArtifactHandle, int>> inserted =
      Insert(*flight, std::move(*compiled), compile_time);
  {
    absl::MutexLock lock(&flight->mu);
    flight->queue_time = queue_time;
    flight->compile_time = compile_time;
    flight->store_time = absl::Now() - store_start;
  }
  if (!inserted.ok()) {
    spdlog::warn("artifact cache: storing artifact_key={} failed: {}",
                 flight->artifact_key, inserted.status().ToString());
    FinishFlight(flight, inserted.status(), ArtifactHandle(), 0);
    return;
  }
  FinishFlight(flight, absl::OkStatus(), std::move(inserted->first),
               inserted->second);
}

void CacheImpl::FinishFlight(const std::shared_ptr<Flight>& flight,
                             absl::Status status, ArtifactHandle handle,
                             int entry_index) {
  absl::MutexLock lock(&flights_mu_);
  auto it = flights_.find(flight->artifact_key);
  if (it != flights_.end() && it->second == flight) flights_.erase(it);
  --pending_compiles_;
  absl::MutexLock flight_lock(&flight->mu);
  flight->status = std::move(status);
  // Waiters copy the handle (a pin each); with none left, nobody will.
  if (flight->waiters.load() > 0) flight->handle = std::move(handle);
  flight->entry_index = entry_index;
  flight->done = true;
}

absl::StatusOr<std::shared_ptr<const std::string>> CacheImpl::ReadPayload(
    const std::shared_ptr<CacheEntry>& entry) {
  if (std::shared_ptr<const std::string> cached =
          payloads_.Get(entry->artifact_key)) {
    return cached;
  }
  KILN_SYNC_POINT_CALLBACK("ArtifactCache::ReadPayload:BeforeRead",
                           entry.get());
  absl::StatusOr<std::optional<std::string>> read =
      store_->GetArtifact(entry->artifact_key);
  if (!read.ok()) {
    if (read.status().code() == absl::StatusCode::kDataLoss) {
      RemoveCorrupt(entry, read.status());
      return absl::DataLossError(absl::StrCat(
          "artifact ", entry->artifact_key,
          " failed verification and was removed: ", read.status().message()));
    }
    return read.status();
  }
  if (!read->has_value()) {
    if (entry->removed.load()) {
      return absl::NotFoundError(
          absl::StrCat("artifact ", entry->artifact_key, " was removed"));
    }
    absl::Status missing = absl::DataLossError(absl::StrCat(
        "artifact ", entry->artifact_key, " is listed but not stored"));
    RemoveCorrupt(entry, missing);
    return missing;
  }
  auto payload = std::make_shared<const std::string>(std::move(**read));
  payloads_.Put(entry->artifact_key, payload);
  return payload;
}

absl::StatusOr<std::optional<ArtifactHandle>> CacheImpl::ReadArtifact(
    std::string_view artifact_key, const ReadArtifactOptions& options) {
  if (!IsHexDigest(artifact_key)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact_key: expected 64 lowercase hex characters, got '",
        std::string(artifact_key.substr(0, 80)), "'"));
  }
  std::shared_ptr<CacheEntry> entry = FindEntry(artifact_key);
  if (entry == nullptr || !entry->TryPin()) {
    return std::optional<ArtifactHandle>();
  }
  absl::StatusOr<std::shared_ptr<const std::string>> payload =
      ReadPayload(entry);
  if (!payload.ok()) {
    entry->Unpin();
    if (payload.status().code() == absl::StatusCode::kNotFound) {
      return std::optional<ArtifactHandle>();
    }
    return payload.status();
  }
  if (options.touch) {
    entry->last_used_unix_ms.store(NowMs(), std::memory_order_relaxed);
    MarkUsageDirty(entry);
  }
  return std::optional<ArtifactHandle>(MakeHandle(entry, *payload));
}

}  // namespace kiln::cache::internal
