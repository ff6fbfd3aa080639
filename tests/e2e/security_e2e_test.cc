// Security of kiln-server end to end: TLS and mutual TLS with certificates
// made by the openssl CLI at test time, bearer tokens and their roles, and
// the start-up checks of the security flags. The real binary on a free port,
// called over real gRPC.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/cpp/channel.h"
#include "client/cpp/kiln_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::testing::CommandResult;
using ::kiln::testing::RunCommand;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kClientToken[] = "client-token-0123456789abcdef";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kExpiredToken[] = "expired-token-0123456789abcdef";
constexpr char kUnknownToken[] = "unknown-token-0123456789abcdef";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate from the same CA, and a client certificate from another CA.
struct Pki {
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string other_ca, other_cert, other_key;
};

class SecurityE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    cli_bin_ = Runfile("client/cpp/kiln");
    tmp_ = testing::MakeTempDir("security");
    data_dir_ = tmp_ + "/data";
    token_file_ = tmp_ + "/tokens.txt";
    WriteFile(token_file_,
              absl::StrCat(
                  "# kiln tokens\n", kClientToken, " client name=ci-runner\n",
                  kAdminToken, " admin name=ops\n", kExpiredToken,
                  " client name=old-job expires=2001-02-03T04:05:06Z\n"));
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs openssl in the temp dir; fails the test on error.
  void OpenSsl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    auto r = RunCommand(args);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r->err;
  }

  // Makes a CA (key + self-signed certificate) named `name`.
  void MakeCa(const std::string& name) {
    OpenSsl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
             "/CN=" + name, "-keyout", Path(name + ".key"), "-out",
             Path(name + ".pem")});
  }

  // Makes a key and a certificate named `name` signed by CA `ca`, with
  // extensions `ext` (an openssl extfile's text).
  void MakeCert(const std::string& name, const std::string& ca,
                const std::string& cn, const std::string& ext) {
    WriteFile(Path(name + ".ext"), ext);
    OpenSsl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-subj", "/CN=" + cn, "-keyout", Path(name + ".key"),
             "-out", Path(name + ".csr")});
    OpenSsl({"x509", "-req", "-in", Path(name + ".csr"), "-CA",
             Path(ca + ".pem"), "-CAkey", Path(ca + ".key"), "-set_serial",
             std::to_string(++serial_), "-days", "2", "-extfile",
             Path(name + ".ext"), "-out", Path(name + ".pem")});
  }

  const Pki& MakePki() {
    MakeCa("ca");
    MakeCert("server", "ca", "localhost",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth\n");
    MakeCert("client", "ca", "ci-runner-cert", "extendedKeyUsage=clientAuth\n");
    MakeCa("other-ca");
    MakeCert("other", "other-ca", "mallory", "extendedKeyUsage=clientAuth\n");
    pki_ = {Path("ca.pem"),     Path("server.pem"), Path("server.key"),
            Path("client.pem"), Path("client.key"), Path("other-ca.pem"),
            Path("other.pem"),  Path("other.key")};
    return pki_;
  }

  std::string Path(const std::string& name) const { return tmp_ + "/" + name; }

  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> extra) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir_,
                                     "--shutdown-timeout=2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  // A client of `server`; `tweak` sets TLS and token options.
  std::unique_ptr<client::KilnClient> Connect(
      const ServerProcess& server,
      const std::function<void(client::ClientOptions&)>& tweak = nullptr) {
    client::ClientOptions options;
    options.server = server.address();
    options.timeout = absl::Seconds(5);
    if (tweak) tweak(options);
    auto client = client::KilnClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  static std::function<void(client::ClientOptions&)> WithToken(
      const std::string& token) {
    return [token](client::ClientOptions& o) { o.token = token; };
  }

  static grpc::Status Evict(client::KilnClient& client) {
    v1::EvictRequest request;
    request.set_artifact_key(std::string(64, 'a'));
    v1::EvictResponse response;
    return client.admin().Evict(client.NewContext().get(), request, &response);
  }

  static grpc::Status Import(client::KilnClient& client) {
    auto context = client.NewContext();
    v1::ImportResponse response;
    auto writer = client.admin().Import(context.get(), &response);
    writer->WritesDone();
    return writer->Finish();
  }

  static grpc::Status Stats(client::KilnClient& client) {
    v1::StatsResponse response;
    return client.admin().Stats(client.NewContext().get(), v1::StatsRequest(),
                                &response);
  }

  CommandResult Cli(std::vector<std::string> args,
                    std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), cli_bin_);
    auto result = RunCommand(args, env);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : CommandResult{};
  }

  std::string server_bin_, cli_bin_, tmp_, data_dir_, token_file_;
  Pki pki_;
  int serial_ = 1000;
};

// A status that got past authentication and authorization (whatever the
// service itself then answered).
MATCHER(PassedAuth, "") {
  return arg.error_code() != grpc::StatusCode::UNAUTHENTICATED &&
         arg.error_code() != grpc::StatusCode::PERMISSION_DENIED &&
         arg.error_code() != grpc::StatusCode::UNAVAILABLE;
}

TEST_F(SecurityE2ETest, TokensDecideWhoMayCall) {
  auto server = StartServer({"--token-file=" + token_file_});
  ASSERT_NE(server, nullptr);

  // No token: UNAUTHENTICATED, saying what to send.
  auto anonymous = Connect(*server);
  auto caps = anonymous->Capabilities();
  EXPECT_EQ(caps.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(caps.status().message(), HasSubstr("needs a bearer token"));
  EXPECT_THAT(caps.status().message(),
              HasSubstr("kiln.v1.Compiler/Capabilities"));
  EXPECT_EQ(Stats(*anonymous).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Unknown and expired tokens: UNAUTHENTICATED, and the token is never
  // echoed.
  auto unknown = Connect(*server, WithToken(kUnknownToken));
  caps = unknown->Capabilities();
  EXPECT_EQ(caps.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(caps.status().message(), HasSubstr("unknown bearer token"));
  EXPECT_THAT(caps.status().message(), Not(HasSubstr(kUnknownToken)));

  auto expired = Connect(*server, WithToken(kExpiredToken));
  caps = expired->Capabilities();
  EXPECT_EQ(caps.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(caps.status().message(),
              HasSubstr("'old-job' expired at 2001-02-03T04:05:06"));
  EXPECT_THAT(caps.status().message(), Not(HasSubstr(kExpiredToken)));

  // A token that is not a Bearer token.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Basic ", kClientToken));
    v1::CapabilitiesResponse response;
    grpc::Status s = anonymous->compiler().Capabilities(
        &context, v1::CapabilitiesRequest(), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), HasSubstr("not 'Bearer <token>'"));
  }

  // The client role reaches the services but not Evict or Import.
  auto client = Connect(*server, WithToken(kClientToken));
  caps = client->Capabilities();
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(caps->protocol_version(), "kiln.v1");
  EXPECT_THAT(Stats(*client), PassedAuth());
  grpc::Status evict = Evict(*client);
  EXPECT_EQ(evict.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(evict.error_message(),
              HasSubstr("kiln.v1.CacheAdmin/Evict needs an admin token"));
  EXPECT_THAT(evict.error_message(), HasSubstr("ci-runner"));
  EXPECT_EQ(Import(*client).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The admin role may do everything.
  auto admin = Connect(*server, WithToken(kAdminToken));
  EXPECT_TRUE(admin->Capabilities().ok());
  EXPECT_THAT(Stats(*admin), PassedAuth());
  EXPECT_THAT(Evict(*admin), PassedAuth());
  EXPECT_THAT(Import(*admin), PassedAuth());

  // Health needs no token, and a bad one does not hurt it.
  EXPECT_EQ(anonymous->CheckHealth().value(), client::Health::kServing);
  EXPECT_EQ(anonymous->CheckHealth("kiln.v1.Compiler").value(),
            client::Health::kServing);
  EXPECT_EQ(unknown->CheckHealth().value(), client::Health::kServing);

  // Server reflection describes the API only to token holders.
  for (const std::string& token : {std::string(), std::string(kClientToken)}) {
    client::ChannelOptions options;
    options.server = server->address();
    options.token = token;
    auto channel = client::CreateChannel(options);
    ASSERT_TRUE(channel.ok());
    auto reflection =
        grpc::reflection::v1alpha::ServerReflection::NewStub(*channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    auto stream = reflection->ServerReflectionInfo(&context);
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    request.set_list_services("");
    stream->Write(request);
    stream->WritesDone();
    grpc::reflection::v1alpha::ServerReflectionResponse response;
    bool got = stream->Read(&response);
    grpc::Status s = stream->Finish();
    if (token.empty()) {
      EXPECT_FALSE(got);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    } else {
      EXPECT_TRUE(got);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }

  // Refused calls are logged without the token.
  std::string log = server->Log();
  EXPECT_THAT(log, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(log, HasSubstr("PERMISSION_DENIED"));
  for (const char* token :
       {kClientToken, kAdminToken, kExpiredToken, kUnknownToken}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(SecurityE2ETest, SighupReloadsTheTokenFile) {
  auto server = StartServer({"--token-file=" + token_file_});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server, WithToken(kClientToken));
  auto newcomer = Connect(*server, WithToken(kUnknownToken));
  ASSERT_TRUE(client->Capabilities().ok());
  ASSERT_FALSE(newcomer->Capabilities().ok());

  // The client token is revoked and a new one is issued.
  WriteFile(token_file_, absl::StrCat(kUnknownToken, " admin name=new\n"));
  ::kill(server->pid(), SIGHUP);
  ASSERT_TRUE(server->WaitForLog("(1 tokens)", absl::Seconds(10)))
      << server->Log();
  EXPECT_TRUE(newcomer->Capabilities().ok());
  EXPECT_EQ(client->Capabilities().status().code(),
            absl::StatusCode::kUnauthenticated);

  // A broken file is refused and the tokens in force stay.
  WriteFile(token_file_, absl::StrCat(kClientToken, " superuser\n"));
  ::kill(server->pid(), SIGHUP);
  ASSERT_TRUE(
      server->WaitForLog("keeping the previous tokens", absl::Seconds(10)))
      << server->Log();
  EXPECT_THAT(server->Log(), HasSubstr("tokens.txt:1: unknown role"));
  EXPECT_TRUE(newcomer->Capabilities().ok());
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(SecurityE2ETest, TlsServesAndRefusesPlaintext) {
  const Pki& pki = MakePki();
  auto server = StartServer(
      {"--tls-cert=" + pki.server_cert, "--tls-key=" + pki.server_key});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->Log(), HasSubstr("transport: TLS"));

  // A client that trusts the CA gets through, by IP and by name.
  auto tls =
      Connect(*server, [&](client::ClientOptions& o) { o.tls_ca = pki.ca; });
  auto caps = tls->Capabilities();
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(caps->protocol_version(), "kiln.v1");
  EXPECT_EQ(tls->CheckHealth().value(), client::Health::kServing);
  auto by_name = Connect(*server, [&](client::ClientOptions& o) {
    o.server = "localhost:" +
               server->address().substr(server->address().rfind(':') + 1);
    o.tls_ca = pki.ca;
  });
  EXPECT_TRUE(by_name->Capabilities().ok());

  // Plaintext clients are refused, health included.
  auto plaintext = Connect(*server);
  EXPECT_EQ(plaintext->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(plaintext->CheckHealth().ok());

  // So is a client that does not trust the server's CA, or expects a name
  // the certificate does not carry.
  auto untrusting = Connect(
      *server, [&](client::ClientOptions& o) { o.tls_ca = pki.other_ca; });
  EXPECT_EQ(untrusting->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);
  auto wrong_name = Connect(*server, [&](client::ClientOptions& o) {
    o.tls_ca = pki.ca;
    o.tls_server_name = "kiln.example.com";
  });
  EXPECT_EQ(wrong_name->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);

  // The CLI: --tls-ca from a flag or KILN_TLS_CA.
  CommandResult status =
      Cli({"--server", server->address(), "--tls-ca", pki.ca, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("SERVING"));
  status =
      Cli({"--server", server->address(), "status"}, {{"KILN_TLS_CA", pki.ca}});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  CommandResult refused =
      Cli({"--server", server->address(), "--timeout", "5", "status"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1)
      << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("cannot reach kiln-server"));
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(SecurityE2ETest, MutualTlsNeedsAClientCertificateFromTheCa) {
  const Pki& pki = MakePki();
  auto server =
      StartServer({"--tls-cert=" + pki.server_cert,
                   "--tls-key=" + pki.server_key, "--tls-client-ca=" + pki.ca});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->Log(), HasSubstr("transport: mutual TLS"));

  auto no_cert =
      Connect(*server, [&](client::ClientOptions& o) { o.tls_ca = pki.ca; });
  EXPECT_EQ(no_cert->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(no_cert->CheckHealth().ok());

  auto wrong_ca = Connect(*server, [&](client::ClientOptions& o) {
    o.tls_ca = pki.ca;
    o.tls_cert = pki.other_cert;
    o.tls_key = pki.other_key;
  });
  EXPECT_EQ(wrong_ca->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);

  auto good = Connect(*server, [&](client::ClientOptions& o) {
    o.tls_ca = pki.ca;
    o.tls_cert = pki.client_cert;
    o.tls_key = pki.client_key;
  });
  auto caps = good->Capabilities();
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(good->CheckHealth().value(), client::Health::kServing);
  // The certificate's name is the caller in the request log.
  ASSERT_TRUE(server->WaitForLog("client=ci-runner-cert", absl::Seconds(10)))
      << server->Log();

  // The CLI with the client certificate from the environment.
  CommandResult status = Cli({"--server", server->address(), "status"},
                             {{"KILN_TLS_CA", pki.ca},
                              {"KILN_TLS_CERT", pki.client_cert},
                              {"KILN_TLS_KEY", pki.client_key}});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(SecurityE2ETest, TokensOverMutualTls) {
  const Pki& pki = MakePki();
  auto server = StartServer(
      {"--tls-cert=" + pki.server_cert, "--tls-key=" + pki.server_key,
       "--tls-client-ca=" + pki.ca, "--token-file=" + token_file_});
  ASSERT_NE(server, nullptr);
  auto with_cert = [&](const std::string& token) {
    return [&pki, token](client::ClientOptions& o) {
      o.tls_ca = pki.ca;
      o.tls_cert = pki.client_cert;
      o.tls_key = pki.client_key;
      o.token = token;
    };
  };
  // A certificate alone is not enough when tokens are required.
  auto cert_only = Connect(*server, with_cert(""));
  EXPECT_EQ(cert_only->Capabilities().status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(cert_only->CheckHealth().value(), client::Health::kServing);
  auto client = Connect(*server, with_cert(kClientToken));
  EXPECT_TRUE(client->Capabilities().ok());
  EXPECT_EQ(Evict(*client).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto admin = Connect(*server, with_cert(kAdminToken));
  EXPECT_THAT(Evict(*admin), PassedAuth());

  // kiln status with --token, and with KILN_TOKEN.
  std::vector<std::string> tls_flags = {
      "--server",   server->address(), "--tls-ca",  pki.ca,
      "--tls-cert", pki.client_cert,   "--tls-key", pki.client_key};
  std::vector<std::string> args = tls_flags;
  args.insert(args.end(), {"--token", kClientToken, "status"});
  CommandResult status = Cli(args);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  args = tls_flags;
  args.push_back("status");
  status = Cli(args, {{"KILN_TOKEN", kAdminToken}});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  CommandResult refused = Cli(args);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1)
      << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("needs a bearer token"));
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
}

TEST_F(SecurityE2ETest, BadSecurityFlagsExitWithOneClearLine) {
  const Pki& pki = MakePki();
  WriteFile(Path("bad-role.txt"),
            absl::StrCat("# ok so far\n", kClientToken, " client\n",
                         kAdminToken, " root name=ops\n"));
  WriteFile(Path("short.txt"), "abc client\n");
  WriteFile(Path("bad-expiry.txt"),
            absl::StrCat(kClientToken, " client expires=tomorrow\n"));
  WriteFile(Path("duplicate.txt"),
            absl::StrCat(kClientToken, " client name=a\n", kClientToken,
                         " admin name=b\n"));
  WriteFile(Path("empty.txt"), "# nobody\n");
  WriteFile(Path("not-pem.txt"), "hello\n");
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  std::vector<Case> cases = {
      {{"--tls-key=" + pki.server_key}, "--tls-key needs --tls-cert"},
      {{"--tls-cert=" + pki.server_cert}, "--tls-cert needs --tls-key"},
      {{"--tls-client-ca=" + pki.ca}, "--tls-client-ca needs --tls-cert"},
      {{"--tls-cert=" + Path("missing.pem"), "--tls-key=" + pki.server_key},
       "--tls-cert: cannot read '" + Path("missing.pem") + "'"},
      {{"--tls-cert=" + Path("not-pem.txt"), "--tls-key=" + pki.server_key},
       "holds no PEM certificate"},
      {{"--tls-cert=" + pki.server_cert, "--tls-key=" + pki.client_key},
       "is not the private key of the certificate"},
      {{"--tls-cert=" + pki.server_cert, "--tls-key=" + pki.server_key,
        "--tls-client-ca=" + Path("missing-ca.pem")},
       "--tls-client-ca: cannot read"},
      {{"--token-file=" + Path("missing.txt")}, "--token-file: cannot read"},
      {{"--token-file=" + Path("bad-role.txt")},
       "bad-role.txt:3: unknown role 'root' (expected client or admin)"},
      {{"--token-file=" + Path("short.txt")},
       "short.txt:1: token is shorter than 16 characters"},
      {{"--token-file=" + Path("bad-expiry.txt")},
       "bad-expiry.txt:1: expires= is not an RFC 3339 time"},
      {{"--token-file=" + Path("duplicate.txt")},
       "duplicate.txt:2: the same token as 'a'"},
      {{"--token-file=" + Path("empty.txt")}, "has no tokens"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir_};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = RunCommand(argv);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << c.expected << "\n" << r->err;
    EXPECT_THAT(r->err, HasSubstr("kiln-server: error: "));
    EXPECT_THAT(r->err, HasSubstr(c.expected));
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
    // The token is never printed, even from a broken file.
    EXPECT_THAT(r->err, Not(HasSubstr(kAdminToken)));
    EXPECT_THAT(r->err, Not(HasSubstr("serving on")));
  }
  // The environment is checked like the flags.
  auto r = RunCommand(
      {server_bin_, "--listen=127.0.0.1:0", "--data-dir=" + data_dir_},
      {{"KILN_TLS_KEY", pki.server_key}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--tls-key needs --tls-cert"));

  // Client side: a certificate without its key is refused before any call.
  CommandResult cli =
      Cli({"--server", "127.0.0.1:1", "--tls-cert", pki.client_cert, "status"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_THAT(cli.err, HasSubstr("needs its key (--tls-key)"));
}

}  // namespace
}  // namespace kiln
