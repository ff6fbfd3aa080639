// A process that commits cache entries in a loop and prints each one it got
// acknowledged, for the SIGKILL durability test:
//
//   cache_writer --data-dir=DIR --first=N [--count=M]
//
// Entry i (from N on; forever unless --count) is the workload's entry i,
// stored through ArtifactCache::GetOrCompile with fsynced writes. After each
// acknowledgement it prints "ACK <i> <artifact_key> <sha256 of payload>" and
// flushes stdout, so every line the test reads was durable before it was
// written. Exit code 1 on any error (printed to stderr).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "cache/artifact_cache.h"
#include "cache/keys.h"
#include "spdlog/spdlog.h"
#include "tests/cache/workload.h"

int main(int argc, char** argv) {
  std::string data_dir;
  int64_t first = 0, count = -1;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    bool ok = true;
    if (absl::StartsWith(arg, "--data-dir=")) {
      data_dir = arg.substr(11);
    } else if (absl::StartsWith(arg, "--first=")) {
      ok = absl::SimpleAtoi(arg.substr(8), &first);
    } else if (absl::StartsWith(arg, "--count=")) {
      ok = absl::SimpleAtoi(arg.substr(8), &count);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "cache_writer: bad argument '%s'\n", arg.c_str());
      return 2;
    }
  }
  if (data_dir.empty()) {
    std::fprintf(stderr, "cache_writer: --data-dir is required\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  kiln::cache::ArtifactCacheOptions options;
  options.store.data_dir = data_dir;
  options.store.sync_writes = true;
  options.compile_threads = 1;
  absl::StatusOr<std::unique_ptr<kiln::cache::ArtifactCache>> cache =
      kiln::cache::ArtifactCache::Create(options);
  if (!cache.ok()) {
    std::fprintf(stderr, "cache_writer: %s\n",
                 cache.status().ToString().c_str());
    return 1;
  }
  const std::string target = kiln::tests::WorkloadTarget();
  for (int64_t i = first; count < 0 || i < first + count; ++i) {
    absl::StatusOr<std::shared_ptr<const kiln::cache::GuardSet>> guards =
        kiln::cache::GuardSet::Create(kiln::tests::GuardsOf(i));
    if (!guards.ok()) {
      std::fprintf(stderr, "cache_writer: %s\n",
                   guards.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<kiln::cache::GetOrCompileResult> r = (*cache)->GetOrCompile(
        {kiln::tests::GraphDigestOf(i), target, *guards},
        [i](const kiln::cache::CompileContext&)
            -> absl::StatusOr<kiln::cache::CompiledArtifact> {
          kiln::cache::CompiledArtifact a;
          a.payload = kiln::tests::PayloadOf(i);
          a.output_spec.add_outputs()->set_kind(kiln::v1::OutputInfo::TENSOR);
          return a;
        },
        {.client_id = "cache_writer"});
    if (!r.ok()) {
      std::fprintf(stderr, "cache_writer: entry %lld: %s\n",
                   static_cast<long long>(i), r.status().ToString().c_str());
      return 1;
    }
    std::printf("ACK %lld %s %s\n", static_cast<long long>(i),
                r->artifact.artifact_key().c_str(),
                kiln::cache::Sha256Hex(r->artifact.payload()).c_str());
    std::fflush(stdout);
  }
  absl::Status closed = (*cache)->Close();
  if (!closed.ok()) {
    std::fprintf(stderr, "cache_writer: %s\n", closed.ToString().c_str());
    return 1;
  }
  return 0;
}
