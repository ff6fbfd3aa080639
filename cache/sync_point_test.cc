#include "cache/sync_point.h"

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

TEST(SyncPointTest, InertUntilEnabled) {
  int calls = 0;
  SyncPoint::Get().SetCallBack("Test:Point", [&](void*) { ++calls; });
  KILN_SYNC_POINT("Test:Point");
  EXPECT_EQ(calls, 0);
  {
    SyncPointGuard guard;
    KILN_SYNC_POINT("Test:Point");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(SyncPoint::Get().PassCount("Test:Point"), 1);
  }
  KILN_SYNC_POINT("Test:Point");
  EXPECT_EQ(calls, 1);  // the guard cleared the callback
}

TEST(SyncPointTest, DependencyOrdersThreads) {
  SyncPointGuard guard;
  // "Test:B" may only pass after "Test:A": whatever the scheduler does, the
  // log reads A then B.
  SyncPoint::Get().LoadDependency({{"Test:A", "Test:B"}});
  std::mutex mu;
  std::vector<std::string> log;
  std::thread second([&] {
    KILN_SYNC_POINT("Test:B");
    std::lock_guard<std::mutex> lock(mu);
    log.push_back("B");
  });
  std::thread first([&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      log.push_back("A");
    }
    KILN_SYNC_POINT("Test:A");
  });
  first.join();
  second.join();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "A");
  EXPECT_EQ(log[1], "B");
}

TEST(SyncPointTest, CallbackReceivesArgument) {
  SyncPointGuard guard;
  int seen = 0;
  SyncPoint::Get().SetCallBack(
      "Test:Arg", [&](void* arg) { seen = *static_cast<int*>(arg); });
  int value = 42;
  KILN_SYNC_POINT_CALLBACK("Test:Arg", &value);
  EXPECT_EQ(seen, 42);
}

}  // namespace
}  // namespace kiln::cache
