#include "server/config.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::server {
namespace {

ParseResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kiln-server");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseServerFlags(static_cast<int>(argv.size()), argv.data());
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"KILN_LISTEN", "KILN_DATA_DIR", "KILN_LOG_FORMAT", "KILN_LOG_LEVEL",
          "KILN_MAX_MESSAGE_BYTES", "KILN_SHUTDOWN_TIMEOUT", "KILN_SYNC_WRITES",
          "KILN_TLS_CERT", "KILN_TLS_KEY", "KILN_TLS_CLIENT_CA",
          "KILN_TOKEN_FILE", "KILN_METRICS_LISTEN"}) {
      unsetenv(v);
    }
  }
};

TEST_F(ConfigTest, DefaultsServeLoopbackWithDataUnderDotKiln) {
  ParseResult r = Parse({});
  ASSERT_TRUE(std::holds_alternative<ServerConfig>(r));
  const ServerConfig& c = std::get<ServerConfig>(r);
  EXPECT_EQ(c.listen, "127.0.0.1:50051");
  EXPECT_EQ(c.data_dir, ".kiln");
  EXPECT_EQ(c.log_format, "text");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.max_message_bytes, 64 << 20);
  EXPECT_TRUE(c.sync_writes);
}

TEST_F(ConfigTest, FlagsAreRead) {
  ParseResult r =
      Parse({"--listen=0.0.0.0:7000", "--data-dir", "/x", "--log-format=json",
             "--log-level=debug", "--max-message-bytes=1048576",
             "--shutdown-timeout=2.5", "--sync-writes=false"});
  ASSERT_TRUE(std::holds_alternative<ServerConfig>(r));
  const ServerConfig& c = std::get<ServerConfig>(r);
  EXPECT_EQ(c.listen, "0.0.0.0:7000");
  EXPECT_EQ(c.data_dir, "/x");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.max_message_bytes, 1048576);
  EXPECT_DOUBLE_EQ(c.shutdown_timeout_s, 2.5);
  EXPECT_FALSE(c.sync_writes);
}

TEST_F(ConfigTest, EnvironmentFillsInAndFlagsWin) {
  setenv("KILN_LISTEN", "127.0.0.1:9", 1);
  setenv("KILN_DATA_DIR", "/from-env", 1);
  setenv("KILN_LOG_FORMAT", "json", 1);
  setenv("KILN_LOG_LEVEL", "warn", 1);
  setenv("KILN_MAX_MESSAGE_BYTES", "65536", 1);
  ParseResult r = Parse({"--data-dir=/from-flag"});
  ASSERT_TRUE(std::holds_alternative<ServerConfig>(r));
  const ServerConfig& c = std::get<ServerConfig>(r);
  EXPECT_EQ(c.listen, "127.0.0.1:9");
  EXPECT_EQ(c.data_dir, "/from-flag");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.max_message_bytes, 65536);
}

TEST_F(ConfigTest, BadValuesExitWithUsageError) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"--listen=nohostport"},
                                             {"--listen=127.0.0.1:99999"},
                                             {"--listen=127.0.0.1:http"},
                                             {"--log-format=xml"},
                                             {"--log-level=loud"},
                                             {"--max-message-bytes=12"},
                                             {"--max-message-bytes=lots"},
                                             {"--data-dir="},
                                             {"--shutdown-timeout=-1"}}) {
    ParseResult r = Parse(args);
    ASSERT_TRUE(std::holds_alternative<ExitNow>(r)) << args[0];
    EXPECT_EQ(std::get<ExitNow>(r).code, 2) << args[0];
  }
  setenv("KILN_LOG_FORMAT", "xml", 1);
  ParseResult r = Parse({});
  ASSERT_TRUE(std::holds_alternative<ExitNow>(r));
  EXPECT_EQ(std::get<ExitNow>(r).code, 2);
}

TEST_F(ConfigTest, SecurityAndMetricsFlagsFromFlagsAndEnvironment) {
  setenv("KILN_TLS_CLIENT_CA", "/env/ca.pem", 1);
  setenv("KILN_TOKEN_FILE", "/env/tokens", 1);
  setenv("KILN_METRICS_LISTEN", "0.0.0.0:9464", 1);
  ParseResult r = Parse({"--tls-cert=/x/cert.pem", "--tls-key", "/x/key.pem",
                         "--token-file=/x/tokens"});
  ASSERT_TRUE(std::holds_alternative<ServerConfig>(r));
  const ServerConfig& c = std::get<ServerConfig>(r);
  EXPECT_EQ(c.tls_cert, "/x/cert.pem");
  EXPECT_EQ(c.tls_key, "/x/key.pem");
  EXPECT_EQ(c.tls_client_ca, "/env/ca.pem");
  EXPECT_EQ(c.token_file, "/x/tokens");
  EXPECT_EQ(c.metrics_listen, "0.0.0.0:9464");
}

TEST_F(ConfigTest, MetricsListenIsHostPortOrEmpty) {
  for (const char* bad : {"--metrics-listen=9464", "--metrics-listen=unix:/m",
                          "--metrics-listen=127.0.0.1:http",
                          "--metrics-listen=127.0.0.1:70000"}) {
    ParseResult r = Parse({bad});
    ASSERT_TRUE(std::holds_alternative<ExitNow>(r)) << bad;
    EXPECT_EQ(std::get<ExitNow>(r).code, 2) << bad;
  }
  for (const char* good :
       {"--metrics-listen=[::1]:0", "--metrics-listen=127.0.0.1:9464"}) {
    EXPECT_TRUE(std::holds_alternative<ServerConfig>(Parse({good}))) << good;
  }
}

TEST_F(ConfigTest, HelpAndVersionExitZero) {
  testing::internal::CaptureStdout();
  ParseResult help = Parse({"--help"});
  std::string out = testing::internal::GetCapturedStdout();
  ASSERT_TRUE(std::holds_alternative<ExitNow>(help));
  EXPECT_EQ(std::get<ExitNow>(help).code, 0);
  EXPECT_NE(out.find("--data-dir"), std::string::npos);
  EXPECT_NE(out.find("KILN_DATA_DIR"), std::string::npos);
  testing::internal::CaptureStdout();
  ParseResult version = Parse({"--version"});
  out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(std::get<ExitNow>(version).code, 0);
  EXPECT_NE(out.find("kiln-server 0."), std::string::npos) << out;
}

}  // namespace
}  // namespace kiln::server
