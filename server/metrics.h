#ifndef KILN_SERVER_METRICS_H_
#define KILN_SERVER_METRICS_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kiln/v1/compiler_service.pb.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace kiln::cache {
class ArtifactCache;
}  // namespace kiln::cache

namespace kiln::server {

class CacheCollector;

// The labels of a gRPC method path: ("kiln.v1.Compiler", "Compile") for
// "/kiln.v1.Compiler/Compile". Paths of methods this server does not serve
// map to ("unknown", "unknown"), so clients cannot grow the label sets.
std::pair<std::string, std::string> MethodLabels(absl::string_view path);

// kiln-server's Prometheus metrics (docs/operations.md lists every name),
// served over HTTP at /metrics by prometheus-cpp's Exposer when a listen
// address is given; otherwise recorded and never read.
//
// Request metrics are recorded by the call observer (server/call_observer.h)
// and by the token check for refused calls; cache metrics are read from
// ArtifactCache::Stats() at each scrape.
//
// Thread safety: every method may be called concurrently from any thread.
class ServerMetrics {
 public:
  // Starts the HTTP endpoint on `listen` (HOST:PORT, port 0 picks one) when
  // it is not empty. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      const std::string& listen);
  ~ServerMetrics();

  // "127.0.0.1:9464": where /metrics is served; empty when not served.
  const std::string& address() const { return address_; }

  // Calls started and not finished, long-lived health watches excepted
  // (what a drain waits for).
  int64_t active_calls() const {
    return active_calls_.load(std::memory_order_acquire);
  }

  // A call of `path` started / finished with `code` ("OK",
  // "UNAUTHENTICATED", ...) after `duration`.
  void CallStarted(absl::string_view path);
  void CallFinished(absl::string_view path, absl::string_view code,
                    absl::Duration duration);
  // A call refused before it started (by the token check).
  void CallRefused(absl::string_view path, absl::string_view code);

  // What a successful Compile / Lookup / Execute answered.
  void RecordCompile(const v1::CompileResponse& response);
  void RecordLookup(const v1::LookupResponse& response);
  void RecordExecute(const v1::ExecuteResponse& response);

  // Cache gauges and counters come from `cache` at each scrape until
  // DetachCache, which must be called before the cache closes.
  void AttachCache(cache::ArtifactCache* cache);
  void DetachCache();

 private:
  ServerMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<CacheCollector> cache_collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;

  // The per-method series, made at construction for every method served
  // (and one for "unknown"), so calls only look them up.
  struct MethodSeries {
    std::string service;
    std::string method;
    prometheus::Gauge* in_flight;
    prometheus::Histogram* duration;
  };
  const MethodSeries& SeriesFor(absl::string_view path) const;
  std::map<std::string, MethodSeries, std::less<>> methods_;
  MethodSeries unknown_method_;

  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* request_seconds_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Counter>* cache_lookups_;
  prometheus::Histogram* compile_seconds_;
  prometheus::Histogram* compile_queue_seconds_;
  prometheus::Histogram* compile_store_seconds_;
  prometheus::Histogram* cache_lookup_seconds_;
  prometheus::Histogram* guard_seconds_;
  prometheus::Histogram* execute_run_seconds_;
  std::atomic<int64_t> active_calls_{0};
  prometheus::Gauge* compiles_in_flight_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_METRICS_H_
