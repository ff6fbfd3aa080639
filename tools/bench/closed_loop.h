// Closed-loop load: N clients, each on its own thread, issue one request at
// a time back to back for a fixed time and record every latency.
#ifndef KILN_TOOLS_BENCH_CLOSED_LOOP_H_
#define KILN_TOOLS_BENCH_CLOSED_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::bench {

// What the server reported about one call (Kiln's `timings`).
struct ServerTimings {
  // From receiving the request to sending the response, where reported.
  std::optional<absl::Duration> total;
  // Named stages in the server's order, e.g. {"input copy", 29 ms}.
  std::vector<std::pair<std::string, absl::Duration>> stages;
};

// One client's request, issued repeatedly by one thread. It owns whatever
// the client keeps between requests (a connection, a shared-memory region);
// its destructor releases it. Only its own thread calls it.
class ClientOp {
 public:
  virtual ~ClientOp() = default;
  // One request. A non-OK status counts as an error and is not timed.
  virtual absl::Status Call() = 0;
  // What the server reported for the last successful call; null when the
  // response carries no timings.
  virtual const ServerTimings* LastServerTimings() const { return nullptr; }
};

// Makes the op of client `index` (0 ≤ index < clients). Called once per
// client on that client's thread, before the clock starts.
using ClientOpFactory =
    std::function<absl::StatusOr<std::unique_ptr<ClientOp>>(int index)>;

struct LoadOptions {
  int clients = 1;
  // Measured time; every client runs at least `min_calls_per_client` calls
  // even when they take longer.
  absl::Duration duration = absl::Seconds(3);
  int min_calls_per_client = 1;
  // Untimed calls per client before the clock starts.
  int warmup_calls = 3;
};

// Latencies of a run, in nanoseconds, sorted.
class LatencySample {
 public:
  explicit LatencySample(std::vector<int64_t> nanos);
  int64_t count() const { return static_cast<int64_t>(nanos_.size()); }
  // The nearest-rank percentile, p in [0, 100]; 0 for an empty sample.
  int64_t Percentile(double p) const;

 private:
  std::vector<int64_t> nanos_;
};

struct LoadResult {
  LatencySample latency{{}};
  // Server-reported totals of the calls that had one (may be empty).
  LatencySample server_time{{}};
  // Server-reported stages, in the server's order (may be empty).
  std::vector<std::pair<std::string, LatencySample>> server_stages;
  int64_t errors = 0;
  // The first error, for the report.
  std::string first_error;
  // From the start of the measured calls to the end of the last one.
  absl::Duration elapsed;
  // Successful calls per second over `elapsed`.
  double throughput() const;
};

// Runs `options.clients` clients against `make_op`. Fails when any client's
// op cannot be made (nothing is measured then).
absl::StatusOr<LoadResult> RunClosedLoop(const LoadOptions& options,
                                         const ClientOpFactory& make_op);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_CLOSED_LOOP_H_
