// Operations of kiln-server end to end: Prometheus metrics scraped over
// HTTP with curl, the request log (text and JSON) and the metrics flag's
// start-up checks. The real binary on a free port, called over real gRPC.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cache/guards/test_util.h"
#include "client/cpp/kiln_client.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::testing::RunCommand;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

// One scrape: sample name with its labels ("kiln_requests_total{...}") ->
// value, plus the # TYPE lines.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string text;

  // The value of the sample whose name is `name` and whose labels include
  // every one of `labels` (`key="value"` strings); nullopt if none.
  std::optional<double> Find(
      const std::string& name,
      const std::vector<std::string>& labels = {}) const {
    for (const auto& [key, value] : samples) {
      if (key != name && !absl::StartsWith(key, name + "{")) continue;
      bool all = true;
      for (const std::string& label : labels) {
        if (!absl::StrContains(key, label)) all = false;
      }
      if (all) return value;
    }
    return std::nullopt;
  }
};

class MetricsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    tmp_ = testing::MakeTempDir("metrics");
    data_dir_ = tmp_ + "/data";
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir_,
                                     "--shutdown-timeout=2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  // The metrics address the server logged ("metrics on http://A/metrics").
  static std::string MetricsAddress(const ServerProcess& server) {
    std::string log = server.Log();
    const std::string kMarker = "metrics on http://";
    size_t at = log.find(kMarker);
    if (at == std::string::npos) return "";
    size_t end = log.find("/metrics", at + kMarker.size());
    return log.substr(at + kMarker.size(), end - at - kMarker.size());
  }

  // Requests http://`address``path` with curl (GET unless `method`).
  static testing::CommandResult Curl(const std::string& address,
                                     const std::string& path = "/metrics",
                                     const std::string& method = "GET") {
    auto r =
        RunCommand({"/usr/bin/curl", "-sS", "--max-time", "10", "-X", method,
                    "-w", "\n%{http_code}", "http://" + address + path});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::CommandResult{};
  }

  static Scrape ScrapeMetrics(const std::string& address) {
    testing::CommandResult r = Curl(address);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Scrape scrape;
    std::string body = r.out;
    size_t last = body.rfind('\n');
    EXPECT_NE(last, std::string::npos);
    EXPECT_EQ(body.substr(last + 1), "200");
    scrape.text = body.substr(0, last);
    for (absl::string_view line : absl::StrSplit(scrape.text, '\n')) {
      if (absl::ConsumePrefix(&line, "# TYPE ")) {
        std::vector<std::string> parts = absl::StrSplit(line, ' ');
        if (parts.size() == 2) scrape.types[parts[0]] = parts[1];
        continue;
      }
      if (line.empty() || line[0] == '#') continue;
      size_t space = line.rfind(' ');
      double value = 0;
      if (space == absl::string_view::npos ||
          !absl::SimpleAtod(line.substr(space + 1), &value)) {
        ADD_FAILURE() << "unparsable sample: " << line;
        continue;
      }
      scrape.samples[std::string(line.substr(0, space))] = value;
    }
    return scrape;
  }

  std::unique_ptr<client::KilnClient> Connect(const ServerProcess& server) {
    client::ClientOptions options;
    options.server = server.address();
    options.timeout = absl::Seconds(5);
    auto client = client::KilnClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  static grpc::Status Stats(client::KilnClient& client) {
    v1::StatsResponse response;
    return client.admin().Stats(client.NewContext().get(), v1::StatsRequest(),
                                &response);
  }

  static grpc::Status GetUnknownArtifact(client::KilnClient& client) {
    v1::GetArtifactRequest request;
    request.set_artifact_key(std::string(64, 'f'));
    v1::GetArtifactResponse response;
    return client.compiler().GetArtifact(client.NewContext().get(), request,
                                         &response);
  }

  std::string server_bin_, tmp_, data_dir_;
};

TEST_F(MetricsE2ETest, ScrapedCountersFollowTheCalls) {
  auto server = StartServer({"--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  std::string metrics = MetricsAddress(*server);
  ASSERT_FALSE(metrics.empty()) << server->Log();

  // Before any call: the unlabelled families are there, the cache gauges
  // are read from the store; labelled ones appear with their first sample.
  Scrape before = ScrapeMetrics(metrics);
  EXPECT_EQ(before.types["kiln_compile_duration_seconds"], "histogram");
  EXPECT_EQ(before.types["kiln_compile_queue_seconds"], "histogram");
  EXPECT_EQ(before.types["kiln_cache_lookup_seconds"], "histogram");
  EXPECT_EQ(before.types["kiln_guard_evaluation_seconds"], "histogram");
  EXPECT_EQ(before.types["kiln_compiles_in_flight"], "gauge");
  EXPECT_EQ(before.types["kiln_cache_bytes"], "gauge");
  EXPECT_EQ(before.types["kiln_cache_entries"], "gauge");
  EXPECT_EQ(before.types["kiln_cache_evictions_total"], "counter");
  EXPECT_EQ(before.types["kiln_cache_corruptions_detected_total"], "counter");
  EXPECT_EQ(before.types["kiln_cache_hits_total"], "counter");
  EXPECT_EQ(before.types["kiln_cache_misses_total"], "counter");
  EXPECT_EQ(before.Find("kiln_cache_entries"), 0);
  EXPECT_EQ(before.Find("kiln_cache_bytes"), 0);
  EXPECT_EQ(before.Find("kiln_compiles_in_flight"), 0);
  EXPECT_EQ(before.Find("kiln_build_info", {"protocol=\"kiln.v1\""}), 1);
  EXPECT_FALSE(before.Find("kiln_requests_total", {"method=\"Capabilities\""})
                   .has_value());

  auto client = Connect(*server);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Capabilities().ok());
  ASSERT_EQ(client->CheckHealth().value(), client::Health::kServing);
  grpc::Status stats = Stats(*client);
  std::string stats_code = stats.ok() ? "OK" : "";
  grpc::Status missing = GetUnknownArtifact(*client);
  ASSERT_FALSE(missing.ok());

  Scrape after = ScrapeMetrics(metrics);
  EXPECT_EQ(after.types["kiln_requests_total"], "counter");
  EXPECT_EQ(after.types["kiln_request_duration_seconds"], "histogram");
  EXPECT_EQ(after.types["kiln_requests_in_flight"], "gauge");
  const std::vector<std::string> caps = {"service=\"kiln.v1.Compiler\"",
                                         "method=\"Capabilities\""};
  std::vector<std::string> caps_ok = caps;
  caps_ok.push_back("code=\"OK\"");
  EXPECT_EQ(after.Find("kiln_requests_total", caps_ok), 3) << after.text;
  EXPECT_EQ(after.Find("kiln_request_duration_seconds_count", caps), 3);
  EXPECT_GT(after.Find("kiln_request_duration_seconds_sum", caps).value_or(0),
            0);
  EXPECT_EQ(after.Find("kiln_request_duration_seconds_bucket",
                       {"method=\"Capabilities\"", "le=\"+Inf\""}),
            3);
  EXPECT_EQ(
      after.Find("kiln_requests_total", {"service=\"grpc.health.v1.Health\"",
                                         "method=\"Check\"", "code=\"OK\""}),
      1);
  // Errors are counted under their code.
  EXPECT_EQ(after.Find("kiln_requests_total",
                       {"method=\"GetArtifact\"",
                        absl::StrCat(
                            "code=\"",
                            missing.error_code() == grpc::StatusCode::NOT_FOUND
                                ? "NOT_FOUND"
                                : "UNIMPLEMENTED",
                            "\"")}),
            1)
      << after.text;
  EXPECT_TRUE(after
                  .Find("kiln_requests_total",
                        {"service=\"kiln.v1.CacheAdmin\"", "method=\"Stats\""})
                  .has_value());
  EXPECT_EQ(after.Find("kiln_requests_in_flight", caps), 0);

  // Counters only grow.
  ASSERT_TRUE(client->Capabilities().ok());
  Scrape again = ScrapeMetrics(metrics);
  EXPECT_EQ(again.Find("kiln_requests_total", caps_ok), 4);

  // Only GET /metrics is served; anything else is answered 404 or 405 and
  // the server carries on.
  EXPECT_THAT(Curl(metrics, "/").out, EndsWith("\n404"));
  EXPECT_THAT(Curl(metrics, "/nothing-here").out, EndsWith("\n404"));
  EXPECT_THAT(Curl(metrics, "/metrics", "POST").out, EndsWith("\n405"));
  EXPECT_THAT(Curl(metrics, "/metrics", "HEAD").out, EndsWith("\n405"));
  EXPECT_EQ(ScrapeMetrics(metrics).Find("kiln_requests_total", caps_ok), 4);
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(MetricsE2ETest, CompileAndExecuteFeedTheCacheAndTimingMetrics) {
  auto server = StartServer({"--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  std::string metrics = MetricsAddress(*server);
  auto client = Connect(*server);
  client::ClientOptions options;
  options.server = server->address();
  options.timeout = absl::Seconds(120);
  auto slow_client = client::KilnClient::Create(options);
  ASSERT_TRUE(slow_client.ok());

  absl::StatusOr<v1::Graph> graph = ir::ParseGraphToProto(
      "graph(%x: f32[3, 4]) {\n"
      "  %r = aten::relu.default(%x) : f32[3, 4]\n"
      "  %a = aten::add.Tensor(%r, %x, alpha=2) : f32[3, 4]\n"
      "  return (%a)\n"
      "}");
  ASSERT_TRUE(graph.ok()) << graph.status();
  v1::CompileRequest request;
  *request.mutable_graph() = *graph;
  *request.mutable_guards() =
      cache::testing::Ctx().In(cache::testing::T().Sizes({3, 4})).Build();
  request.mutable_target()->set_backend("interpreter");
  v1::CompileResponse miss, hit;
  grpc::Status s =
      (*slow_client)
          ->compiler()
          .Compile((*slow_client)->NewContext().get(), request, &miss);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(miss.cache_hit());
  s = (*slow_client)
          ->compiler()
          .Compile((*slow_client)->NewContext().get(), request, &hit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(hit.cache_hit());

  v1::ExecuteRequest execute;
  execute.set_artifact_key(miss.artifact_key());
  v1::Tensor* x = execute.add_inputs()->mutable_tensor();
  x->set_dtype(v1::FLOAT32);
  x->mutable_device()->set_type(v1::CPU);
  for (int64_t d : {3, 4}) x->add_sizes(d);
  for (int64_t d : {4, 1}) x->add_strides(d);
  x->set_raw(std::string(12 * sizeof(float), '\0'));
  *execute.mutable_signature() =
      cache::testing::Sig().In(cache::testing::T().Sizes({3, 4})).Build();
  v1::ExecuteResponse result;
  s = (*slow_client)
          ->compiler()
          .Execute((*slow_client)->NewContext().get(), execute, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();

  Scrape scrape = ScrapeMetrics(metrics);
  EXPECT_EQ(scrape.Find("kiln_cache_lookups_total",
                        {"method=\"Compile\"", "result=\"miss\""}),
            1)
      << scrape.text;
  EXPECT_EQ(scrape.Find("kiln_cache_lookups_total",
                        {"method=\"Compile\"", "result=\"hit\""}),
            1);
  EXPECT_EQ(scrape.Find("kiln_compile_duration_seconds_count"), 1);
  EXPECT_GT(scrape.Find("kiln_compile_duration_seconds_sum").value_or(0), 0);
  EXPECT_EQ(scrape.Find("kiln_compile_queue_seconds_count"), 1);
  EXPECT_EQ(scrape.Find("kiln_compile_store_seconds_count"), 1);
  EXPECT_EQ(scrape.Find("kiln_cache_lookup_seconds_count"), 2);
  EXPECT_EQ(scrape.Find("kiln_guard_evaluation_seconds_count"), 1);
  EXPECT_EQ(scrape.Find("kiln_execute_run_seconds_count"), 1);
  EXPECT_EQ(scrape.Find("kiln_compiles_in_flight"), 0);
  EXPECT_EQ(
      scrape.Find("kiln_requests_total", {"method=\"Compile\"", "code=\"OK\""}),
      2);
  // Read from the cache at scrape time.
  EXPECT_EQ(scrape.Find("kiln_cache_entries"), 1);
  EXPECT_EQ(scrape.Find("kiln_cache_artifacts"), 1);
  EXPECT_GT(scrape.Find("kiln_cache_bytes").value_or(0), 0);
  EXPECT_GE(scrape.Find("kiln_cache_hits_total").value_or(0), 1);
  EXPECT_GE(scrape.Find("kiln_cache_misses_total").value_or(0), 1);
  EXPECT_EQ(scrape.Find("kiln_cache_target_entries",
                        {"target=\"" + miss.target() + "\""}),
            1);

  // The request log names the artifact, the hit and the times.
  std::string log = server->Log();
  EXPECT_THAT(log, HasSubstr("method=kiln.v1.Compiler/Compile code=OK"));
  EXPECT_THAT(log, HasSubstr("key=" + miss.artifact_key() + " hit=false"));
  EXPECT_THAT(log, HasSubstr("key=" + miss.artifact_key() + " hit=true"));
  EXPECT_THAT(log, HasSubstr(" compile_ms="));
  EXPECT_THAT(log, HasSubstr(" queue_ms="));
  EXPECT_THAT(log, HasSubstr("method=kiln.v1.Compiler/Execute code=OK"));
  EXPECT_THAT(log, HasSubstr(" guard_ms="));
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(MetricsE2ETest, RefusedCallsAreCountedUnderTheirCode) {
  std::string tokens = tmp_ + "/tokens";
  fs::create_directories(tmp_);
  {
    std::ofstream out(tokens);
    out << "client-token-0123456789abcdef client name=ci\n";
  }
  auto server =
      StartServer({"--metrics-listen=127.0.0.1:0", "--token-file=" + tokens});
  ASSERT_NE(server, nullptr);
  auto anonymous = Connect(*server);
  EXPECT_FALSE(anonymous->Capabilities().ok());
  EXPECT_FALSE(anonymous->Capabilities().ok());
  Scrape scrape = ScrapeMetrics(MetricsAddress(*server));
  EXPECT_EQ(scrape.Find("kiln_requests_total", {"method=\"Capabilities\"",
                                                "code=\"UNAUTHENTICATED\""}),
            2)
      << scrape.text;
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(MetricsE2ETest, RequestLogLinesInText) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  ASSERT_TRUE(client->Capabilities().ok());
  grpc::Status missing = GetUnknownArtifact(*client);
  ASSERT_TRUE(server->WaitForLog("method=kiln.v1.Compiler/GetArtifact",
                                 absl::Seconds(10)))
      << server->Log();
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(server->Log(), '\n')) {
    if (absl::StrContains(line, " request method=")) {
      lines.emplace_back(line);
    }
  }
  ASSERT_EQ(lines.size(), 2u) << server->Log();
  EXPECT_THAT(lines[0], HasSubstr("info  request method="
                                  "kiln.v1.Compiler/Capabilities code=OK ms="));
  EXPECT_THAT(lines[0], HasSubstr(" peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(lines[1], HasSubstr("method=kiln.v1.Compiler/GetArtifact"));
  EXPECT_THAT(lines[1], HasSubstr(" key=" + std::string(64, 'f')));
  EXPECT_THAT(lines[1], HasSubstr(" error=\""));
  EXPECT_THAT(lines[1], Not(HasSubstr("code=OK")));
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(MetricsE2ETest, RequestLogLinesInJsonNameTheClient) {
  std::string tokens = tmp_ + "/tokens";
  fs::create_directories(tmp_);
  {
    std::ofstream out(tokens);
    out << "client-token-0123456789abcdef client name=ci-runner\n";
  }
  auto server = StartServer({"--log-format=json", "--token-file=" + tokens});
  ASSERT_NE(server, nullptr);
  client::ClientOptions options;
  options.server = server->address();
  options.token = "client-token-0123456789abcdef";
  auto client = client::KilnClient::Create(options);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Capabilities().ok());
  auto anonymous = Connect(*server);
  ASSERT_FALSE(anonymous->Capabilities().ok());
  ASSERT_TRUE(server->WaitForLog("UNAUTHENTICATED", absl::Seconds(10)));
  ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);

  std::vector<nlohmann::json> requests;
  for (absl::string_view line :
       absl::StrSplit(server->Log(), '\n', absl::SkipEmpty())) {
    nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << line;
    EXPECT_TRUE(doc.contains("ts"));
    EXPECT_TRUE(doc.contains("level"));
    if (doc["msg"] == "request") requests.push_back(doc);
  }
  ASSERT_EQ(requests.size(), 2u) << server->Log();
  EXPECT_EQ(requests[0]["method"], "kiln.v1.Compiler/Capabilities");
  EXPECT_EQ(requests[0]["code"], "OK");
  EXPECT_EQ(requests[0]["client"], "ci-runner");
  EXPECT_TRUE(requests[0]["duration_ms"].is_number());
  EXPECT_THAT(requests[0]["peer"].get<std::string>(), HasSubstr("127.0.0.1"));
  EXPECT_EQ(requests[0]["level"], "info");
  EXPECT_EQ(requests[1]["method"], "kiln.v1.Compiler/Capabilities");
  EXPECT_EQ(requests[1]["code"], "UNAUTHENTICATED");
  EXPECT_THAT(requests[1]["error"].get<std::string>(),
              HasSubstr("needs a bearer token"));
}

TEST_F(MetricsE2ETest, MetricsAddressInUseFailsAtStart) {
  auto server = StartServer({"--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  std::string metrics = MetricsAddress(*server);
  auto r = RunCommand({server_bin_, "--listen=127.0.0.1:0",
                       "--data-dir=" + tmp_ + "/other",
                       "--metrics-listen=" + metrics});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1) << r->err;
  EXPECT_THAT(r->err, HasSubstr("cannot serve metrics on '" + metrics + "'"));
  EXPECT_THAT(r->err, Not(HasSubstr("serving on")));

  auto bad = RunCommand({server_bin_, "--data-dir=" + tmp_ + "/other",
                         "--metrics-listen=nohostport"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_THAT(bad->err, HasSubstr("--metrics-listen"));
}

// Watches a channel for `how_long`; returns false as soon as it leaves READY
// (a GOAWAY, such as too_many_pings, makes it go IDLE).
bool StaysReady(grpc::Channel& channel, absl::Duration how_long) {
  absl::Time end = absl::Now() + how_long;
  while (absl::Now() < end) {
    grpc_connectivity_state state = channel.GetState(false);
    if (state != GRPC_CHANNEL_READY) return false;
    channel.WaitForStateChange(
        state, absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  }
  return channel.GetState(false) == GRPC_CHANNEL_READY;
}

std::shared_ptr<grpc::Channel> PingingChannel(const std::string& address,
                                              int keepalive_ms) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A channel of its own, not shared with the other test channels.
  args.SetInt("kiln.test.keepalive", keepalive_ms);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

TEST_F(MetricsE2ETest, KeepalivePingsEveryTenSecondsAreWelcome) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  // A client pinging at the documented minimum interval, with no call in
  // progress, keeps its connection; one pinging every 500 ms is sent away
  // (so the policy is really in force).
  auto polite = PingingChannel(server->address(), 10000);
  auto rude = PingingChannel(server->address(), 500);
  for (auto* channel : {polite.get(), rude.get()}) {
    ASSERT_TRUE(channel->WaitForConnected(
        absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  }
  EXPECT_FALSE(StaysReady(*rude, absl::Seconds(15)));
  // Three pings: with two strikes allowed, even three early ones would show.
  EXPECT_TRUE(StaysReady(*polite, absl::Seconds(35)));
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

}  // namespace
}  // namespace kiln
