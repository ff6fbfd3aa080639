// Guard evaluation per entry for a typical 10-input call (workload.h):
//   bazel run -c opt //cache/guards:guard_bench
// Reports ns per evaluation and heap allocations per evaluation.
#include <atomic>
#include <cstdlib>
#include <new>

#include "benchmark/benchmark.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "cache/guards/workload.h"

namespace {
std::atomic<int64_t> allocations{0};
}  // namespace

// Counts heap allocations so the benchmark can show the pass path makes none.
void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The replaced operator new allocates with malloc, so free is the match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace kiln::cache {
namespace {

void Run(benchmark::State& state, const v1::CallSignature& call, bool explain,
         bool expect_hit) {
  auto g = testing::MustCreate(testing::TypicalContext());
  if (g->Check(call) != expect_hit) {
    state.SkipWithError("unexpected verdict");
    return;
  }
  const int64_t before = allocations.load();
  for (auto _ : state) {
    if (explain) {
      benchmark::DoNotOptimize(g->Explain(call));
    } else {
      benchmark::DoNotOptimize(g->Check(call));
    }
  }
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(allocations.load() - before),
                         benchmark::Counter::kAvgIterations);
  state.counters["inputs"] = call.inputs_size();
}

// Check on a hit: every guard evaluated (the Lookup hot path).
void BM_CheckHit(benchmark::State& state) {
  Run(state, testing::TypicalCall(), /*explain=*/false, /*expect_hit=*/true);
}
BENCHMARK(BM_CheckHit);

// Check on a miss found at the last tensor (nearly every guard evaluated).
void BM_CheckMissLast(benchmark::State& state) {
  Run(state, testing::TypicalCall(256, /*last_batch=*/9), /*explain=*/false,
      /*expect_hit=*/false);
}
BENCHMARK(BM_CheckMissLast);

// Check on a miss found at the first guard (the global state).
void BM_CheckMissFirst(benchmark::State& state) {
  v1::CallSignature call = testing::TypicalCall();
  call.mutable_global_state()->set_grad_mode(false);
  Run(state, call, /*explain=*/false, /*expect_hit=*/false);
}
BENCHMARK(BM_CheckMissFirst);

// Explain of the miss at the last tensor: builds the GuardFailure.
void BM_ExplainMissLast(benchmark::State& state) {
  Run(state, testing::TypicalCall(256, /*last_batch=*/9), /*explain=*/true,
      /*expect_hit=*/false);
}
BENCHMARK(BM_ExplainMissLast);

// Explain of a hit (the same walk as Check, returning nullopt).
void BM_ExplainHit(benchmark::State& state) {
  Run(state, testing::TypicalCall(), /*explain=*/true, /*expect_hit=*/true);
}
BENCHMARK(BM_ExplainHit);

// Building the GuardSet (validation, canonical form, digest, plan): once
// per stored entry, at Compile or when the store is opened.
void BM_Create(benchmark::State& state) {
  v1::GuardContext context = testing::TypicalContext();
  for (auto _ : state) {
    benchmark::DoNotOptimize(GuardSet::Create(context));
  }
}
BENCHMARK(BM_Create);

}  // namespace
}  // namespace kiln::cache

BENCHMARK_MAIN();
