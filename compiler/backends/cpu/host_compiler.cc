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

// Starts argv with stdout and stderr appended to `log`, in its own process
// group. Returns the pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::string& log) {
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
  return pid;
}

// Runs every command (at most `parallel` at a time) until all finish or
// the deadline passes, when every running one is killed with its process
// group and the rest are not started.
absl::StatusOr<std::vector<ProcessResult>> RunAllWithDeadline(
    const std::vector<std::vector<std::string>>& commands,
    const std::vector<std::string>& logs, absl::Time deadline, int parallel) {
  std::vector<ProcessResult> results(commands.size());
  std::vector<pid_t> pids(commands.size(), -1);
  std::vector<bool> done(commands.size(), false);
  size_t next = 0, finished = 0;
  int running = 0;
  absl::Duration nap = absl::Milliseconds(1);
  auto kill_all = [&] {
    for (size_t i = 0; i < commands.size(); ++i) {
      if (pids[i] > 0 && !done[i]) {
        kill(-pids[i], SIGKILL);
        kill(pids[i], SIGKILL);
        int status = 0;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
        results[i].timed_out = true;
        results[i].status = status;
        done[i] = true;
      }
    }
  };
  while (finished < commands.size()) {
    while (running < parallel && next < commands.size()) {
      auto pid = Spawn(commands[next], logs[next]);
      if (!pid.ok()) {
        kill_all();
        return pid.status();
      }
      pids[next++] = *pid;
      ++running;
    }
    bool progressed = false;
    for (size_t i = 0; i < next; ++i) {
      if (done[i]) continue;
      int status = 0;
      pid_t w = waitpid(pids[i], &status, WNOHANG);
      if (w == pids[i]) {
        results[i].status = status;
        done[i] = true;
        // Whatever the compiler left behind in its group (cc1plus, as).
        kill(-pids[i], SIGKILL);
        ++finished;
        --running;
        progressed = true;
      } else if (w < 0 && errno != EINTR) {
        kill_all();
        return absl::InternalError(
            absl::StrCat("waitpid: ", std::strerror(errno)));
      }
    }
    if (finished == commands.size()) break;
    if (absl::Now() >= deadline) {
      kill_all();
      for (size_t i = next; i < commands.size(); ++i) {
        results[i].timed_out = true;
      }
      break;
    }
    if (progressed) {
      nap = absl::Milliseconds(1);
      continue;
    }
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(nap));
    nap = std::min(nap * 2, absl::Milliseconds(20));
  }
  return results;
}

absl::StatusOr<ProcessResult> RunWithDeadline(
    const std::vector<std::string>& argv, const std::string& log,
    absl::Duration timeout) {
  auto r = RunAllWithDeadline({argv}, {log}, absl::Now() + timeout, 1);
  if (!r.ok()) return r.status();
  return (*r)[0];
}

// The error for a finished compiler run, or OK.
absl::Status CheckResult(const ProcessResult& r, const std::string& compiler,
                         const std::string& log, absl::Duration timeout) {
  std::string diagnostics = ReadAll(log).value_or("");
  if (r.timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("the host compiler (", compiler, ") ran longer than ",
                     absl::FormatDuration(timeout), " and was killed",
                     diagnostics.empty() ? "" : ": ", Tail(diagnostics)));
  }
  if (WIFSIGNALED(r.status)) {
    return absl::InternalError(
        absl::StrCat("the host compiler (", compiler, ") was killed by signal ",
                     WTERMSIG(r.status), diagnostics.empty() ? "" : ": ",
                     Tail(diagnostics)));
  }
  int code = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
  if (code != 0) {
    return absl::InternalError(absl::StrCat("the host compiler (", compiler,
                                            ") failed (exit ", code,
                                            "): ", Tail(diagnostics)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> FlagsForTarget(
    const std::string& target) {
  std::vector<std::string> flags = {
      "-std=c++17",
      "-O2",
      "-fvect-cost-model=dynamic",
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
  return CompileSharedObject(std::vector<std::string>{source}, options);
}

absl::StatusOr<std::string> CompileSharedObject(
    const std::vector<std::string>& sources,
    const HostCompileOptions& options) {
  if (sources.empty()) return absl::InvalidArgumentError("no sources");
  absl::Time deadline = absl::Now() + options.timeout;
  auto dir = TempDir::Create();
  if (!dir.ok()) return dir.status();
  std::string out = dir->path() + "/kernels.so";
  std::vector<std::string> srcs;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::string src = absl::StrCat(dir->path(), "/kernels", i, ".cc");
    std::ofstream f(src, std::ios::binary);
    f << sources[i];
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", src));
    srcs.push_back(src);
  }
  auto command = [&](const std::vector<std::string>& inputs, bool compile_only,
                     const std::string& output) {
    std::vector<std::string> argv = {options.compiler};
    for (const std::string& f : options.flags) argv.push_back(f);
    if (compile_only) argv.push_back("-c");
    for (const std::string& in : inputs) argv.push_back(in);
    if (!compile_only) {
      for (const std::string& l : options.libs) argv.push_back(l);
    }
    argv.push_back("-o");
    argv.push_back(output);
    return argv;
  };
  if (srcs.size() > 1) {
    // Translation units in parallel, then one link.
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> logs, objects;
    for (size_t i = 0; i < srcs.size(); ++i) {
      objects.push_back(absl::StrCat(dir->path(), "/kernels", i, ".o"));
      logs.push_back(absl::StrCat(dir->path(), "/compiler", i, ".log"));
      commands.push_back(command({srcs[i]}, true, objects[i]));
    }
    auto results =
        RunAllWithDeadline(commands, logs, deadline, std::max(1, options.jobs));
    if (!results.ok()) return results.status();
    for (size_t i = 0; i < results->size(); ++i) {
      auto st = CheckResult((*results)[i], options.compiler, logs[i],
                            options.timeout);
      if (!st.ok()) return st;
    }
    srcs = objects;
  }
  std::string log = dir->path() + "/link.log";
  auto result =
      RunAllWithDeadline({command(srcs, false, out)}, {log}, deadline, 1);
  if (!result.ok()) return result.status();
  auto st = CheckResult((*result)[0], options.compiler, log, options.timeout);
  if (!st.ok()) return st;
  auto bytes = ReadAll(out);
  if (!bytes.ok()) {
    return absl::InternalError(
        absl::StrCat("the host compiler produced no shared object: ",
                     Tail(ReadAll(log).value_or(""))));
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
    auto r = RunWithDeadline({compiler, "--version"}, log, absl::Seconds(2));
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
