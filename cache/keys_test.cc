#include "cache/keys.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/version.h"

namespace kiln::cache {
namespace {

using ::testing::HasSubstr;

const std::string kGraph(64, 'a');
const std::string kGuards(64, 'b');

TEST(KeysTest, Sha256MatchesKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsHexDigest(Sha256Hex("")));
  EXPECT_FALSE(IsHexDigest("ABC"));
  EXPECT_FALSE(IsHexDigest(std::string(64, 'g')));
}

TEST(KeysTest, TargetCarriesVersionAndSalt) {
  EXPECT_EQ(
      ResolveTarget("cpu-x86_64-avx2", {}, kCompilerVersion, kDefaultSalt),
      "cpu-x86_64-avx2-k1-salt0");
  EXPECT_EQ(ResolveTarget("cuda-sm_90", {{"unroll", "4"}, {"fast", "1"}}, 3, 7),
            "cuda-sm_90-fast=1-unroll=4-k3-salt7");
  EXPECT_TRUE(CheckTarget("cuda-sm_90-k3-salt7", 3, 7).ok());
  absl::Status wrong = CheckTarget("cuda-sm_90-k3-salt7", 3, 8);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("salt 8"));
  EXPECT_FALSE(CheckTarget("-k3-salt7", 3, 7).ok());
}

TEST(KeysTest, OptionSetsNeverCollide) {
  // Without escaping these two would both read "x-a=b-c=d-k1-salt0".
  std::string one = ResolveTarget("x", {{"a", "b-c=d"}}, 1, 0);
  std::string two = ResolveTarget("x", {{"a", "b"}, {"c", "d"}}, 1, 0);
  EXPECT_NE(one, two);
  EXPECT_EQ(one, "x-a=b%2Dc%3Dd-k1-salt0");
}

TEST(KeysTest, EveryComponentChangesTheArtifactKey) {
  ArtifactKeyParts base{kGraph, kGuards, "cpu-k1-salt0", 1, 0};
  std::string key = ArtifactKey(base);
  EXPECT_TRUE(IsHexDigest(key));
  EXPECT_EQ(key, ArtifactKey(base));

  std::set<std::string> keys = {key};
  std::string other_graph(64, 'c');
  ArtifactKeyParts p = base;
  p.graph_digest = other_graph;
  keys.insert(ArtifactKey(p));
  p = base;
  p.guards_digest = other_graph;
  keys.insert(ArtifactKey(p));
  p = base;
  p.target = "cuda-k1-salt0";
  keys.insert(ArtifactKey(p));
  p = base;
  p.compiler_version = 2;
  keys.insert(ArtifactKey(p));
  p = base;
  p.salt = 1;
  keys.insert(ArtifactKey(p));
  // Moving bytes between components changes the key (length prefixes).
  p = base;
  std::string g = kGraph + "b", u = std::string(63, 'b');
  p.graph_digest = g;
  p.guards_digest = u;
  keys.insert(ArtifactKey(p));
  EXPECT_EQ(keys.size(), 7u);
}

TEST(KeysTest, RecordKeys) {
  EXPECT_EQ(EntryListRecordKey(kGraph, "cpu-k1-salt0"),
            "entry/" + kGraph + "/cpu-k1-salt0");
  EXPECT_EQ(HintsRecordKey(kGraph), "hints/" + kGraph);
}

}  // namespace
}  // namespace kiln::cache
