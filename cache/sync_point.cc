#include "cache/sync_point.h"

#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace kiln::cache {

struct SyncPoint::State {
  mutable absl::Mutex mu;
  // successor -> its predecessors.
  absl::flat_hash_map<std::string, std::vector<std::string>> predecessors
      ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int> passed ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, std::shared_ptr<std::function<void(void*)>>>
      callbacks ABSL_GUARDED_BY(mu);
};

SyncPoint::SyncPoint() : state_(std::make_unique<State>()) {}

SyncPoint& SyncPoint::Get() {
  static SyncPoint* const instance = new SyncPoint();
  return *instance;
}

void SyncPoint::LoadDependency(const std::vector<Dependency>& dependencies) {
  absl::MutexLock lock(&state_->mu);
  state_->predecessors.clear();
  state_->passed.clear();
  for (const Dependency& d : dependencies) {
    state_->predecessors[d.successor].push_back(d.predecessor);
  }
}

void SyncPoint::SetCallBack(const std::string& point,
                            std::function<void(void*)> fn) {
  absl::MutexLock lock(&state_->mu);
  state_->callbacks[point] =
      std::make_shared<std::function<void(void*)>>(std::move(fn));
}

void SyncPoint::ClearCallBack(const std::string& point) {
  absl::MutexLock lock(&state_->mu);
  state_->callbacks.erase(point);
}

void SyncPoint::ClearAll() {
  absl::MutexLock lock(&state_->mu);
  state_->predecessors.clear();
  state_->passed.clear();
  state_->callbacks.clear();
}

void SyncPoint::EnableProcessing() { enabled_.store(true); }
void SyncPoint::DisableProcessing() { enabled_.store(false); }

int SyncPoint::PassCount(const std::string& point) const {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->passed.find(point);
  return it == state_->passed.end() ? 0 : it->second;
}

void SyncPoint::Process(std::string_view point_view, void* arg) {
  if (!enabled()) return;
  std::string point(point_view);
  std::shared_ptr<std::function<void(void*)>> callback;
  {
    absl::MutexLock lock(&state_->mu);
    auto deps = state_->predecessors.find(point);
    if (deps != state_->predecessors.end()) {
      const std::vector<std::string>& preds = deps->second;
      State* s = state_.get();
      auto all_passed = [s, &preds]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
        for (const std::string& p : preds) {
          if (!s->passed.contains(p)) return false;
        }
        return true;
      };
      state_->mu.Await(absl::Condition(&all_passed));
    }
    auto cb = state_->callbacks.find(point);
    if (cb != state_->callbacks.end()) callback = cb->second;
  }
  if (callback != nullptr) (*callback)(arg);
  absl::MutexLock lock(&state_->mu);
  ++state_->passed[point];
}

}  // namespace kiln::cache
