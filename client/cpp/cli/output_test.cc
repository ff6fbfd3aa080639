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

}  // namespace
}  // namespace kiln::cli
