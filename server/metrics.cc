#include "server/metrics.h"

#include <cstring>
#include <exception>
#include <vector>

#include "CivetServer.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cache/artifact_cache.h"
#include "google/protobuf/descriptor.h"
#include "kiln/v1/cache_admin.pb.h"
#include "kiln/version.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace kiln::server {
namespace {

// Request latencies: sub-millisecond cache hits to minutes-long compiles.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120,  300};
  return *buckets;
}

// Guard evaluation and key lookups: microseconds to a few milliseconds.
const prometheus::Histogram::BucketBoundaries& FastBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005,
      0.0001,   0.00025,   0.0005,   0.001,   0.0025,   0.005,
      0.01,     0.025,     0.05,     0.1};
  return *buckets;
}

double Seconds(int64_t micros) { return static_cast<double>(micros) / 1e6; }

// Methods served besides kiln.v1's, which come from the descriptor pool.
constexpr const char* kOtherMethods[] = {
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

// Every method path this server serves.
std::vector<std::string> ServedMethodPaths() {
  std::vector<std::string> paths(std::begin(kOtherMethods),
                                 std::end(kOtherMethods));
  for (const char* name : {"kiln.v1.Compiler", "kiln.v1.CacheAdmin"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      paths.push_back(absl::StrCat("/", name, "/", service->method(i)->name()));
    }
  }
  return paths;
}

bool IsServedMethod(absl::string_view service, absl::string_view method) {
  for (const char* path : kOtherMethods) {
    if (absl::StrCat("/", service, "/", method) == path) return true;
  }
  if (service != "kiln.v1.Compiler" && service != "kiln.v1.CacheAdmin") {
    return false;
  }
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(service));
  return descriptor != nullptr &&
         descriptor->FindMethodByName(std::string(method)) != nullptr;
}

prometheus::ClientMetric CounterSample(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.counter.value = value;
  m.label = std::move(labels);
  return m;
}

prometheus::ClientMetric GaugeSample(
    double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.gauge.value = value;
  m.label = std::move(labels);
  return m;
}

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

// Answers every HTTP request but `GET /metrics` itself, before the web
// server (civetweb) looks for a handler: its own "not found" and "method
// not allowed" pages crash the process in Debian's civetweb 1.15, and
// nothing but the metrics is served here anyway.
int AnswerAllButMetrics(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  bool is_metrics = request->local_uri != nullptr &&
                    std::strcmp(request->local_uri, "/metrics") == 0;
  bool is_get = request->request_method != nullptr &&
                std::strcmp(request->request_method, "GET") == 0;
  if (is_metrics && is_get) return 0;
  int code = is_metrics ? 405 : 404;
  const char* body = is_metrics ? "only GET /metrics is served\n"
                                : "not found: metrics are at /metrics\n";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "%s"
            "Connection: close\r\n\r\n%s",
            code, is_metrics ? "Method Not Allowed" : "Not Found",
            std::strlen(body), is_metrics ? "Allow: GET\r\n" : "", body);
  return code;
}

}  // namespace

std::pair<std::string, std::string> MethodLabels(absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.size() == 3 && parts[0].empty() &&
      IsServedMethod(parts[1], parts[2])) {
    return {std::string(parts[1]), std::string(parts[2])};
  }
  return {"unknown", "unknown"};
}

// The artifact cache's Stats() as Prometheus families, read at scrape time.
class CacheCollector : public prometheus::Collectable {
 public:
  void Attach(cache::ArtifactCache* cache) {
    absl::MutexLock lock(&mu_);
    cache_ = cache;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    v1::StatsResponse stats;
    {
      absl::MutexLock lock(&mu_);
      if (cache_ == nullptr) return {};
      stats = cache_->Stats();
    }
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto add = [&](const char* name, const char* help, MetricType type,
                   double value) {
      prometheus::MetricFamily f = Family(name, help, type);
      f.metric.push_back(type == MetricType::Counter ? CounterSample(value)
                                                     : GaugeSample(value));
      out.push_back(std::move(f));
    };
    add("kiln_cache_entries", "Entries (guard sets) in the artifact cache.",
        MetricType::Gauge, stats.entries());
    add("kiln_cache_artifacts", "Distinct artifacts stored.", MetricType::Gauge,
        stats.artifacts());
    add("kiln_cache_bytes", "Stored bytes of all artifacts.", MetricType::Gauge,
        stats.bytes());
    add("kiln_cache_capacity_bytes",
        "Configured cache capacity in bytes (--cache-max-bytes); 0 when "
        "unlimited.",
        MetricType::Gauge, stats.capacity_bytes());
    add("kiln_cache_hits_total",
        "Compile and Lookup requests served from the cache.",
        MetricType::Counter, stats.hits());
    add("kiln_cache_misses_total", "Compile and Lookup requests that missed.",
        MetricType::Counter, stats.misses());
    add("kiln_cache_evictions_total",
        "Entries evicted, by the size budget or by CacheAdmin.Evict.",
        MetricType::Counter, stats.evictions());
    add("kiln_cache_corruptions_detected_total",
        "Stored artifacts that failed their checksum (removed, never served).",
        MetricType::Counter, stats.corruptions_detected());
    add("kiln_cache_compile_time_saved_seconds_total",
        "Compile time of the artifacts served from the cache.",
        MetricType::Counter, Seconds(stats.compile_time_saved_us()));

    prometheus::MetricFamily entries = Family(
        "kiln_cache_target_entries", "Entries per target.", MetricType::Gauge);
    prometheus::MetricFamily bytes =
        Family("kiln_cache_target_bytes", "Stored bytes per target.",
               MetricType::Gauge);
    prometheus::MetricFamily hits =
        Family("kiln_cache_target_hits_total", "Cache hits per target.",
               MetricType::Counter);
    prometheus::MetricFamily misses =
        Family("kiln_cache_target_misses_total", "Cache misses per target.",
               MetricType::Counter);
    for (const v1::TargetStats& t : stats.by_target()) {
      std::vector<prometheus::ClientMetric::Label> label = {
          {"target", t.target()}};
      entries.metric.push_back(GaugeSample(t.entries(), label));
      bytes.metric.push_back(GaugeSample(t.bytes(), label));
      hits.metric.push_back(CounterSample(t.hits(), label));
      misses.metric.push_back(CounterSample(t.misses(), label));
    }
    for (auto* f : {&entries, &bytes, &hits, &misses}) {
      if (!f->metric.empty()) out.push_back(std::move(*f));
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  cache::ArtifactCache* cache_ ABSL_GUARDED_BY(mu_) = nullptr;
};

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      cache_collector_(std::make_shared<CacheCollector>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("kiln_requests_total")
                   .Help(
                       "gRPC calls finished, by service, method and status "
                       "code (refused calls included).")
                   .Register(*registry_);
  request_seconds_ =
      &prometheus::BuildHistogram()
           .Name("kiln_request_duration_seconds")
           .Help("Time from the start of a gRPC call to its status.")
           .Register(*registry_);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("kiln_requests_in_flight")
                    .Help("gRPC calls in progress.")
                    .Register(*registry_);
  cache_lookups_ = &prometheus::BuildCounter()
                        .Name("kiln_cache_lookups_total")
                        .Help(
                            "Successful Compile and Lookup calls by result "
                            "(hit or miss).")
                        .Register(*registry_);
  auto histogram = [&](const char* name, const char* help,
                       const prometheus::Histogram::BucketBoundaries& buckets) {
    return &prometheus::BuildHistogram()
                .Name(name)
                .Help(help)
                .Register(*registry_)
                .Add({}, buckets);
  };
  compile_seconds_ =
      histogram("kiln_compile_duration_seconds",
                "Compile time of cache misses (verify, passes, codegen, "
                "backend), from CompileResponse.timings.compile_us.",
                LatencyBuckets());
  compile_queue_seconds_ =
      histogram("kiln_compile_queue_seconds",
                "Time cache misses waited for a compile slot or an identical "
                "in-flight compile (CompileResponse.timings.queue_us).",
                LatencyBuckets());
  compile_store_seconds_ =
      histogram("kiln_compile_store_seconds",
                "Time storing a compiled artifact durably (timings.store_us).",
                LatencyBuckets());
  cache_lookup_seconds_ = histogram("kiln_cache_lookup_seconds",
                                    "Digests and cache lookup of each Compile "
                                    "(CompileResponse.timings.lookup_us).",
                                    FastBuckets());
  guard_seconds_ = histogram("kiln_guard_evaluation_seconds",
                             "Guard evaluation on Execute's concrete inputs "
                             "(ExecuteResponse.timings.guard_us).",
                             FastBuckets());
  execute_run_seconds_ =
      histogram("kiln_execute_run_seconds",
                "Running an artifact's plan (ExecuteResponse.timings.run_us).",
                LatencyBuckets());
  auto make_series = [&](const std::string& service,
                         const std::string& method) {
    prometheus::Labels labels = {{"service", service}, {"method", method}};
    return MethodSeries{service, method, &in_flight_->Add(labels),
                        &request_seconds_->Add(labels, LatencyBuckets())};
  };
  for (const std::string& path : ServedMethodPaths()) {
    auto [service, method] = MethodLabels(path);
    methods_.emplace(path, make_series(service, method));
  }
  unknown_method_ = make_series("unknown", "unknown");
  compiles_in_flight_ =
      &prometheus::BuildGauge()
           .Name("kiln_compiles_in_flight")
           .Help("Compile calls in progress: looking up, queued or compiling.")
           .Register(*registry_)
           .Add({});
  prometheus::BuildGauge()
      .Name("kiln_build_info")
      .Help("Always 1; the labels name the server and protocol versions.")
      .Register(*registry_)
      .Add({{"version", std::string(kServerVersion)},
            {"protocol", std::string(kProtocolVersion)}})
      .Set(1);
}

ServerMetrics::~ServerMetrics() {
  // Stop serving before the families go away.
  exposer_.reset();
}

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    const std::string& listen) {
  std::unique_ptr<ServerMetrics> self(new ServerMetrics());
  if (listen.empty()) return self;
  // prometheus-cpp (civetweb) reports a failed bind by throwing.
  static const CivetCallbacks* callbacks = [] {
    auto* c = new CivetCallbacks();
    c->begin_request = AnswerAllButMetrics;
    return c;
  }();
  try {
    self->exposer_ =
        std::make_unique<prometheus::Exposer>(listen, 2, callbacks);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on '", listen,
        "': the address is in use, not local or invalid (", e.what(), ")"));
  }
  std::vector<int> ports = self->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on '", listen, "'"));
  }
  size_t colon = listen.rfind(':');
  self->address_ = absl::StrCat(listen.substr(0, colon), ":", ports[0]);
  self->exposer_->RegisterCollectable(self->registry_);
  self->exposer_->RegisterCollectable(self->cache_collector_);
  return self;
}

const ServerMetrics::MethodSeries& ServerMetrics::SeriesFor(
    absl::string_view path) const {
  auto it = methods_.find(path);
  return it != methods_.end() ? it->second : unknown_method_;
}

namespace {
bool IsHealthWatch(absl::string_view path) {
  return path == "/grpc.health.v1.Health/Watch";
}
}  // namespace

void ServerMetrics::CallStarted(absl::string_view path) {
  if (!IsHealthWatch(path)) active_calls_.fetch_add(1);
  const MethodSeries& series = SeriesFor(path);
  series.in_flight->Increment();
  if (path == "/kiln.v1.Compiler/Compile") compiles_in_flight_->Increment();
}

void ServerMetrics::CallFinished(absl::string_view path, absl::string_view code,
                                 absl::Duration duration) {
  if (!IsHealthWatch(path)) active_calls_.fetch_sub(1);
  const MethodSeries& series = SeriesFor(path);
  series.in_flight->Decrement();
  if (path == "/kiln.v1.Compiler/Compile") compiles_in_flight_->Decrement();
  requests_
      ->Add({{"service", series.service},
             {"method", series.method},
             {"code", std::string(code)}})
      .Increment();
  series.duration->Observe(absl::ToDoubleSeconds(duration));
}

void ServerMetrics::CallRefused(absl::string_view path,
                                absl::string_view code) {
  const MethodSeries& series = SeriesFor(path);
  requests_
      ->Add({{"service", series.service},
             {"method", series.method},
             {"code", std::string(code)}})
      .Increment();
}

void ServerMetrics::RecordCompile(const v1::CompileResponse& response) {
  cache_lookups_
      ->Add({{"method", "Compile"},
             {"result", response.cache_hit() ? "hit" : "miss"}})
      .Increment();
  const v1::CompileTimings& t = response.timings();
  cache_lookup_seconds_->Observe(Seconds(t.lookup_us()));
  if (!response.cache_hit()) {
    compile_queue_seconds_->Observe(Seconds(t.queue_us()));
    // A miss that waited for someone else's identical compile compiled
    // nothing itself.
    if (t.compile_us() > 0) compile_seconds_->Observe(Seconds(t.compile_us()));
    if (t.store_us() > 0) {
      compile_store_seconds_->Observe(Seconds(t.store_us()));
    }
  }
}

void ServerMetrics::RecordLookup(const v1::LookupResponse& response) {
  cache_lookups_
      ->Add({{"method", "Lookup"},
             {"result", response.has_hit() ? "hit" : "miss"}})
      .Increment();
}

void ServerMetrics::RecordExecute(const v1::ExecuteResponse& response) {
  guard_seconds_->Observe(Seconds(response.timings().guard_us()));
  execute_run_seconds_->Observe(Seconds(response.timings().run_us()));
}

void ServerMetrics::AttachCache(cache::ArtifactCache* cache) {
  cache_collector_->Attach(cache);
}

void ServerMetrics::DetachCache() { cache_collector_->Attach(nullptr); }

}  // namespace kiln::server
