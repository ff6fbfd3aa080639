#ifndef KILN_COMPILER_BACKENDS_CPU_CPU_TARGET_H_
#define KILN_COMPILER_BACKENDS_CPU_CPU_TARGET_H_

#include <string>

namespace kiln::cpu {

// The host CPU as a code-generation target: "cpu-x86_64-avx512",
// "cpu-x86_64-avx2", "cpu-x86_64-sse4", "cpu-aarch64". Artifacts built for one
// target run on every host that reports the same target.
std::string HostTarget();

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CPU_TARGET_H_
