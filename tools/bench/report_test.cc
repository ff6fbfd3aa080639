#include "tools/bench/report.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::bench {
namespace {

using ::testing::HasSubstr;

TEST(LatencySampleTest, NearestRankPercentiles) {
  std::vector<int64_t> nanos;
  for (int i = 100; i >= 1; --i) nanos.push_back(i);
  LatencySample sample(nanos);
  EXPECT_EQ(sample.count(), 100);
  EXPECT_EQ(sample.Percentile(50), 50);
  EXPECT_EQ(sample.Percentile(99), 99);
  EXPECT_EQ(sample.Percentile(100), 100);
  EXPECT_EQ(sample.Percentile(0), 1);
  EXPECT_EQ(LatencySample({7}).Percentile(99), 7);
  EXPECT_EQ(LatencySample({}).Percentile(50), 0);
}

TEST(ReportTest, FormatsBytesAndLatencies) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1024), "1 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(83046), "81.1 KiB");
  EXPECT_EQ(FormatBytes(int64_t{16} << 20), "16 MiB");
  EXPECT_EQ(FormatLatency(0), "0");
  EXPECT_EQ(FormatLatency(87'400), "87.4 µs");
  EXPECT_EQ(FormatLatency(1'254'000), "1.25 ms");
  EXPECT_EQ(FormatLatency(512'000'000), "512 ms");
  EXPECT_EQ(FormatLatency(1'020'000'000), "1.02 s");
}

LoadResult Result(std::vector<int64_t> nanos, absl::Duration elapsed) {
  LoadResult result;
  result.latency = LatencySample(std::move(nanos));
  result.elapsed = elapsed;
  return result;
}

TEST(ReportTest, TableHasRatiosAgainstRedisOfTheSameClientCount) {
  std::vector<Row> rows;
  rows.push_back({"Redis GET", "1 KiB", 1, Baseline::kIsRedis,
                  Result({100'000, 100'000}, absl::Seconds(1))});
  rows.push_back(
      {"Redis GET", "1 KiB", 4, Baseline::kIsRedis,
       Result({200'000, 200'000, 200'000, 200'000}, absl::Seconds(1))});
  rows.push_back({"Lookup", "digest", 1, Baseline::kRedisGet,
                  Result({300'000}, absl::Seconds(1))});
  rows.push_back({"Lookup", "digest", 4, Baseline::kRedisGet,
                  Result({100'000, 100'000}, absl::Seconds(1))});
  LoadResult failed = Result({}, absl::Seconds(1));
  failed.errors = 3;
  failed.first_error = "NOT_FOUND: gone";
  rows.push_back({"Execute", "1 KiB", 1, Baseline::kNone, failed});

  std::string table = FormatTable(rows);
  EXPECT_THAT(table,
              HasSubstr("| Redis GET | 1 KiB | 1 | 2 | 2.00 | 100 µs | 100 µs "
                        "|  | 1× | 1× |"));
  EXPECT_THAT(table, HasSubstr("| Lookup | digest | 1 | 1 | 1.00 | 300 µs | "
                               "300 µs |  | 3.00× | 0.50× |"));
  EXPECT_THAT(table, HasSubstr("| Lookup | digest | 4 | 2 | 2.00 | 100 µs | "
                               "100 µs |  | 0.50× | 0.50× |"));
  EXPECT_THAT(table, HasSubstr("| Execute | 1 KiB | 1 | 0 | 0.00 | 0 | 0 |"));
  EXPECT_THAT(table, HasSubstr("Execute (1 KiB, 1 clients): 3 errors; the "
                               "first: NOT_FOUND: gone"));
}

TEST(ReportTest, StageTableHasOneColumnPerStage) {
  std::vector<Row> rows;
  rows.push_back({"Lookup", "digest", 1, Baseline::kNone,
                  Result({1000}, absl::Seconds(1))});
  EXPECT_EQ(FormatStageTable(rows), "");
  LoadResult execute = Result({1000}, absl::Seconds(1));
  execute.server_stages = {{"input copy", LatencySample({5'000, 7'000, 9'000})},
                           {"run", LatencySample({2'000'000})}};
  rows.push_back({"Execute", "1 KiB", 4, Baseline::kNone, execute});
  EXPECT_EQ(FormatStageTable(rows),
            "| workload | payload | clients | input copy | run |\n"
            "|---|---|--:|--:|--:|\n"
            "| Execute | 1 KiB | 4 | 7.00 µs | 2.00 ms |\n");
}

}  // namespace
}  // namespace kiln::bench
