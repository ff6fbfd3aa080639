// End-to-end tests of kiln-server: the real binary on a free port with a
// temporary data dir, queried over real gRPC by the C++ client and the CLI.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cache/store.h"
#include "client/cpp/kiln_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::testing::CommandResult;
using ::kiln::testing::RunCommand;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::HasSubstr;
using ::testing::Not;

class ServerE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    cli_bin_ = Runfile("client/cpp/kiln");
    tmp_ = testing::MakeTempDir("e2e");
    data_dir_ = tmp_ + "/data";
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::unique_ptr<ServerProcess> StartServer(
      std::vector<std::string> extra = {},
      std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir_,
                                     "--shutdown-timeout=5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv, env);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::unique_ptr<client::KilnClient> Connect(const ServerProcess& server) {
    client::ClientOptions options;
    options.server = server.address();
    auto client = client::KilnClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  CommandResult Cli(std::vector<std::string> args,
                    std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), cli_bin_);
    auto result = RunCommand(args, env);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandResult{};
  }

  std::string server_bin_, cli_bin_, tmp_, data_dir_;
};

TEST_F(ServerE2ETest, ServesHealthAndCapabilities) {
  auto server = StartServer({"--max-message-bytes=8388608"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
  EXPECT_EQ(client->CheckHealth("kiln.v1.Compiler").value(),
            client::Health::kServing);
  EXPECT_EQ(client->CheckHealth("kiln.v1.CacheAdmin").value(),
            client::Health::kServing);
  EXPECT_EQ(client->CheckHealth("no.such.Service").value(),
            client::Health::kServiceUnknown);

  auto caps = client->Capabilities();
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(caps->protocol_version(), "kiln.v1");
  EXPECT_FALSE(caps->server_version().empty());
  EXPECT_EQ(caps->store_id().size(), 32u);
  EXPECT_EQ(caps->limits().max_message_bytes(), 8388608);
  ASSERT_GE(caps->backends_size(), 2);
  EXPECT_EQ(caps->backends(0).name(), "cpu");
  EXPECT_TRUE(caps->backends(0).available());
  EXPECT_EQ(caps->backends(1).name(), "cuda");
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(ServerE2ETest, CliStatusHumanAndJson) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  CommandResult human = Cli({"--server", server->address(), "status"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, HasSubstr("SERVING"));
  EXPECT_THAT(human.out, HasSubstr("kiln.v1"));
  EXPECT_THAT(human.out, HasSubstr("cpu  available"));
  EXPECT_THAT(human.out, HasSubstr("max_message_bytes = 64 MiB"));

  // KILN_SERVER works like --server; --json gives one parseable document.
  CommandResult json =
      Cli({"status", "--json"}, {{"KILN_SERVER", server->address()}});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["health"], "SERVING");
  EXPECT_EQ(doc["server"], server->address());
  EXPECT_EQ(doc["services"]["kiln.v1.Compiler"], "SERVING");
  EXPECT_EQ(doc["capabilities"]["protocol_version"], "kiln.v1");
  EXPECT_EQ(doc["capabilities"]["backends"][0]["name"], "cpu");
  EXPECT_EQ(doc["capabilities"]["limits"]["max_message_bytes"], "67108864");
}

TEST_F(ServerE2ETest, CliConnectionFailureIsOneClearLine) {
  // A port nothing listens on: bind one, learn it, close it.
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::string address = server->address();
  ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  CommandResult r = Cli({"--server", address, "--timeout", "5", "status"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  std::vector<std::string> lines =
      absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_THAT(lines[0], HasSubstr("cannot reach kiln-server at " + address));
  EXPECT_THAT(lines[0], HasSubstr("connection refused"));

  CommandResult bad = Cli({"--frobnicate", "status"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--frobnicate"));
}

TEST_F(ServerE2ETest, SigtermDrainsWatchersAndExitsCleanly) {
  auto server = StartServer({"--shutdown-timeout=2"});
  ASSERT_NE(server, nullptr);
  // A Watch stream is an in-flight call: it must see NOT_SERVING when the
  // drain starts and be cut at the shutdown deadline.
  auto channel = grpc::CreateChannel(server->address(),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  auto watch = health->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  absl::Time start = absl::Now();
  ::kill(server->pid(), SIGTERM);
  bool saw_not_serving = false;
  while (watch->Read(&response)) {
    if (response.status() ==
        grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      saw_not_serving = true;
    }
  }
  EXPECT_TRUE(saw_not_serving);
  (void)watch->Finish();
  auto code = server->WaitExit(absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server->Log();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  std::string log = server->Log();
  EXPECT_THAT(log, HasSubstr("draining"));
  EXPECT_THAT(log, HasSubstr("store closed"));
  EXPECT_THAT(log, HasSubstr("stopped cleanly"));
}

TEST_F(ServerE2ETest, IdleClientConnectionsDoNotDelayTheDrain) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);  // stays connected, idle
  ASSERT_TRUE(client->Capabilities().ok());
  absl::Time start = absl::Now();
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << server->Log();
}

TEST_F(ServerE2ETest, SigintAlsoStopsCleanly) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->Stop(SIGINT, absl::Seconds(20)).value(), 0);
  EXPECT_THAT(server->Log(), HasSubstr("stopped cleanly"));
}

TEST_F(ServerE2ETest, RestartKeepsTheStore) {
  std::string store_id;
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    store_id = Connect(*server)->Capabilities()->store_id();
    ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  }
  // Records written between runs must survive the next run's open and close.
  {
    auto store = cache::Store::Open({.data_dir = data_dir_});
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->PutArtifact("artifact-1", "compiled bytes").ok());
    ASSERT_TRUE(
        (*store)->Put(cache::Family::kEntries, "entry-1", "entry").ok());
  }
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(Connect(*server)->Capabilities()->store_id(), store_id);
    ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  }
  auto store = cache::Store::Open({.data_dir = data_dir_});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->GetArtifact("artifact-1")->value_or(""),
            "compiled bytes");
  EXPECT_EQ((*store)->Get(cache::Family::kEntries, "entry-1")->value_or(""),
            "entry");
  EXPECT_EQ((*store)->store_id(), store_id);
}

TEST_F(ServerE2ETest, SecondServerOnSameDataDirFails) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto second = RunCommand(
      {server_bin_, "--listen=127.0.0.1:0", "--data-dir=" + data_dir_});
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->exit_code, 0);
  EXPECT_THAT(second->err, HasSubstr("is in use by another process (pid " +
                                     std::to_string(server->pid()) + ")"));
  // The first server is unaffected.
  EXPECT_EQ(Connect(*server)->CheckHealth().value(), client::Health::kServing);
}

TEST_F(ServerE2ETest, BadFlagsGiveClearErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  std::vector<Case> cases = {
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--listen=localhost"}, "--listen"},
      {{"--log-format=xml"}, "--log-format"},
      {{"--log-level=chatty"}, "--log-level"},
      {{"--max-message-bytes=-5"}, "--max-message-bytes"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server_bin_, "--data-dir=" + data_dir_};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = RunCommand(argv);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << c.args[0];
    EXPECT_THAT(r->err, HasSubstr(c.expected));
    EXPECT_THAT(r->err, HasSubstr("kiln-server: error:"));
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  }
  // Environment variables are validated like flags.
  auto r = RunCommand({server_bin_, "--data-dir=" + data_dir_},
                      {{"KILN_LOG_FORMAT", "yaml"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--log-format"));
}

TEST_F(ServerE2ETest, UnusableDataDirFailsAtStart) {
  fs::create_directories(tmp_);
  std::ofstream(tmp_ + "/plain-file") << "not a directory";
  for (const std::string& dir :
       {tmp_ + "/plain-file/sub", tmp_ + "/plain-file"}) {
    auto r =
        RunCommand({server_bin_, "--listen=127.0.0.1:0", "--data-dir=" + dir});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 1) << r->err;
    EXPECT_THAT(r->err, HasSubstr("data dir '" + dir + "'"));
    EXPECT_THAT(r->err, Not(HasSubstr("serving on")));
  }
}

TEST_F(ServerE2ETest, PortInUseFailsAtStart) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto r = RunCommand({server_bin_, "--listen=" + server->address(),
                       "--data-dir=" + tmp_ + "/other"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_THAT(r->err, HasSubstr("cannot listen on '" + server->address()));
}

TEST_F(ServerE2ETest, EnvironmentConfiguresTheServer) {
  auto server = StartServer(
      {}, {{"KILN_LOG_FORMAT", "json"}, {"KILN_MAX_MESSAGE_BYTES", "1048576"}});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Connect(*server)->Capabilities()->limits().max_message_bytes(),
            1048576);
  // Every log line is one JSON object.
  ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  for (absl::string_view line :
       absl::StrSplit(server->Log(), '\n', absl::SkipEmpty())) {
    nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << line;
    EXPECT_TRUE(doc.contains("msg"));
    EXPECT_TRUE(doc.contains("level"));
  }
}

TEST_F(ServerE2ETest, EveryRpcExistsAndUnbuiltOnesNameTheirFeature) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  std::vector<std::pair<std::string, grpc::Status>> calls;
  auto ctx = [&] { return client->NewContext(); };
  {
    v1::CompileResponse r;
    calls.emplace_back("Compile", client->compiler().Compile(
                                      ctx().get(), v1::CompileRequest(), &r));
  }
  {
    v1::LookupResponse r;
    calls.emplace_back("Lookup", client->compiler().Lookup(
                                     ctx().get(), v1::LookupRequest(), &r));
  }
  {
    v1::ExecuteResponse r;
    calls.emplace_back("Execute", client->compiler().Execute(
                                      ctx().get(), v1::ExecuteRequest(), &r));
  }
  {
    auto c = ctx();
    auto stream = client->compiler().ExecuteStream(c.get());
    stream->WritesDone();
    v1::ExecuteStreamResponse r;
    while (stream->Read(&r)) {
    }
    calls.emplace_back("ExecuteStream", stream->Finish());
  }
  {
    v1::RegisterSharedMemoryResponse r;
    calls.emplace_back("RegisterSharedMemory",
                       client->compiler().RegisterSharedMemory(
                           ctx().get(), v1::RegisterSharedMemoryRequest(), &r));
  }
  {
    v1::UnregisterSharedMemoryResponse r;
    calls.emplace_back(
        "UnregisterSharedMemory",
        client->compiler().UnregisterSharedMemory(
            ctx().get(), v1::UnregisterSharedMemoryRequest(), &r));
  }
  {
    v1::GetArtifactResponse r;
    calls.emplace_back("GetArtifact",
                       client->compiler().GetArtifact(
                           ctx().get(), v1::GetArtifactRequest(), &r));
  }
  {
    v1::ListResponse r;
    calls.emplace_back(
        "List", client->admin().List(ctx().get(), v1::ListRequest(), &r));
  }
  {
    v1::GetResponse r;
    calls.emplace_back("Get",
                       client->admin().Get(ctx().get(), v1::GetRequest(), &r));
  }
  {
    v1::StatsResponse r;
    calls.emplace_back(
        "Stats", client->admin().Stats(ctx().get(), v1::StatsRequest(), &r));
  }
  {
    v1::ExplainResponse r;
    calls.emplace_back("Explain", client->admin().Explain(
                                      ctx().get(), v1::ExplainRequest(), &r));
  }
  {
    v1::EvictResponse r;
    calls.emplace_back(
        "Evict", client->admin().Evict(ctx().get(), v1::EvictRequest(), &r));
  }
  {
    auto c = ctx();
    auto reader = client->admin().Export(c.get(), v1::ExportRequest());
    v1::ExportChunk chunk;
    while (reader->Read(&chunk)) {
    }
    calls.emplace_back("Export", reader->Finish());
  }
  {
    auto c = ctx();
    v1::ImportResponse r;
    auto writer = client->admin().Import(c.get(), &r);
    writer->WritesDone();
    calls.emplace_back("Import", writer->Finish());
  }
  ASSERT_EQ(calls.size(), 14u);
  // Every method is built: an empty request gets a real status, never
  // UNIMPLEMENTED. Those that need nothing answer OK (an empty listing, the
  // counters, an empty bundle); the others name what is missing.
  const std::set<std::string> ok_when_empty = {"List", "Stats", "Export"};
  for (const auto& [method, status] : calls) {
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
    if (ok_when_empty.count(method) > 0) {
      EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
      continue;
    }
    EXPECT_NE(status.error_code(), grpc::StatusCode::OK) << method;
    EXPECT_FALSE(status.error_message().empty()) << method;
  }
  // The server is still healthy after all of that.
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
}

TEST_F(ServerE2ETest, ReflectionListsAndDescribesServices) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.push_back(s.name());
  }
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"kiln.v1.Compiler", "kiln.v1.CacheAdmin",
                                       "grpc.health.v1.Health"}));
  grpc::reflection::v1alpha::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("kiln.v1.Compiler");
  ASSERT_TRUE(stream->Write(symbol));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(),
            0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace kiln
