#include "tools/bench/closed_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace kiln::bench {
namespace {

using Clock = std::chrono::steady_clock;

// What one client thread brings back.
struct ClientRecord {
  absl::Status setup;
  std::vector<int64_t> nanos;
  std::vector<int64_t> server_nanos;
  std::vector<std::pair<std::string, std::vector<int64_t>>> stage_nanos;
  int64_t errors = 0;
  std::string first_error;
  Clock::time_point start;
  Clock::time_point end;
};

// Lets every client finish its setup and warm-up before the clock starts.
class StartGate {
 public:
  explicit StartGate(int parties) : waiting_(parties) {}
  // Blocks until all parties arrived; returns the common start time.
  Clock::time_point ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--waiting_ == 0) {
      start_ = Clock::now();
      cv_.notify_all();
    } else {
      cv_.wait(lock, [this] { return waiting_ == 0; });
    }
    return start_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_;
  Clock::time_point start_;
};

void Record(const ServerTimings& timings, ClientRecord& record) {
  if (timings.total.has_value()) {
    record.server_nanos.push_back(absl::ToInt64Nanoseconds(*timings.total));
  }
  for (const auto& [name, duration] : timings.stages) {
    auto it = std::find_if(record.stage_nanos.begin(), record.stage_nanos.end(),
                           [&](const auto& s) { return s.first == name; });
    if (it == record.stage_nanos.end()) {
      it = record.stage_nanos.insert(record.stage_nanos.end(), {name, {}});
    }
    it->second.push_back(absl::ToInt64Nanoseconds(duration));
  }
}

}  // namespace

LatencySample::LatencySample(std::vector<int64_t> nanos)
    : nanos_(std::move(nanos)) {
  std::sort(nanos_.begin(), nanos_.end());
}

int64_t LatencySample::Percentile(double p) const {
  if (nanos_.empty()) return 0;
  double rank = std::ceil(p / 100.0 * static_cast<double>(nanos_.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return nanos_[std::min(index, nanos_.size() - 1)];
}

double LoadResult::throughput() const {
  double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(latency.count()) / seconds : 0;
}

absl::StatusOr<LoadResult> RunClosedLoop(const LoadOptions& options,
                                         const ClientOpFactory& make_op) {
  const int clients = std::max(1, options.clients);
  const auto duration = absl::ToChronoNanoseconds(options.duration);
  std::vector<ClientRecord> records(clients);
  StartGate gate(clients);
  std::vector<std::thread> threads;
  threads.reserve(clients);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      ClientRecord& record = records[i];
      absl::StatusOr<std::unique_ptr<ClientOp>> op = make_op(i);
      if (!op.ok()) record.setup = op.status();
      for (int w = 0; op.ok() && w < options.warmup_calls; ++w) {
        absl::Status s = (*op)->Call();
        if (!s.ok()) {
          record.setup = s;
          break;
        }
      }
      // Everyone arrives, even a client that failed, so none waits forever;
      // a failed client then makes no calls.
      Clock::time_point start = gate.ArriveAndWait();
      record.start = start;
      record.end = start;
      if (!record.setup.ok()) return;
      Clock::time_point deadline = start + duration;
      for (int n = 0;; ++n) {
        Clock::time_point before = Clock::now();
        if (before >= deadline && n >= options.min_calls_per_client) break;
        absl::Status s = (*op)->Call();
        Clock::time_point after = Clock::now();
        record.end = after;
        if (s.ok()) {
          record.nanos.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(after -
                                                                   before)
                  .count());
          if (const ServerTimings* server = (*op)->LastServerTimings()) {
            Record(*server, record);
          }
        } else if (record.errors++ == 0) {
          record.first_error = s.ToString();
        }
      }
      // The op (connections, regions) is released on this thread.
    });
  }
  for (std::thread& t : threads) t.join();

  std::vector<int64_t> nanos, server_nanos;
  std::vector<std::pair<std::string, std::vector<int64_t>>> stages;
  LoadResult result;
  Clock::time_point end = records[0].start;
  for (ClientRecord& record : records) {
    if (!record.setup.ok()) return record.setup;
    nanos.insert(nanos.end(), record.nanos.begin(), record.nanos.end());
    server_nanos.insert(server_nanos.end(), record.server_nanos.begin(),
                        record.server_nanos.end());
    for (auto& [name, values] : record.stage_nanos) {
      auto it = std::find_if(stages.begin(), stages.end(),
                             [&](const auto& s) { return s.first == name; });
      if (it == stages.end()) it = stages.insert(stages.end(), {name, {}});
      it->second.insert(it->second.end(), values.begin(), values.end());
    }
    result.errors += record.errors;
    if (result.first_error.empty()) result.first_error = record.first_error;
    end = std::max(end, record.end);
  }
  result.elapsed = absl::FromChrono(end - records[0].start);
  result.latency = LatencySample(std::move(nanos));
  result.server_time = LatencySample(std::move(server_nanos));
  for (auto& [name, values] : stages) {
    result.server_stages.emplace_back(name, LatencySample(std::move(values)));
  }
  return result;
}

}  // namespace kiln::bench
