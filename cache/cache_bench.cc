// Artifact cache benchmarks (docs/cache.md, "Artifact cache"):
//   * Lookup hit latency in process, for a typical ten-input call
//     (cache/guards/workload.h) against a graph with N entries, the serving
//     entry newest (index 0) or oldest (index N - 1, after N - 1 entries
//     that fail only on their last input);
//   * Lookup miss, GetOrCompile hit (payload from the in-memory LRU);
//   * Store put / get latency by payload size (incompressible bytes), put
//     with and without fsync, get from SST files after a flush.
//
//   bazel run -c opt //cache:cache_bench
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "cache/artifact_cache.h"
#include "cache/guards/test_util.h"
#include "cache/guards/workload.h"
#include "cache/keys.h"
#include "cache/store.h"
#include "spdlog/spdlog.h"

namespace kiln::cache {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() /
                 absl::StrCat("kiln_cache_bench_", ::getpid(), "_", name);
  fs::remove_all(dir);
  return dir.string();
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = char(v >> (8 * k));
  }
  return out;
}

const std::string kGraph = Sha256Hex("bench-graph");
const std::string kTarget =
    ResolveTarget("cuda-sm_90", {}, kCompilerVersion, kDefaultSalt);

// A cache holding `entries` entries for kGraph; the typical call hits the
// one at `hit_index` (0 = newest) and every newer one fails on its last
// input (the constant eps).
struct LookupFixture {
  std::string dir;
  std::unique_ptr<ArtifactCache> cache;
  v1::CallSignature call = testing::TypicalCall();

  LookupFixture(int entries, int hit_index) : dir(TempDir("lookup")) {
    ArtifactCacheOptions options;
    options.store.data_dir = dir;
    options.store.sync_writes = false;
    options.recompile_limit = entries;
    options.usage_flush_interval = absl::ZeroDuration();
    cache = std::move(*ArtifactCache::Create(options));
    // Oldest first: the serving entry goes in at position hit_index.
    for (int k = entries - 1; k >= 0; --k) {
      v1::GuardContext ctx = testing::TypicalContext();
      if (k != hit_index) {
        ctx.mutable_inputs(9)->mutable_constant()->set_float_value(1e-3 *
                                                                   (k + 1));
      }
      auto guards = *GuardSet::Create(ctx);
      auto r = cache->GetOrCompile(
          {kGraph, kTarget, guards},
          [](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
            CompiledArtifact a;
            a.payload = RandomBytes(4096, 1);
            a.output_spec.add_outputs()->set_kind(v1::OutputInfo::TENSOR);
            return a;
          });
      if (!r.ok()) std::abort();
    }
  }
  ~LookupFixture() {
    cache.reset();
    fs::remove_all(dir);
  }
};

void BM_LookupHit(benchmark::State& state) {
  int entries = static_cast<int>(state.range(0));
  int hit_index = state.range(1) == 0 ? 0 : entries - 1;
  LookupFixture f(entries, hit_index);
  for (auto _ : state) {
    absl::StatusOr<v1::LookupResponse> r =
        f.cache->Lookup(kGraph, kTarget, f.call);
    if (!r.ok() || !r->has_hit() || r->hit().entry_index() != hit_index) {
      state.SkipWithError("expected a hit");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(absl::StrCat(entries, " entries, hit at ", hit_index));
}
BENCHMARK(BM_LookupHit)
    ->ArgNames({"entries", "oldest"})
    ->Args({1, 0})
    ->Args({8, 0})
    ->Args({8, 1});

// The part of every Lookup that checks the call is well formed.
void BM_ValidateSignature(benchmark::State& state) {
  v1::CallSignature call = testing::TypicalCall();
  for (auto _ : state) {
    absl::Status s = ValidateSignature(call);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ValidateSignature);

void BM_LookupMiss(benchmark::State& state) {
  int entries = static_cast<int>(state.range(0));
  LookupFixture f(entries, -1);  // no entry serves the call
  for (auto _ : state) {
    auto r = f.cache->Lookup(kGraph, kTarget, f.call);
    if (!r.ok() || !r->has_miss()) {
      state.SkipWithError("expected a miss");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_LookupMiss)->ArgName("entries")->Arg(8);

void BM_GetOrCompileHit(benchmark::State& state) {
  LookupFixture f(1, 0);
  auto guards = *GuardSet::Create(testing::TypicalContext());
  CompileFn never =
      [](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
    return absl::InternalError("unexpected compile");
  };
  for (auto _ : state) {
    auto r = f.cache->GetOrCompile({kGraph, kTarget, guards}, never);
    if (!r.ok() || !r->cache_hit) {
      state.SkipWithError("expected a hit");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GetOrCompileHit);

struct StoreFixture {
  std::string dir;
  std::unique_ptr<Store> store;
  explicit StoreFixture(bool sync) : dir(TempDir("store")) {
    store = std::move(*Store::Open({.data_dir = dir, .sync_writes = sync}));
  }
  ~StoreFixture() {
    store.reset();
    fs::remove_all(dir);
  }
};

void BM_StorePut(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  StoreFixture f(/*sync=*/state.range(1) != 0);
  std::string payload = RandomBytes(size, 7);
  int64_t i = 0;
  for (auto _ : state) {
    absl::Status s = f.store->PutArtifact(absl::StrCat("k", i++ % 64), payload);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_StorePut)
    ->ArgNames({"bytes", "fsync"})
    ->ArgsProduct({{1 << 10, 64 << 10, 1 << 20, 16 << 20}, {0, 1}})
    ->UseRealTime();

void BM_StoreGet(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  StoreFixture f(/*sync=*/false);
  constexpr int kKeys = 16;
  for (int k = 0; k < kKeys; ++k) {
    if (!f.store->PutArtifact(absl::StrCat("k", k), RandomBytes(size, k))
             .ok()) {
      std::abort();
    }
  }
  if (!f.store->Flush().ok()) std::abort();  // read from SST files
  int64_t i = 0;
  for (auto _ : state) {
    auto r = f.store->GetArtifact(absl::StrCat("k", i++ % kKeys));
    if (!r.ok() || !r->has_value()) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_StoreGet)
    ->ArgName("bytes")
    ->Arg(1 << 10)
    ->Arg(64 << 10)
    ->Arg(1 << 20)
    ->Arg(16 << 20)
    ->UseRealTime();

}  // namespace
}  // namespace kiln::cache

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
