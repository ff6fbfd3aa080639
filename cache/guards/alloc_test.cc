// Check allocates nothing on the pass path (and on the fail path): the heap
// is counted through a replaced global operator new.
#include <atomic>
#include <cstdlib>
#include <new>

#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "cache/guards/workload.h"
#include "gtest/gtest.h"

namespace {
std::atomic<int64_t> allocations{0};
}  // namespace

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

int64_t AllocationsOf(const std::function<void()>& fn) {
  const int64_t before = allocations.load();
  fn();
  return allocations.load() - before;
}

TEST(Allocation, CheckAllocatesNothing) {
  auto g = testing::MustCreate(testing::TypicalContext());
  const v1::CallSignature hit = testing::TypicalCall();
  const v1::CallSignature other_seq = testing::TypicalCall(/*seq=*/4000);
  const v1::CallSignature miss = testing::TypicalCall(256, /*last_batch=*/9);
  bool results[3] = {};
  EXPECT_EQ(AllocationsOf([&] {
              results[0] = g->Check(hit);
              results[1] = g->Check(other_seq);
              results[2] = g->Check(miss);
            }),
            0);
  EXPECT_TRUE(results[0]);
  EXPECT_TRUE(results[1]);
  EXPECT_FALSE(results[2]);
  // Explain of a hit walks the same path without building anything.
  EXPECT_EQ(AllocationsOf([&] { results[0] = !g->Explain(hit).has_value(); }),
            0);
  EXPECT_TRUE(results[0]);
  // The counter works: explaining a miss allocates its sentence.
  EXPECT_GT(AllocationsOf([&] { results[2] = g->Explain(miss).has_value(); }),
            0);
  EXPECT_TRUE(results[2]);
}

TEST(Allocation, AliasingAndSubclassMetadataAllocateNothing) {
  auto meta = [](int64_t n) {
    return testing::M::Dict(
        {{testing::M::Str("n"),
          n < 0 ? testing::M::SymInt() : testing::M::Int(n)},
         {testing::M::Str("shape"),
          testing::M::Tuple({testing::M::Int(2), testing::M::Int(3)})}});
  };
  auto g = testing::MustCreate(testing::Ctx()
                                   .In(testing::T().Sizes({"s0"}).Alias(0))
                                   .In(testing::T().Sizes({"s0"}).Alias(0))
                                   .In(testing::T("test.Sub")
                                           .Sizes({4})
                                           .Inner("x", testing::T().Sizes({4}))
                                           .Metadata(meta(-1)))
                                   .Build());
  const v1::CallSignature call =
      testing::Sig()
          .In(testing::T().Sizes({5}).Alias(3))
          .In(testing::T().Sizes({5}).Alias(3))
          .In(testing::T("test.Sub")
                  .Sizes({4})
                  .Inner("x", testing::T().Sizes({4}))
                  .Metadata(meta(7)))
          .Build();
  bool hit = false;
  EXPECT_EQ(AllocationsOf([&] { hit = g->Check(call); }), 0);
  EXPECT_TRUE(hit);
}

}  // namespace
}  // namespace kiln::cache
