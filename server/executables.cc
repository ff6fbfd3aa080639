#include "server/executables.h"

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/compile_pipeline.h"
#include "spdlog/spdlog.h"

namespace kiln::server {

// A load in progress; later callers for the same key wait for it.
struct ExecutableCache::Loading {
  bool done = false;
  absl::StatusOr<std::shared_ptr<const LoadedArtifact>> result =
      absl::UnknownError("loading");
};

ExecutableCache::ExecutableCache(cache::ArtifactCache* cache, int capacity)
    : cache_(cache), capacity_(capacity < 1 ? 1 : capacity) {}

absl::StatusOr<ExecutableRef> ExecutableCache::Get(
    std::string_view artifact_key) {
  absl::StatusOr<std::optional<cache::ArtifactHandle>> handle =
      cache_->ReadArtifact(artifact_key);
  if (!handle.ok()) return handle.status();
  if (!handle->has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "artifact_key: no artifact ", std::string(artifact_key),
        " on this server (never compiled here, or evicted); Compile it "
        "again"));
  }
  ExecutableRef ref;
  ref.pin = std::move(**handle);
  const std::string key(artifact_key);

  std::shared_ptr<Loading> loading;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ref.artifact = *it->second;
      return ref;
    }
    auto [slot, inserted] = loading_.try_emplace(key);
    if (inserted) slot->second = std::make_shared<Loading>();
    loading = slot->second;
    leader = inserted;
  }
  if (!leader) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Loading* l) { return l->done; }, loading.get()));
    if (!loading->result.ok()) return loading->result.status();
    ref.artifact = *loading->result;
    return ref;
  }

  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::shared_ptr<const LoadedArtifact>> loaded = Load(ref.pin);
  ref.load_us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
  {
    absl::MutexLock lock(&mu_);
    loading->result = loaded;
    loading->done = true;
    loading_.erase(key);
    if (loaded.ok()) Insert(*loaded);
  }
  if (!loaded.ok()) {
    spdlog::warn("cannot load artifact {}: {}", key,
                 loaded.status().ToString());
    return loaded.status();
  }
  spdlog::debug("loaded artifact {} ({}) in {} us", key, (*loaded)->backend,
                ref.load_us);
  ref.artifact = *std::move(loaded);
  return ref;
}

absl::StatusOr<std::shared_ptr<const LoadedArtifact>> ExecutableCache::Load(
    const cache::ArtifactHandle& handle) const {
  absl::StatusOr<envelope::ArtifactEnvelope> env =
      ParseEnvelope(handle.payload());
  if (!env.ok()) return env.status();
  absl::StatusOr<std::unique_ptr<backends::Backend>> backend =
      backends::CreateBackend(env->backend());
  if (!backend.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("artifact ", handle.artifact_key(), " was built by the ",
                     env->backend(), " backend, which this server lacks"));
  }
  absl::StatusOr<std::unique_ptr<backends::Executable>> executable =
      (*backend)->Load(env->executable(), backends::LoadOptions());
  if (!executable.ok()) {
    absl::Status s = executable.status();
    // Bytes the backend does not read passed the cache's checksum: a
    // format this build cannot run, not a client error.
    if (s.code() == absl::StatusCode::kInvalidArgument) {
      return absl::DataLossError(
          absl::StrCat("artifact ", handle.artifact_key(),
                       " cannot be loaded: ", s.message()));
    }
    return s;
  }
  auto loaded = std::make_shared<LoadedArtifact>();
  loaded->artifact_key = handle.artifact_key();
  loaded->backend = env->backend();
  loaded->executable = std::move(*executable);
  loaded->guards = handle.guards();
  loaded->output_spec = handle.output_spec();
  return std::shared_ptr<const LoadedArtifact>(std::move(loaded));
}

void ExecutableCache::Insert(std::shared_ptr<const LoadedArtifact> loaded) {
  const std::string key = loaded->artifact_key;
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    lru_.erase(it->second);
    by_key_.erase(it);
  }
  lru_.push_front(std::move(loaded));
  by_key_[key] = lru_.begin();
  while (static_cast<int>(lru_.size()) > capacity_) {
    by_key_.erase(lru_.back()->artifact_key);
    lru_.pop_back();
  }
}

void ExecutableCache::Forget(std::string_view artifact_key) {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(std::string(artifact_key));
  if (it == by_key_.end()) return;
  lru_.erase(it->second);
  by_key_.erase(it);
}

int ExecutableCache::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(lru_.size());
}

}  // namespace kiln::server
