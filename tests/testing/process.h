#ifndef KILN_TESTS_TESTING_PROCESS_H_
#define KILN_TESTS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::testing {

// The absolute path of a binary built by Bazel and listed in the test's
// `data`, e.g. Runfile("server/kiln-server").
std::string Runfile(const std::string& workspace_relative);

// A fresh empty directory under TEST_TMPDIR, removed by the caller.
std::string MakeTempDir(const std::string& prefix);

// What a finished command did.
struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

// Runs `argv` to completion with extra environment variables, capturing
// stdout and stderr. Fails only when the command cannot be started or times
// out (then it is killed).
absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env = {},
    absl::Duration timeout = absl::Seconds(60));

// A kiln-server (or any long-running program) in a child process, with its
// stderr collected line by line. Destroying it kills the process.
class ServerProcess {
 public:
  // Starts `argv`, then waits until a stderr line contains "serving on " and
  // returns with address() set from it. Fails with the process's output when
  // it exits or does not get ready in time.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& argv,
      const std::map<std::string, std::string>& env = {},
      absl::Duration ready_timeout = absl::Seconds(30));
  ~ServerProcess();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` (SIGTERM by default) and waits for the exit; returns the
  // exit code (128 + signal when killed by one). Kills it after `timeout`.
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);
  // Waits for an exit that something else caused.
  absl::StatusOr<int> WaitExit(absl::Duration timeout);

  // Everything written to stderr so far.
  std::string Log() const;
  // Waits until a stderr line contains `needle`.
  bool WaitForLog(const std::string& needle, absl::Duration timeout) const;

 private:
  ServerProcess() = default;
  void ReadLoop(int fd);

  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string address_;
  mutable std::mutex mu_;
  std::string log_;
  bool eof_ = false;
  std::thread reader_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_TESTING_PROCESS_H_
