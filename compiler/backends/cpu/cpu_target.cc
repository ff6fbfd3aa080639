#include "compiler/backends/cpu/cpu_target.h"

namespace kiln::cpu {

std::string HostTarget() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    return "cpu-x86_64-avx512";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return "cpu-x86_64-avx2";
  }
  if (__builtin_cpu_supports("sse4.2")) return "cpu-x86_64-sse4";
  return "cpu-x86_64";
#elif defined(__aarch64__)
  return "cpu-aarch64";
#else
  return "cpu-unknown";
#endif
}

}  // namespace kiln::cpu
