#include "cache/entry_filter.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using ::testing::HasSubstr;

const std::string kDigest(64, 'a');

v1::ArtifactInfo Info(int64_t last_used_ms, int64_t size) {
  v1::ArtifactInfo info;
  info.set_artifact_key(std::string(64, 'b'));
  info.set_graph_digest(kDigest);
  info.set_target("cpu-x86_64-avx2-k1-salt0");
  info.set_size_bytes(size);
  info.set_created_unix_ms(last_used_ms);
  info.set_last_used_unix_ms(last_used_ms);
  info.set_producing_client("job-1");
  return info;
}

TEST(EntryFilterTest, EmptyFilterMatchesEverything) {
  v1::EntryFilter f;
  EXPECT_TRUE(ValidateEntryFilter(f, "filter").ok());
  EXPECT_TRUE(EntryFilterMatches(f, Info(0, 0), 1'000'000));
}

TEST(EntryFilterTest, EveryFieldMustMatch) {
  const int64_t now = 100'000;
  v1::ArtifactInfo info = Info(now - 30'000, 500);  // 30 s old, 500 bytes
  v1::EntryFilter f;
  f.set_graph_digest(kDigest);
  f.set_target("cpu-x86_64-avx2-k1-salt0");
  f.set_producing_client("job-1");
  f.set_min_age_s(30);
  f.set_max_age_s(30);
  f.set_min_bytes(500);
  f.set_max_bytes(500);
  EXPECT_TRUE(EntryFilterMatches(f, info, now));

  v1::EntryFilter g = f;
  g.set_graph_digest(std::string(64, 'c'));
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_target("cuda-sm_90-k1-salt0");
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_producing_client("job-2");
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_min_age_s(31);
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_max_age_s(29);
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_min_bytes(501);
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
  g = f;
  g.set_max_bytes(499);
  EXPECT_FALSE(EntryFilterMatches(g, info, now));
}

TEST(EntryFilterTest, InvalidFiltersNameTheField) {
  auto error = [](const v1::EntryFilter& f) {
    return std::string(ValidateEntryFilter(f, "filter").message());
  };
  v1::EntryFilter f;
  f.set_graph_digest("abc");
  EXPECT_THAT(error(f), HasSubstr("filter.graph_digest: expected 64"));
  f.Clear();
  f.set_min_age_s(-1);
  EXPECT_THAT(error(f), HasSubstr("filter.min_age_s: must not be negative"));
  f.Clear();
  f.set_max_bytes(-5);
  EXPECT_THAT(error(f), HasSubstr("filter.max_bytes: must not be negative"));
  f.Clear();
  f.set_min_age_s(10);
  f.set_max_age_s(5);
  EXPECT_THAT(error(f), HasSubstr("filter.min_age_s: must not exceed"));
  f.Clear();
  f.set_min_bytes(10);
  f.set_max_bytes(5);
  EXPECT_THAT(error(f), HasSubstr("filter.min_bytes: must not exceed"));
  f.Clear();
  f.set_target(std::string(2000, 'x'));
  EXPECT_THAT(error(f), HasSubstr("filter.target: longer than"));
  f.Clear();
  f.set_max_age_s(int64_t{1} << 50);
  EXPECT_THAT(error(f), HasSubstr("filter.max_age_s: too large"));
  EXPECT_EQ(ValidateEntryFilter(f, "filter").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::cache
