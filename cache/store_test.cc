#include "cache/store.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace kiln::cache {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(tmp != nullptr ? tmp : "/tmp") /
           absl::StrCat(
               "store_test_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open({.data_dir = dir_.string()});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  fs::path dir_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST(ArtifactFrameTest, RoundTripsCompressedAndRaw) {
  std::string compressible(10000, 'a');
  std::string random = RandomBytes(10000, 1);
  for (const std::string& payload : {compressible, random, std::string()}) {
    std::string framed = EncodeArtifact(payload, 512, 3);
    absl::StatusOr<std::string> back = DecodeArtifact(framed);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, payload);
  }
  EXPECT_LT(EncodeArtifact(compressible, 512, 3).size(), 1000u);
}

TEST(ArtifactFrameTest, EveryFlippedBodyByteIsDetected) {
  std::string payload = RandomBytes(300, 2);
  std::string framed = EncodeArtifact(payload, 512, 3);
  for (size_t i = 0; i < framed.size(); ++i) {
    std::string bad = framed;
    bad[i] ^= 0x20;
    absl::StatusOr<std::string> back = DecodeArtifact(bad);
    if (i >= 6 && i < 8) continue;  // reserved header bytes
    ASSERT_FALSE(back.ok()) << "byte " << i;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(DecodeArtifact("short").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(StoreTest, RoundTripAndMissing) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::string payload = RandomBytes(4096, 3);
  ASSERT_TRUE(store->PutArtifact("a1", payload).ok());
  auto got = store->GetArtifact("a1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, payload);

  auto missing = store->GetArtifact("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(store->Put(Family::kEntries, "e1", "entry").ok());
  auto entry = store->Get(Family::kEntries, "e1");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->value_or(""), "entry");
  // Families are separate key spaces.
  EXPECT_FALSE(store->Get(Family::kMetadata, "e1")->has_value());
  ASSERT_TRUE(store->Delete(Family::kEntries, "e1").ok());
  EXPECT_FALSE(store->Get(Family::kEntries, "e1")->has_value());
}

TEST_F(StoreTest, ReopenAfterCloseKeepsData) {
  std::string payload = RandomBytes(100000, 4);
  std::string id;
  {
    auto store = OpenOrDie();
    id = store->store_id();
    EXPECT_EQ(id.size(), 32u);
    ASSERT_TRUE(store->PutArtifact("k", payload).ok());
    ASSERT_TRUE(store->Put(Family::kMetadata, "k", "meta").ok());
    ASSERT_TRUE(store->Close().ok());
    ASSERT_TRUE(store->Close().ok());  // idempotent
  }
  auto store = OpenOrDie();
  EXPECT_EQ(store->GetArtifact("k")->value_or(""), payload);
  EXPECT_EQ(store->store_id(), id);
  EXPECT_EQ(store->Get(Family::kMetadata, "k")->value_or(""), "meta");
}

TEST_F(StoreTest, BatchIsAtomicAndScanFindsPrefix) {
  auto store = OpenOrDie();
  Store::Batch batch;
  batch.PutArtifact("art", "bytes");
  batch.Put(Family::kEntries, "g1/cpu", "entries");
  batch.Put(Family::kMetadata, "art", "meta");
  batch.Put(Family::kEntries, "g2/cpu", "other");
  EXPECT_EQ(batch.Count(), 4u);
  ASSERT_TRUE(store->Commit(batch).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(store
                  ->Scan(Family::kEntries, "g1",
                         [&](std::string_view k, std::string_view) {
                           keys.emplace_back(k);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, std::vector<std::string>{"g1/cpu"});
  EXPECT_EQ(store->GetArtifact("art")->value_or(""), "bytes");
}

TEST_F(StoreTest, CorruptRecordIsDataLossNeverData) {
  auto store = OpenOrDie();
  std::string framed = EncodeArtifact("hello artifact", 512, 3);
  framed[framed.size() - 1] ^= 1;
  ASSERT_TRUE(store->PutRawForTest(Family::kArtifacts, "bad", framed).ok());
  auto got = store->GetArtifact("bad");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("checksum"));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("bad"));
}

TEST_F(StoreTest, ByteFlippedOnDiskIsDetected) {
  // A marker that appears once in the payload lets us find it in the SST.
  std::string marker = "KILN-MARKER-0123456789";
  std::string payload = RandomBytes(8192, 5) + marker + RandomBytes(8192, 6);
  {
    auto store = OpenOrDie();
    ASSERT_TRUE(store->PutArtifact("victim", payload).ok());
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(store->Close().ok());
  }
  bool flipped = false;
  for (const auto& file : fs::directory_iterator(dir_ / "db")) {
    if (file.path().extension() != ".sst") continue;
    std::fstream f(file.path(),
                   std::ios::in | std::ios::out | std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(f)),
                        std::istreambuf_iterator<char>());
    size_t pos = content.find(marker);
    if (pos == std::string::npos) continue;
    f.seekp(static_cast<std::streamoff>(pos + 3));
    f.put(static_cast<char>(content[pos + 3] ^ 0x01));
    flipped = true;
  }
  ASSERT_TRUE(flipped) << "payload not found in any SST file";
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  auto got = store->GetArtifact("victim");
  ASSERT_FALSE(got.ok()) << "corrupt artifact was returned as data";
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(StoreTest, SecondOpenOfSameDirFailsClearly) {
  auto store = OpenOrDie();
  auto second = Store::Open({.data_dir = dir_.string()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("pid ", ::getpid())));
  ASSERT_TRUE(store->Close().ok());
  // Once released, the dir opens again.
  EXPECT_TRUE(Store::Open({.data_dir = dir_.string()}).ok());
}

TEST_F(StoreTest, IncompatibleSchemaIsRefused) {
  {
    auto store = OpenOrDie();
    // The schema record lives in the default family, outside the public API;
    // write a future version through a raw RocksDB handle instead.
    ASSERT_TRUE(store->Close().ok());
  }
  {
    rocksdb::Options opts;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {"artifacts", {}},
        {"entries", {}},
        {"metadata", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(opts, (dir_ / "db").string(), cfs, &handles, &db)
            .ok());
    ASSERT_TRUE(db->Put({}, handles[0], "kiln/schema_version", "999").ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto store = Store::Open({.data_dir = dir_.string()});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("schema version 999"));
}

TEST_F(StoreTest, UnusableDataDirGivesClearError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  auto under_file = Store::Open({.data_dir = (dir_ / "file" / "sub").string()});
  ASSERT_FALSE(under_file.ok());
  EXPECT_THAT(std::string(under_file.status().message()),
              HasSubstr("cannot create data dir"));
  auto is_file = Store::Open({.data_dir = (dir_ / "file").string()});
  ASSERT_FALSE(is_file.ok());
  EXPECT_THAT(std::string(is_file.status().message()),
              HasSubstr("not a directory"));
  EXPECT_EQ(Store::Open({.data_dir = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ConcurrentReadersAndWriters) {
  auto store = OpenOrDie();
  constexpr int kWriters = 4;
  constexpr int kReaders = 4;
  constexpr int kPerWriter = 200;
  std::atomic<int> read_errors{0};
  std::atomic<int> mismatches{0};
  std::atomic<bool> done{false};
  auto payload_for = [](int w, int i) {
    return absl::StrCat("payload-", w, "-", i, "-", std::string(i % 97, 'z'));
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        Store::Batch batch;
        std::string key = absl::StrCat("w", w, "/", i);
        batch.PutArtifact(key, payload_for(w, i));
        batch.Put(Family::kMetadata, key, "m");
        ASSERT_TRUE(store->Commit(batch).ok());
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(r);
      while (!done.load()) {
        int w = rng() % kWriters, i = rng() % kPerWriter;
        std::string key = absl::StrCat("w", w, "/", i);
        auto got = store->GetArtifact(key);
        if (!got.ok()) {
          ++read_errors;
          continue;
        }
        if (got->has_value()) {
          // Batch atomicity: when the artifact is visible, so is its metadata.
          if (**got != payload_for(w, i) ||
              !store->Get(Family::kMetadata, key)->has_value()) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kPerWriter; ++i) {
      ASSERT_EQ(store->GetArtifact(absl::StrCat("w", w, "/", i))->value_or(""),
                payload_for(w, i));
    }
  }
}

// A rebuilt family keeps exactly the listed records that read back whole,
// survives a reopen under its new column family, and the old column family
// is gone.
TEST_F(StoreTest, RebuildFamilyCopiesReadableRecordsAndDropsTheOld) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        store->PutArtifact(absl::StrCat("a", i), RandomBytes(2000, i)).ok());
  }
  ASSERT_TRUE(
      store->PutRawForTest(Family::kArtifacts, "bad", "not framed").ok());
  ASSERT_TRUE(store->Put(Family::kMetadata, "m", "kept").ok());
  ASSERT_TRUE(store->Flush().ok());

  absl::StatusOr<std::vector<std::string>> lost = store->RebuildFamily(
      Family::kArtifacts, {"a0", "a1", "a2", "a3", "bad", "missing"});
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_THAT(*lost, ::testing::ElementsAre("bad"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(store->GetArtifact(absl::StrCat("a", i))->value_or(""),
              RandomBytes(2000, i));
  }
  EXPECT_FALSE(store->GetArtifact("a4")->has_value());  // not listed
  EXPECT_FALSE(store->Get(Family::kArtifacts, "bad")->has_value());
  EXPECT_EQ(store->Get(Family::kMetadata, "m")->value_or(""), "kept");
  ASSERT_TRUE(store->PutArtifact("after", "x").ok());
  ASSERT_TRUE(store->Compact().ok());
  ASSERT_TRUE(store->Close().ok());

  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(),
                                              (dir_ / "db").string(), &families)
                  .ok());
  EXPECT_THAT(families, ::testing::UnorderedElementsAre(
                            "default", "artifacts.1", "entries", "metadata"));
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetArtifact("a3")->value_or(""), RandomBytes(2000, 3));
  EXPECT_EQ(store->GetArtifact("after")->value_or(""), "x");
  // Again: generation 2.
  ASSERT_TRUE(store->RebuildFamily(Family::kArtifacts, {"a3"}).ok());
  EXPECT_EQ(store->GetArtifact("a3")->value_or(""), RandomBytes(2000, 3));
  EXPECT_FALSE(store->GetArtifact("after")->has_value());
  EXPECT_TRUE(store->FamiliesToSalvage().empty());
}

}  // namespace
}  // namespace kiln::cache
