// The deterministic workload shared by the cache writer process and the
// durability test: entry i of the stream is fully determined by i, so the
// test can check what the writer acknowledged without trusting its output.
#ifndef KILN_TESTS_CACHE_WORKLOAD_H_
#define KILN_TESTS_CACHE_WORKLOAD_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "cache/keys.h"
#include "kiln/version.h"

namespace kiln::tests {

// Three entries (guard sets) per graph, so entry lists get rewritten.
inline int GraphOf(int64_t i) { return static_cast<int>(i / 3); }

inline std::string GraphDigestOf(int64_t i) {
  return cache::Sha256Hex(absl::StrCat("durability-graph-", GraphOf(i)));
}

inline std::string WorkloadTarget() {
  return cache::ResolveTarget("cpu-x86_64-test", {}, kCompilerVersion,
                              kDefaultSalt);
}

// A static [3 + i % 3, 4 + i % 5] tensor.
inline v1::GuardContext GuardsOf(int64_t i) {
  using cache::testing::Ctx;
  using cache::testing::T;
  return Ctx()
      .In(T().Sizes({static_cast<int>(3 + i % 3), static_cast<int>(4 + i % 5)}))
      .Build();
}

inline v1::CallSignature CallOf(int64_t i) {
  using cache::testing::Sig;
  using cache::testing::T;
  return Sig()
      .In(T().Sizes({static_cast<int>(3 + i % 3), static_cast<int>(4 + i % 5)}))
      .Build();
}

// 1 to 40 KB of incompressible bytes (so the artifact family holds them
// verbatim), half of them a repeated pattern (so some are zstd-compressed).
inline std::string PayloadOf(int64_t i) {
  size_t size = 1000 + static_cast<size_t>((i * 7919) % 40000);
  std::mt19937_64 rng(static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL + 1);
  std::string out(size, '\0');
  for (size_t k = 0; k < size; ++k) {
    out[k] = (i % 2 == 0 || k < size / 2) ? static_cast<char>(rng())
                                          : static_cast<char>('a' + k % 7);
  }
  return out;
}

}  // namespace kiln::tests

#endif  // KILN_TESTS_CACHE_WORKLOAD_H_
