// kiln-loadgen end to end, briefly: a real kiln-server (interpreter target,
// shared memory allowed) and, where Debian's redis-server is installed, a
// real Redis; every workload runs at two client counts without errors.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"
#include "tools/bench/redis_client.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;
using ::kiln::testing::RunCommand;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRedisServer[] = "/usr/bin/redis-server";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// redis-server as a daemon without persistence; stopped through its pid
// file.
class RedisDaemon {
 public:
  explicit RedisDaemon(const std::string& dir) : dir_(dir) {
    port_ = FreePort();
    auto started = RunCommand(
        {kRedisServer, "--port", absl::StrCat(port_), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "yes",
         "--pidfile", dir + "/redis.pid", "--logfile", dir + "/redis.log"});
    EXPECT_TRUE(started.ok() && started->exit_code == 0);
    for (int i = 0; i < 200; ++i) {
      if (RedisClient::Connect(address()).ok()) return;
      usleep(10000);
    }
    ADD_FAILURE() << "redis-server did not start on " << address();
  }
  ~RedisDaemon() {
    std::ifstream in(dir_ + "/redis.pid");
    std::string text;
    int pid = 0;
    if (std::getline(in, text) &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) && pid > 0) {
      kill(pid, SIGTERM);
    }
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  std::string dir_;
  int port_ = 0;
};

TEST(LoadgenSmokeTest, EveryWorkloadRunsWithoutErrors) {
  std::string tmp = testing::MakeTempDir("loadgen-smoke");
  auto server = ServerProcess::Start(
      {Runfile("server/kiln-server"), "--listen=127.0.0.1:0",
       "--data-dir=" + tmp + "/data", "--allow-client-shm=true"});
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<RedisDaemon> redis;
  if (access(kRedisServer, X_OK) == 0) {
    redis = std::make_unique<RedisDaemon>(tmp);
  }

  std::vector<std::string> argv = {Runfile("tools/bench/kiln-loadgen"),
                                   "--server=" + (*server)->address(),
                                   "--clients=1,2",
                                   "--seconds=0.05",
                                   "--backend=interpreter",
                                   "--cold-backends=interpreter",
                                   "--large=65536",
                                   "--large-graph-nodes=8"};
  if (redis != nullptr) argv.push_back("--redis=" + redis->address());
  auto run = RunCommand(argv);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->err << (*server)->Log();
  const std::string& table = run->out;
  EXPECT_THAT(table, HasSubstr("- CPU: "));
  EXPECT_THAT(table, HasSubstr("| Health check (gRPC floor) |"));
  EXPECT_THAT(table, HasSubstr("| Compile, cache hit | 3-node graph | 2 |"));
  EXPECT_THAT(table, HasSubstr("| Compile, cache hit | 8-node graph | 1 |"));
  EXPECT_THAT(table, HasSubstr("| Lookup, hit |"));
  EXPECT_THAT(table, HasSubstr("| GetArtifact with binary |"));
  EXPECT_THAT(table, HasSubstr("| Execute, bytes in the message | 1 KiB in"));
  EXPECT_THAT(table, HasSubstr("| Execute, shared memory | 64 KiB in"));
  EXPECT_THAT(table, HasSubstr("| Compile, cold (interpreter) |"));
  if (redis != nullptr) {
    EXPECT_THAT(table, HasSubstr("| Redis GET of the artifact |"));
  }
  EXPECT_THAT(table, Not(HasSubstr("errors")));
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace kiln::bench
