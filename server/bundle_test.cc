#include "server/bundle.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::bundle {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

BundleEntry Entry(int i, size_t payload_bytes) {
  BundleEntry e;
  e.mutable_info()->set_artifact_key(std::string(63, 'a') +
                                     static_cast<char>('0' + i));
  e.mutable_info()->set_target("interpreter-k1-salt0");
  e.set_payload(std::string(payload_bytes, static_cast<char>('p' + i)));
  return e;
}

// A bundle of `n` entries, and the byte offset where each record begins
// (header first, then the entries, then the trailer).
std::string MakeBundle(int n, std::vector<size_t>* offsets = nullptr) {
  std::string out;
  BundleWriter writer([&out](std::string_view bytes) {
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  });
  BundleHeader header;
  header.set_server_version("test");
  header.set_compiler_version(1);
  EXPECT_TRUE(writer.WriteHeader(header).ok());
  if (offsets) offsets->push_back(kPreambleBytes);
  for (int i = 0; i < n; ++i) {
    if (offsets) offsets->push_back(out.size());
    EXPECT_TRUE(writer.WriteEntry(Entry(i, 100 + 1000 * i)).ok());
  }
  if (offsets) offsets->push_back(out.size());
  EXPECT_TRUE(writer.Finish().ok());
  EXPECT_EQ(writer.bytes_written(), static_cast<int64_t>(out.size()));
  EXPECT_EQ(writer.entries(), n);
  return out;
}

// Feeds `bundle` in pieces of `piece` bytes; returns the entries read and
// the final status.
absl::Status ReadAll(const std::string& bundle, size_t piece,
                     std::vector<ReadEntry>* entries) {
  BundleReader reader;
  for (size_t at = 0; at < bundle.size(); at += piece) {
    absl::Status s = reader.Feed(std::string_view(bundle).substr(at, piece));
    ReadEntry e;
    while (reader.NextEntry(&e)) entries->push_back(e);
    if (!s.ok()) return s;
  }
  return reader.Finish();
}

TEST(BundleTest, RoundTripsInPiecesOfAnySize) {
  std::vector<size_t> offsets;
  const std::string bundle = MakeBundle(3, &offsets);
  EXPECT_EQ(bundle.substr(0, 8), "KILNBNDL");
  for (size_t piece :
       {size_t{1}, size_t{7}, size_t{41}, size_t{4096}, bundle.size()}) {
    std::vector<ReadEntry> entries;
    absl::Status s = ReadAll(bundle, piece, &entries);
    ASSERT_TRUE(s.ok()) << piece << ": " << s;
    ASSERT_EQ(entries.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(entries[i].index, i + 1);
      EXPECT_EQ(entries[i].offset, offsets[i + 1]);
      EXPECT_EQ(entries[i].entry.payload(), Entry(i, 100 + 1000 * i).payload());
      EXPECT_EQ(entries[i].entry.info().artifact_key(),
                Entry(i, 0).info().artifact_key());
    }
  }
  BundleReader reader;
  ASSERT_TRUE(reader.Feed(bundle).ok());
  EXPECT_TRUE(reader.has_header());
  EXPECT_EQ(reader.header().server_version(), "test");
  EXPECT_TRUE(reader.finished());
}

TEST(BundleTest, AnEmptyExportIsAValidBundle) {
  std::vector<ReadEntry> entries;
  EXPECT_TRUE(ReadAll(MakeBundle(0), 5, &entries).ok());
  EXPECT_TRUE(entries.empty());
}

TEST(BundleTest, EveryFlippedByteIsCaughtAndNamesItsRecord) {
  std::vector<size_t> offsets;
  const std::string bundle = MakeBundle(2, &offsets);
  // Past the preamble, flip each byte in turn (a stride keeps it quick).
  for (size_t at = kPreambleBytes; at < bundle.size(); at += 3) {
    std::string bad = bundle;
    bad[at] ^= 0x20;
    std::vector<ReadEntry> entries;
    absl::Status s = ReadAll(bad, 512, &entries);
    ASSERT_FALSE(s.ok()) << "flipped byte " << at << " went unnoticed";
    // A flipped length may look like a truncated bundle (INVALID_ARGUMENT);
    // anything else is DATA_LOSS.
    if (s.code() == absl::StatusCode::kDataLoss) {
      // Named by where its record begins (and as an entry, unless the
      // flipped byte is the kind itself).
      for (int r = 1; r <= 2; ++r) {
        if (at >= offsets[r] && at < offsets[r + 1]) {
          EXPECT_THAT(
              std::string(s.message()),
              ContainsRegex(absl::StrCat(" at byte ", offsets[r], "[: ]")));
          if (at != offsets[r]) {
            EXPECT_THAT(s.message(),
                        HasSubstr(absl::StrCat("bundle entry ", r, " at")));
          }
        }
      }
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    }
  }
  // A flipped payload byte: the message also names the artifact.
  std::string bad = bundle;
  bad[offsets[3] - 10] ^= 1;
  std::vector<ReadEntry> entries;
  absl::Status s = ReadAll(bad, 1 << 20, &entries);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("checksum mismatch"));
  EXPECT_THAT(s.message(),
              HasSubstr("artifact_key " + Entry(1, 0).info().artifact_key()));
}

TEST(BundleTest, StructuralDefectsAreInvalidArgument) {
  std::vector<size_t> offsets;
  const std::string bundle = MakeBundle(2, &offsets);
  std::vector<ReadEntry> entries;
  auto read = [&](const std::string& b) {
    entries.clear();
    return ReadAll(b, 100, &entries);
  };
  absl::Status s = read("PK\x03\x04 not a bundle at all");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not a Kiln bundle"));

  std::string v2 = bundle;
  v2[8] = 2;
  s = read(v2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("format version 2 is not supported"));

  s = read(bundle.substr(0, offsets[2] + 50));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("truncated"));
  EXPECT_THAT(s.message(), HasSubstr("after 1 entries"));

  s = read(bundle.substr(0, offsets[3]));  // everything but the trailer
  EXPECT_THAT(s.message(), HasSubstr("truncated"));

  s = read(bundle + "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("follow the bundle's trailer"));

  s = read("");
  EXPECT_THAT(s.message(), HasSubstr("empty"));

  // A whole entry record cut out: the trailer's count disagrees.
  std::string dropped =
      bundle.substr(0, offsets[1]) + bundle.substr(offsets[2]);
  s = read(dropped);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("the trailer counts 2 entries"));
}

}  // namespace
}  // namespace kiln::server::bundle
