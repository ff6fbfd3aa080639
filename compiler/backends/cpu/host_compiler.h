// Runs the host C++ compiler on generated source, safely: in a child
// process (posix_spawn, its own process group) with a wall-clock deadline,
// so a compiler that fails, crashes or hangs becomes an error value and
// never takes the calling process down.
//
// Thread-safe: every call works in its own temporary directory.
#ifndef KILN_COMPILER_BACKENDS_CPU_HOST_COMPILER_H_
#define KILN_COMPILER_BACKENDS_CPU_HOST_COMPILER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::cpu {

struct HostCompileOptions {
  std::string compiler = "/usr/bin/g++";
  // Flags besides the input and output (see FlagsForTarget).
  std::vector<std::string> flags;
  // Libraries, after the source on the command line ("-lmvec").
  std::vector<std::string> libs;
  // Wall-clock limit of the whole build (all translation units and the
  // link).
  absl::Duration timeout = absl::Seconds(120);
  // Translation units compiled at once.
  int jobs = 1;
};

// The host compiler's flags for a code-generation target: C++17 in ISO
// mode (no FMA contraction, so generated kernels round exactly as the
// interpreter), -O2 with the vectorizer's dynamic cost model (as fast as
// -O3 on these kernels at a quarter of the compile time), the target's ISA
// (cpu-x86_64-avx2: -mavx2 -mfma, cpu-x86_64-avx512: -mavx512f -mavx512bw ...,
// never -march=native), OpenMP, position-independent code for a shared object.
// INVALID_ARGUMENT for an unknown target.
absl::StatusOr<std::vector<std::string>> FlagsForTarget(
    const std::string& target);

// Compiles `source` (one C++ translation unit) into a shared object and
// returns its bytes. Errors: INTERNAL with the compiler's diagnostics when
// it exits non-zero or is killed by a signal; DEADLINE_EXCEEDED when it
// runs past `timeout` (it is killed with its whole process group);
// UNAVAILABLE when the compiler cannot be started.
absl::StatusOr<std::string> CompileSharedObject(
    const std::string& source, const HostCompileOptions& options);
// Several translation units, compiled `options.jobs` at a time (each its
// own compiler process) and linked into one shared object.
absl::StatusOr<std::string> CompileSharedObject(
    const std::vector<std::string>& sources, const HostCompileOptions& options);

// `compiler --version`'s first line ("g++ (Debian 12.2.0-14) 12.2.0"),
// or an empty string when it cannot be run. Cached per path.
std::string HostCompilerVersion(const std::string& compiler);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_HOST_COMPILER_H_
