#include "compiler/backends/cpu/host_compiler.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace kiln::cpu {
namespace {

// The diagnostics kept in an error message.
constexpr size_t kMaxDiagnostics = 16 * 1024;

std::string TempRoot() {
  const char* t = std::getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? t : "/tmp";
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& s) {
  if (s.size() <= kMaxDiagnostics) return s;
  return absl::StrCat("...", s.substr(s.size() - kMaxDiagnostics));
}

// A temporary directory removed with everything in it on destruction.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create() {
    std::string tmpl = TempRoot() + "/kiln-cc-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("mkdtemp in ", TempRoot(), ": ", std::strerror(errno)));
    }
    return TempDir(buf.data());
  }
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

struct ProcessResult {
  bool timed_out = false;
  int status = 0;  // waitpid status
};

// Runs argv with stdout and stderr appended to `log`, in its own process
// group, killing the group at the deadline.
absl::StatusOr<ProcessResult> RunWithDeadline(
    const std::vector<std::string>& argv, const std::string& log,
    absl::Duration timeout) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot start the host compiler ", argv[0], ": ", std::strerror(rc)));
  }
  ProcessResult result;
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration nap = absl::Milliseconds(1);
  while (true) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      result.status = status;
      break;
    }
    if (w < 0 && errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("waitpid: ", std::strerror(errno)));
    }
    if (absl::Now() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.timed_out = true;
      result.status = status;
      break;
    }
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(nap));
    nap = std::min(nap * 2, absl::Milliseconds(20));
  }
  // Whatever the compiler left behind in its group (cc1plus, as, ld).
  kill(-pid, SIGKILL);
  return result;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> FlagsForTarget(
    const std::string& target) {
  std::vector<std::string> flags = {
      "-std=c++17",
      "-O3",
      "-fPIC",
      "-shared",
      "-fopenmp",
      "-fno-math-errno",
      "-ffp-contract=off",
      "-fvisibility=hidden",
      "-w",
  };
  if (target == "cpu-x86_64-avx512") {
    for (const char* f :
         {"-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2",
          "-mfma", "-mf16c", "-mprefer-vector-width=256"}) {
      flags.push_back(f);
    }
  } else if (target == "cpu-x86_64-avx2") {
    for (const char* f : {"-mavx2", "-mfma", "-mf16c"}) flags.push_back(f);
  } else if (target == "cpu-x86_64-sse4") {
    flags.push_back("-msse4.2");
  } else if (target == "cpu-x86_64" || target == "cpu-aarch64") {
    // The baseline ISA.
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown CPU target '", target,
                     "' (known: cpu-x86_64-avx512, cpu-x86_64-avx2, "
                     "cpu-x86_64-sse4, cpu-x86_64, cpu-aarch64)"));
  }
  return flags;
}

absl::StatusOr<std::string> CompileSharedObject(
    const std::string& source, const HostCompileOptions& options) {
  auto dir = TempDir::Create();
  if (!dir.ok()) return dir.status();
  std::string src = dir->path() + "/kernels.cc";
  std::string out = dir->path() + "/kernels.so";
  std::string log = dir->path() + "/compiler.log";
  {
    std::ofstream f(src, std::ios::binary);
    f << source;
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", src));
  }
  std::vector<std::string> argv = {options.compiler};
  for (const std::string& f : options.flags) argv.push_back(f);
  argv.push_back(src);
  argv.push_back("-o");
  argv.push_back(out);
  auto result = RunWithDeadline(argv, log, options.timeout);
  if (!result.ok()) return result.status();
  std::string diagnostics = ReadAll(log).value_or("");
  if (result->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the host compiler (", options.compiler, ") ran longer than ",
        absl::FormatDuration(options.timeout), " and was killed",
        diagnostics.empty() ? "" : ": ", Tail(diagnostics)));
  }
  if (WIFSIGNALED(result->status)) {
    return absl::InternalError(
        absl::StrCat("the host compiler (", options.compiler,
                     ") was killed by signal ", WTERMSIG(result->status),
                     diagnostics.empty() ? "" : ": ", Tail(diagnostics)));
  }
  int code = WIFEXITED(result->status) ? WEXITSTATUS(result->status) : -1;
  if (code != 0) {
    return absl::InternalError(absl::StrCat("the host compiler (",
                                            options.compiler, ") failed (exit ",
                                            code, "): ", Tail(diagnostics)));
  }
  auto bytes = ReadAll(out);
  if (!bytes.ok()) {
    return absl::InternalError(absl::StrCat(
        "the host compiler produced no shared object: ", Tail(diagnostics)));
  }
  return bytes;
}

std::string HostCompilerVersion(const std::string& compiler) {
  static std::mutex mu;
  static auto* cache = new absl::flat_hash_map<std::string, std::string>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(compiler);
  if (it != cache->end()) return it->second;
  std::string version;
  auto dir = TempDir::Create();
  if (dir.ok()) {
    std::string log = dir->path() + "/version.log";
    auto r = RunWithDeadline({compiler, "--version"}, log, absl::Seconds(10));
    if (r.ok() && !r->timed_out && WIFEXITED(r->status) &&
        WEXITSTATUS(r->status) == 0) {
      std::string text = ReadAll(log).value_or("");
      version = std::string(absl::StripAsciiWhitespace(
          std::vector<std::string>(absl::StrSplit(text, '\n'))[0]));
    }
  }
  (*cache)[compiler] = version;
  return version;
}

}  // namespace kiln::cpu
