// kiln-loadgen: the service benchmark's load generator. N concurrent
// clients against a running kiln-server (and a Redis server for the
// baseline): Compile hits, Lookup, GetArtifact, Execute round trips (bytes
// in the message, ExecuteStream, shared memory) and cold compiles; prints
// the machine and one markdown table (docs/benchmarks.md). `make bench`
// starts the servers through tools/bench/service_bench.py.
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cpp/kiln_client.h"
#include "tools/bench/closed_loop.h"
#include "tools/bench/redis_client.h"
#include "tools/bench/report.h"
#include "tools/bench/workloads.h"

namespace kiln::bench {
namespace {

struct Flags {
  std::string server;
  std::string redis;
  std::string clients = "1,4,16";
  double seconds = 3;
  std::string backend = "cpu";
  std::string cold_backends = "interpreter,cpu";
  int64_t small_bytes = 1024;
  int64_t large_bytes = int64_t{16} << 20;
  int large_graph_nodes = 256;
  bool shared_memory = true;
};

// One measured workload: a row of the table for every client count.
struct Workload {
  std::string name;
  std::string payload;
  Baseline baseline = Baseline::kNone;
  ClientOpFactory make_op;
  bool cold = false;  // no warm-up: every call must be a first
};

absl::StatusOr<std::vector<int>> ParseClientCounts(const std::string& text) {
  std::vector<int> counts;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--clients: '", part, "' is not a positive count"));
    }
    counts.push_back(n);
  }
  if (counts.empty()) return absl::InvalidArgumentError("--clients: empty");
  return counts;
}

// Rows of a contiguous f32[rows, kCols] tensor of `bytes` bytes.
absl::StatusOr<int64_t> RowsFor(int64_t bytes, const char* flag) {
  const int64_t row_bytes = kCols * static_cast<int64_t>(sizeof(float));
  if (bytes % row_bytes != 0 || bytes / row_bytes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", bytes, " is not a multiple of ", row_bytes,
                     " bytes (one f32 row of ", kCols, ") of at least 2 rows"));
  }
  return bytes / row_bytes;
}

absl::Status Run(const Flags& flags) {
  absl::StatusOr<std::vector<int>> client_counts =
      ParseClientCounts(flags.clients);
  if (!client_counts.ok()) return client_counts.status();
  absl::StatusOr<int64_t> small_rows = RowsFor(flags.small_bytes, "--small");
  if (!small_rows.ok()) return small_rows.status();
  absl::StatusOr<int64_t> large_rows = RowsFor(flags.large_bytes, "--large");
  if (!large_rows.ok()) return large_rows.status();

  const std::string load_before = LoadAverage();
  const client::ClientOptions options = BenchClientOptions(flags.server);
  absl::StatusOr<std::unique_ptr<client::KilnClient>> setup =
      client::KilnClient::Create(options);
  if (!setup.ok()) return setup.status();
  client::KilnClient& kiln = **setup;
  absl::StatusOr<v1::CapabilitiesResponse> capabilities = kiln.Capabilities();
  if (!capabilities.ok()) return capabilities.status();

  // The artifact every warm workload uses, compiled once (a miss).
  absl::StatusOr<v1::CompileRequest> hit_request =
      CompileRequestFor(ChainGraphText(3), flags.backend);
  if (!hit_request.ok()) return hit_request.status();
  absl::StatusOr<v1::CompileResponse> compiled = kiln.Compile(*hit_request);
  if (!compiled.ok()) return compiled.status();
  absl::StatusOr<v1::GetArtifactResponse> artifact =
      kiln.GetArtifact(compiled->artifact_key(), /*include_binary=*/true);
  if (!artifact.ok()) return artifact.status();
  const std::string artifact_bytes = artifact->plan() + artifact->binary();
  const int64_t artifact_size = static_cast<int64_t>(artifact_bytes.size());

  std::vector<Workload> workloads;
  std::string redis_version;
  if (!flags.redis.empty()) {
    absl::StatusOr<std::unique_ptr<RedisClient>> redis =
        RedisClient::Connect(flags.redis);
    if (!redis.ok()) return redis.status();
    const std::string key =
        absl::StrCat("kiln-bench:", compiled->artifact_key());
    if (absl::Status s = (*redis)->Set(key, artifact_bytes); !s.ok()) return s;
    absl::StatusOr<std::string> version = (*redis)->Version();
    redis_version = version.ok() ? *version : "unknown version";
    workloads.push_back({"Redis GET of the artifact",
                         FormatBytes(artifact_size), Baseline::kIsRedis,
                         RedisGet(flags.redis, key, artifact_size)});
  }

  workloads.push_back({"Health check (gRPC floor)", "empty",
                       Baseline::kRedisGet, HealthCheck(options)});
  workloads.push_back({"Compile, cache hit", "3-node graph",
                       Baseline::kRedisGet, CompileHit(options, *hit_request)});
  if (flags.large_graph_nodes > 0) {
    absl::StatusOr<v1::CompileRequest> large_request = CompileRequestFor(
        ChainGraphText(flags.large_graph_nodes), flags.backend);
    if (!large_request.ok()) return large_request.status();
    if (absl::Status s = kiln.Compile(*large_request).status(); !s.ok()) {
      return s;
    }
    workloads.push_back({"Compile, cache hit",
                         absl::StrCat(flags.large_graph_nodes, "-node graph"),
                         Baseline::kRedisGet,
                         CompileHit(options, *large_request)});
  }
  workloads.push_back({"Lookup, hit", "digest + signature", Baseline::kRedisGet,
                       LookupHit(options, compiled->graph_digest(),
                                 flags.backend, *small_rows)});
  workloads.push_back(
      {"GetArtifact with binary", FormatBytes(artifact_size),
       Baseline::kRedisGet,
       GetArtifactBytes(options, compiled->artifact_key(), artifact_size)});

  const bool shm = flags.shared_memory && capabilities->shared_memory_allowed();
  const int64_t max_message = capabilities->limits().max_message_bytes();
  for (int64_t rows : {*small_rows, *large_rows}) {
    const int64_t bytes = rows * kCols * static_cast<int64_t>(sizeof(float));
    std::vector<Transport> transports;
    // Input or output alone must fit one message, with room for the rest.
    if (bytes < max_message - (int64_t{64} << 10)) {
      transports.push_back(Transport::kInline);
    }
    if (bytes > capabilities->limits().stream_chunk_bytes()) {
      transports.push_back(Transport::kStreamed);
    }
    if (shm) transports.push_back(Transport::kSharedMem);
    for (Transport transport : transports) {
      workloads.push_back({absl::StrCat("Execute, ", TransportName(transport)),
                           absl::StrCat(FormatBytes(bytes), " in, ",
                                        FormatBytes(bytes), " out"),
                           Baseline::kNone,
                           ExecuteRoundTrip(options, compiled->artifact_key(),
                                            rows, transport)});
    }
  }
  for (absl::string_view backend :
       absl::StrSplit(flags.cold_backends, ',', absl::SkipEmpty())) {
    if (backend == "none") continue;
    workloads.push_back({absl::StrCat("Compile, cold (", backend, ")"),
                         "3-node graph", Baseline::kNone,
                         ColdCompile(options, std::string(backend)),
                         /*cold=*/true});
  }

  // Every workload at one client count, then the next count: the Redis
  // baseline runs next to the rows it is compared with. The table groups
  // the rows by workload.
  std::vector<std::vector<Row>> by_workload(workloads.size());
  for (int clients : *client_counts) {
    for (size_t w = 0; w < workloads.size(); ++w) {
      const Workload& workload = workloads[w];
      LoadOptions load;
      load.clients = clients;
      load.duration = absl::Seconds(flags.seconds);
      load.warmup_calls = workload.cold ? 0 : 3;
      std::fprintf(stderr, "kiln-loadgen: %s, %s, %d client(s)...\n",
                   workload.name.c_str(), workload.payload.c_str(), clients);
      absl::StatusOr<LoadResult> result = RunClosedLoop(load, workload.make_op);
      if (!result.ok()) {
        return absl::Status(result.status().code(),
                            absl::StrCat(workload.name, " (", workload.payload,
                                         "): ", result.status().message()));
      }
      by_workload[w].push_back({workload.name, workload.payload, clients,
                                workload.baseline, *std::move(result)});
    }
  }
  std::vector<Row> rows;
  for (std::vector<Row>& group : by_workload) {
    for (Row& row : group) rows.push_back(std::move(row));
  }

  std::string target = flags.backend;
  for (const v1::BackendInfo& info : capabilities->backends()) {
    if (info.name() == flags.backend) target = info.target();
  }
  std::printf("- CPU: %s\n", CpuDescription().c_str());
  std::printf("- Kernel: %s\n", KernelDescription().c_str());
  std::printf("- Compiler: %s\n", CompilerDescription().c_str());
  std::printf("- Load average (1, 5, 15 min): %s before, %s after\n",
              load_before.c_str(), LoadAverage().c_str());
  std::printf("- kiln-server %s (target %s, shared memory %s); %s\n",
              capabilities->server_version().c_str(), target.c_str(),
              shm ? "on" : "off",
              redis_version.empty()
                  ? "no Redis baseline"
                  : absl::StrCat("redis-server ", redis_version).c_str());
  std::printf(
      "- Artifact: %s (plan and shared object) of a 3-node pointwise graph "
      "over f32[s0, %lld]; %.3g s per workload and client count\n\n",
      FormatBytes(artifact_size).c_str(), static_cast<long long>(kCols),
      flags.seconds);
  std::printf("%s", FormatTable(rows).c_str());
  if (std::string stages = FormatStageTable(rows); !stages.empty()) {
    std::printf(
        "\nWhere Execute's server time goes (median of each stage, as the "
        "server reports it):\n\n%s",
        stages.c_str());
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::bench::Flags flags;
  CLI::App app{"kiln-loadgen: the service benchmark's load generator"};
  app.add_option("--server", flags.server, "kiln-server HOST:PORT")->required();
  app.add_option(
      "--redis", flags.redis,
      "redis-server HOST:PORT for the baseline (none: no Redis rows)");
  app.add_option("--clients", flags.clients,
                 "Concurrent client counts, comma-separated")
      ->capture_default_str();
  app.add_option("--seconds", flags.seconds,
                 "Measured time per workload and client count")
      ->capture_default_str();
  app.add_option("--backend", flags.backend,
                 "Target of the warm workloads (hits, Lookup, Execute)")
      ->capture_default_str();
  app.add_option("--cold-backends", flags.cold_backends,
                 "Targets of the cold compiles, comma-separated ('none': no "
                 "cold compiles)")
      ->capture_default_str();
  app.add_option("--small", flags.small_bytes,
                 "Bytes of the small Execute tensor")
      ->capture_default_str();
  app.add_option("--large", flags.large_bytes,
                 "Bytes of the large Execute tensor")
      ->capture_default_str();
  app.add_option("--large-graph-nodes", flags.large_graph_nodes,
                 "Nodes of the second Compile-hit graph (0: none)")
      ->capture_default_str();
  app.add_flag("--shared-memory,!--no-shared-memory", flags.shared_memory,
               "Measure Execute through shared memory (when the server "
               "allows it)");
  CLI11_PARSE(app, argc, argv);

  absl::Status status = kiln::bench::Run(flags);
  if (!status.ok()) {
    std::fprintf(stderr, "kiln-loadgen: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
