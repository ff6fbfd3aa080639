#include "tests/testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace kiln::testing {
namespace {

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Forks and execs argv with stdout/stderr on the given fds (-1: /dev/null).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env,
                            int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(std::strerror(errno));
  if (pid == 0) {
    // Child: the signal mask and dispositions of the test must not leak in.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(out_fd >= 0 ? out_fd : null_fd, 1);
    ::dup2(err_fd >= 0 ? err_fd : null_fd, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    std::_Exit(127);
  }
  return pid;
}

absl::StatusOr<int> WaitPid(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeWaitStatus(status);
    if (r < 0) return absl::InternalError(std::strerror(errno));
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "pid ", pid, " still running after ", absl::FormatDuration(timeout)));
    }
    ::usleep(10000);
  }
}

}  // namespace

std::string Runfile(const std::string& workspace_relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr) {
    return absl::StrCat(srcdir, "/", workspace != nullptr ? workspace : "kiln",
                        "/", workspace_relative);
  }
  return workspace_relative;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", prefix, "XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  char* dir = ::mkdtemp(buf.data());
  return dir != nullptr ? std::string(dir) : std::string();
}

absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env, absl::Duration timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(std::strerror(errno));
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, env, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!pid.ok()) return pid.status();
  CommandResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  absl::Time deadline = absl::Now() + timeout;
  while (open_fds > 0 && absl::Now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, n);
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  absl::StatusOr<int> code = WaitPid(*pid, deadline - absl::Now());
  if (!code.ok()) {
    ::kill(*pid, SIGKILL);
    (void)WaitPid(*pid, absl::Seconds(10));
    return absl::DeadlineExceededError(absl::StrCat(
        argv[0], " timed out; stdout: ", result.out, " stderr: ", result.err));
  }
  result.exit_code = *code;
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env,
    absl::Duration ready_timeout) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(std::strerror(errno));
  }
  std::unique_ptr<ServerProcess> proc(new ServerProcess());
  absl::StatusOr<pid_t> pid = Spawn(argv, env, -1, err_pipe[1]);
  ::close(err_pipe[1]);
  if (!pid.ok()) {
    ::close(err_pipe[0]);
    return pid.status();
  }
  proc->pid_ = *pid;
  int fd = err_pipe[0];
  proc->reader_ = std::thread([p = proc.get(), fd] { p->ReadLoop(fd); });

  const std::string kReady = "serving on ";
  absl::Time deadline = absl::Now() + ready_timeout;
  while (absl::Now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(proc->mu_);
      size_t at = proc->log_.find(kReady);
      if (at != std::string::npos) {
        size_t end = proc->log_.find_first_of("\n\"", at);
        if (end != std::string::npos) {
          proc->address_ =
              proc->log_.substr(at + kReady.size(), end - at - kReady.size());
          return proc;
        }
      }
      if (proc->eof_) break;
    }
    ::usleep(10000);
  }
  absl::StatusOr<int> code = proc->WaitExit(absl::Seconds(5));
  return absl::UnavailableError(absl::StrCat(
      "server did not become ready (exit ",
      code.ok() ? absl::StrCat(*code) : "none", "); log:\n", proc->Log()));
}

void ServerProcess::ReadLoop(int fd) {
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (n <= 0) {
      eof_ = true;
      break;
    }
    log_.append(buf, n);
  }
  ::close(fd);
}

ServerProcess::~ServerProcess() {
  if (!exited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    (void)WaitExit(absl::Seconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

absl::StatusOr<int> ServerProcess::WaitExit(absl::Duration timeout) {
  if (exited_) return exit_code_;
  absl::StatusOr<int> code = WaitPid(pid_, timeout);
  if (code.ok()) {
    exited_ = true;
    exit_code_ = *code;
    if (reader_.joinable()) reader_.join();
  }
  return code;
}

absl::StatusOr<int> ServerProcess::Stop(int signal, absl::Duration timeout) {
  if (exited_) return exit_code_;
  ::kill(pid_, signal);
  absl::StatusOr<int> code = WaitExit(timeout);
  if (!code.ok()) {
    ::kill(pid_, SIGKILL);
    (void)WaitExit(absl::Seconds(10));
  }
  return code;
}

std::string ServerProcess::Log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

bool ServerProcess::WaitForLog(const std::string& needle,
                               absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (log_.find(needle) != std::string::npos) return true;
    }
    ::usleep(10000);
  }
  return false;
}

}  // namespace kiln::testing
