#ifndef KILN_CACHE_SYNC_POINT_H_
#define KILN_CACHE_SYNC_POINT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::cache {

// Named points in concurrent code where tests can impose an order or run a
// callback, after RocksDB's TEST_SYNC_POINT. The registry is compiled into
// every build but inert until a test calls EnableProcessing(): a disabled
// point costs one relaxed atomic load.
//
//   KILN_SYNC_POINT("ArtifactCache::Flight:Joined");
//   KILN_SYNC_POINT_CALLBACK("ArtifactCache::Evict:Victim", &key);
//
// A test orders points with LoadDependency({{"A", "B"}}): a thread reaching
// B blocks until some thread has passed A. SetCallBack runs a function (with
// the point's argument) whenever a thread reaches the point. Callbacks run
// on the thread that reaches the point, outside the registry's lock, so they
// may block (for example on a test's own barrier) without stalling other
// points.
//
// Thread safety: every method may be called from any thread. Tests must
// DisableProcessing() and ClearAll() before the objects their callbacks
// capture go away (SyncPointGuard does that).
class SyncPoint {
 public:
  struct Dependency {
    std::string predecessor;
    std::string successor;
  };

  static SyncPoint& Get();

  // Replaces the dependencies and forgets which points were passed.
  void LoadDependency(const std::vector<Dependency>& dependencies);
  void SetCallBack(const std::string& point, std::function<void(void*)> fn);
  void ClearCallBack(const std::string& point);
  // Forgets dependencies, callbacks and passed points.
  void ClearAll();
  void EnableProcessing();
  void DisableProcessing();

  // How many times `point` has been passed since the last LoadDependency or
  // ClearAll (counted only while processing is enabled).
  int PassCount(const std::string& point) const;

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Called by the macros; use them instead.
  void Process(std::string_view point, void* arg);

 private:
  SyncPoint();
  struct State;
  std::atomic<bool> enabled_{false};
  std::unique_ptr<State> state_;
};

// Enables processing for its lifetime; clears everything when destroyed.
class SyncPointGuard {
 public:
  SyncPointGuard() { SyncPoint::Get().EnableProcessing(); }
  ~SyncPointGuard() {
    SyncPoint::Get().DisableProcessing();
    SyncPoint::Get().ClearAll();
  }
  SyncPointGuard(const SyncPointGuard&) = delete;
  SyncPointGuard& operator=(const SyncPointGuard&) = delete;
};

}  // namespace kiln::cache

#define KILN_SYNC_POINT(name)                                   \
  do {                                                          \
    if (::kiln::cache::SyncPoint::Get().enabled()) {            \
      ::kiln::cache::SyncPoint::Get().Process((name), nullptr); \
    }                                                           \
  } while (0)

#define KILN_SYNC_POINT_CALLBACK(name, arg)                   \
  do {                                                        \
    if (::kiln::cache::SyncPoint::Get().enabled()) {          \
      ::kiln::cache::SyncPoint::Get().Process((name), (arg)); \
    }                                                         \
  } while (0)

#endif  // KILN_CACHE_SYNC_POINT_H_
