#include "client/cpp/cli/output.h"

#include <sstream>

#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

TEST(TableTest, AlignsColumnsAndTrimsTrailingSpace) {
  Table t;
  t.AddRow({"a", "1"});
  t.AddRow({"longer", "2"});
  t.AddRow({"", "3"});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(), "a       1\nlonger  2\n        3\n");
}

TEST(HumanBytesTest, PicksUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(int64_t{64} << 20), "64 MiB");
  EXPECT_EQ(HumanBytes(int64_t{16} << 30), "16 GiB");
}

TEST(HumanTimeTest, SpansAndAges) {
  EXPECT_EQ(HumanMicros(850), "850 us");
  EXPECT_EQ(HumanMicros(12500), "12.5 ms");
  EXPECT_EQ(HumanMicros(3200000), "3.2 s");
  EXPECT_EQ(HumanMicros(245 * 1000000LL), "4m05s");
  EXPECT_EQ(HumanMicros((2 * 3600 + 600) * 1000000LL), "2h10m");
  EXPECT_EQ(HumanAge(1000, 1500), "just now");
  EXPECT_EQ(HumanAge(0, 42000), "42s ago");
  EXPECT_EQ(HumanAge(0, 5 * 60000), "5m ago");
  EXPECT_EQ(HumanAge(0, 3 * 3600000LL), "3h ago");
  EXPECT_EQ(HumanAge(0, 12 * 86400000LL), "12d ago");
  EXPECT_EQ(UtcTime(0), "1970-01-01 00:00:00 UTC");
}

TEST(ParseTest, Durations) {
  EXPECT_EQ(ParseDurationSeconds("90").value(), 90);
  EXPECT_EQ(ParseDurationSeconds("90s").value(), 90);
  EXPECT_EQ(ParseDurationSeconds("15m").value(), 900);
  EXPECT_EQ(ParseDurationSeconds("2h").value(), 7200);
  EXPECT_EQ(ParseDurationSeconds("7D").value(), 7 * 86400);
  EXPECT_EQ(ParseDurationSeconds("1w").value(), 7 * 86400);
  EXPECT_FALSE(ParseDurationSeconds("").ok());
  EXPECT_FALSE(ParseDurationSeconds("-5").ok());
  EXPECT_FALSE(ParseDurationSeconds("5y").ok());
  EXPECT_FALSE(ParseDurationSeconds("abc").ok());
}

TEST(ParseTest, Sizes) {
  EXPECT_EQ(ParseBytes("512").value(), 512);
  EXPECT_EQ(ParseBytes("512B").value(), 512);
  EXPECT_EQ(ParseBytes("64K").value(), 64 * 1024);
  EXPECT_EQ(ParseBytes("64KiB").value(), 64 * 1024);
  EXPECT_EQ(ParseBytes("64kb").value(), 64 * 1024);
  EXPECT_EQ(ParseBytes("1.5MiB").value(), 3 * 512 * 1024);
  EXPECT_EQ(ParseBytes("2G").value(), int64_t{2} << 30);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("-1").ok());
  EXPECT_FALSE(ParseBytes("12X").ok());
  EXPECT_FALSE(ParseBytes("K").ok());
}

}  // namespace
}  // namespace kiln::cli
