// Loaded executables of stored artifacts, for Execute: an LRU keyed by
// artifact key, bounded by count. Loading an artifact (Backend::Load: for
// the CPU backend, writing and dlopen-ing its shared object) happens once
// per key while it stays in memory; concurrent first uses of one key share
// one load.
//
// The LRU does not pin artifacts in the cache: every Get reads the artifact
// through ArtifactCache::ReadArtifact (from its in-memory payload LRU when
// warm), which pins it for the caller, records the use and answers NOT_FOUND
// once the artifact is evicted -- so eviction and corruption handling stay
// the cache's. An executable in use survives its own eviction from this LRU
// (shared ownership).
//
// Thread safety: every method may be called concurrently.
#ifndef KILN_SERVER_EXECUTABLES_H_
#define KILN_SERVER_EXECUTABLES_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cache/artifact_cache.h"
#include "compiler/backends/backend.h"

namespace kiln::server {

// One artifact, ready to run.
struct LoadedArtifact {
  std::string artifact_key;
  std::string backend;
  std::shared_ptr<const backends::Executable> executable;
  std::shared_ptr<const cache::GuardSet> guards;
  v1::OutputSpec output_spec;
};

// What Get returns: the executable and the artifact pinned for the call.
struct ExecutableRef {
  std::shared_ptr<const LoadedArtifact> artifact;
  cache::ArtifactHandle pin;
  int64_t load_us = 0;  // 0 when it was already loaded
};

class ExecutableCache {
 public:
  // `cache` outlives this object; `capacity` >= 1 executables.
  ExecutableCache(cache::ArtifactCache* cache, int capacity);

  // NOT_FOUND for an unknown (or evicted) key, INVALID_ARGUMENT for a
  // malformed one, DATA_LOSS for a corrupt artifact, FAILED_PRECONDITION
  // for one this host cannot run.
  absl::StatusOr<ExecutableRef> Get(std::string_view artifact_key);

  // Drops the executable of `artifact_key` (its artifact was replaced).
  void Forget(std::string_view artifact_key);

  int size() const;

 private:
  struct Loading;
  using Lru = std::list<std::shared_ptr<const LoadedArtifact>>;

  absl::StatusOr<std::shared_ptr<const LoadedArtifact>> Load(
      const cache::ArtifactHandle& handle) const;
  void Insert(std::shared_ptr<const LoadedArtifact> loaded)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  cache::ArtifactCache* const cache_;
  const int capacity_;
  mutable absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<std::string, Lru::iterator> by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Loading>> loading_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::server

#endif  // KILN_SERVER_EXECUTABLES_H_
