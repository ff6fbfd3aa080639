// Durability of the artifact cache against the real store on disk:
//  * SIGKILL: a real writer process (tests/cache/cache_writer) commits
//    entries and prints each acknowledged one; it is killed with SIGKILL at
//    random moments, and after each kill the store must hold every
//    acknowledged entry intact and no half-written one;
//  * corruption: bytes of an artifact flipped inside an SST file are
//    detected on read, the artifact is removed, counted and logged, never
//    served, and the next request recompiles it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cache/artifact_cache.h"
#include "cache/cache_records.pb.h"
#include "cache/keys.h"
#include "cache/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/cache/workload.h"
#include "tests/testing/process.h"

namespace kiln::tests {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Ack {
  int64_t index = 0;
  std::string artifact_key;
  std::string payload_sha;
};

struct WriterRun {
  std::vector<Ack> acks;  // every complete ACK line, in order
  int exit_code = -1;     // 128 + signal when killed
  std::string err;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts the writer at entry `first`, waits until it has acknowledged
// `kill_after` entries and then a random fraction of up to two of its
// average write intervals (so the kill lands anywhere in a write: during
// the compile, the batch, the fsync or the print), SIGKILLs it, and
// collects every line it managed to print before dying.
absl::StatusOr<WriterRun> RunWriterAndKill(const std::string& data_dir,
                                           int64_t first, int kill_after,
                                           std::mt19937& rng) {
  std::string writer = kiln::testing::Runfile("tests/cache_writer");
  std::string err_path = absl::StrCat(data_dir, ".stderr");
  int out[2];
  if (::pipe(out) != 0) return absl::InternalError(std::strerror(errno));
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv = {writer, "--data-dir=" + data_dir,
                                   absl::StrCat("--first=", first)};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(std::strerror(errno));
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    ::close(out[0]);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  ::close(out[1]);
  ::close(err_fd);

  WriterRun run;
  std::string buffer;
  int complete = 0;
  bool killed = false;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(120);
  absl::Time kill_at = absl::InfiniteFuture();
  while (true) {
    absl::Time now = absl::Now();
    if (!killed && now >= kill_at) {
      ::kill(pid, SIGKILL);  // lines still in the pipe are read below
      killed = true;
    }
    absl::Time wake = killed ? deadline : std::min(deadline, kill_at);
    struct pollfd p = {out[0], POLLIN, 0};
    int timeout_ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1));
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0 && !killed && absl::Now() >= kill_at) continue;
    if (ready <= 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::close(out[0]);
      return absl::DeadlineExceededError(absl::StrCat(
          "writer made no progress; stderr: ", ReadFile(err_path)));
    }
    char chunk[4096];
    ssize_t n = ::read(out[0], chunk, sizeof(chunk));
    if (n <= 0) break;  // EOF: the writer is gone
    buffer.append(chunk, n);
    for (char c : std::string_view(chunk, n)) complete += c == '\n';
    if (!killed && complete >= kill_after &&
        kill_at == absl::InfiniteFuture()) {
      absl::Duration mean = (absl::Now() - start) / complete;
      kill_at = absl::Now() +
                std::uniform_real_distribution<double>(0, 2)(rng) * mean;
    }
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code =
      WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  run.err = ReadFile(err_path);
  // Only complete lines were acknowledged; a torn last line is not.
  std::vector<std::string> lines = absl::StrSplit(buffer, '\n');
  lines.pop_back();
  for (const std::string& line : lines) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    Ack ack;
    if (f.size() != 4 || f[0] != "ACK" || !absl::SimpleAtoi(f[1], &ack.index)) {
      return absl::InternalError(absl::StrCat("bad writer line: ", line));
    }
    ack.artifact_key = f[2];
    ack.payload_sha = f[3];
    run.acks.push_back(std::move(ack));
  }
  return run;
}

// Reads the store directly, before any cache code could repair it, and
// checks that it holds only whole entries: every listed entry has its
// metadata and a verified artifact, and every artifact and metadata record
// belongs to a listed entry.
void ExpectStoreHoldsOnlyWholeEntries(const std::string& data_dir,
                                      size_t* entry_count) {
  absl::StatusOr<std::unique_ptr<cache::Store>> store =
      cache::Store::Open({.data_dir = data_dir});
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::string, int64_t> listed;  // artifact key -> payload bytes
  ASSERT_TRUE(
      (*store)
          ->Scan(cache::Family::kEntries, cache::kEntryListPrefix,
                 [&](std::string_view key, std::string_view value) {
                   cache::records::EntryList list;
                   EXPECT_TRUE(list.ParseFromArray(value.data(), value.size()))
                       << key;
                   for (const auto& e : list.entries()) {
                     listed[e.artifact_key()] = -1;
                   }
                   return true;
                 })
          .ok());
  for (auto& [key, bytes] : listed) {
    absl::StatusOr<std::optional<std::string>> meta =
        (*store)->Get(cache::Family::kMetadata, key);
    ASSERT_TRUE(meta.ok()) << meta.status();
    ASSERT_TRUE(meta->has_value()) << "entry without metadata: " << key;
    cache::records::ArtifactMetadata m;
    ASSERT_TRUE(m.ParseFromString(**meta));
    absl::StatusOr<std::optional<std::string>> artifact =
        (*store)->GetArtifact(key);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    ASSERT_TRUE(artifact->has_value()) << "entry without artifact: " << key;
    EXPECT_EQ(static_cast<int64_t>((*artifact)->size()), m.payload_bytes());
  }
  for (cache::Family family :
       {cache::Family::kMetadata, cache::Family::kArtifacts}) {
    ASSERT_TRUE((*store)
                    ->Scan(family, "",
                           [&](std::string_view key, std::string_view) {
                             EXPECT_TRUE(listed.count(std::string(key)))
                                 << "record of no entry: " << key;
                             return true;
                           })
                    .ok());
  }
  *entry_count = listed.size();
}

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("cache_durability");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DurabilityTest, EveryAcknowledgedEntrySurvivesSigkill) {
  std::string data_dir = dir_ + "/data";
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  std::map<int64_t, Ack> acked;
  int64_t next = 0;
  constexpr int kRounds = 12;
  for (int round = 0; round < kRounds; ++round) {
    int kill_after = std::uniform_int_distribution<int>(1, 30)(rng);
    absl::StatusOr<WriterRun> run =
        RunWriterAndKill(data_dir, next, kill_after, rng);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->exit_code, 128 + SIGKILL) << run->err;
    ASSERT_GE(static_cast<int>(run->acks.size()), kill_after);
    for (const Ack& a : run->acks) {
      acked[a.index] = a;
      next = std::max(next, a.index + 1);
    }

    // No half-written entry, straight from the store.
    size_t stored = 0;
    ExpectStoreHoldsOnlyWholeEntries(data_dir, &stored);
    if (HasFatalFailure()) return;
    // The entry in flight at the kill may or may not have made it.
    EXPECT_GE(stored, acked.size());
    EXPECT_LE(stored, acked.size() + 1);
    std::printf(
        "round %d: SIGKILL after %d acks: %zu acknowledged, %zu stored\n",
        round, kill_after, acked.size(), stored);

    // Every acknowledged entry serves its call with its exact bytes.
    cache::ArtifactCacheOptions options;
    options.store.data_dir = data_dir;
    options.payload_cache_bytes = 0;
    absl::StatusOr<std::unique_ptr<cache::ArtifactCache>> c =
        cache::ArtifactCache::Create(options);
    ASSERT_TRUE(c.ok()) << c.status();
    for (const auto& [i, ack] : acked) {
      absl::StatusOr<std::shared_ptr<const cache::GuardSet>> guards =
          cache::GuardSet::Create(GuardsOf(i));
      ASSERT_TRUE(guards.ok());
      EXPECT_EQ(ack.artifact_key,
                cache::ArtifactKey({GraphDigestOf(i), (*guards)->digest(),
                                    WorkloadTarget(), kCompilerVersion,
                                    kDefaultSalt}));
      std::string sha = cache::Sha256Hex(PayloadOf(i));
      EXPECT_EQ(ack.payload_sha, sha) << "entry " << i;
      absl::StatusOr<v1::LookupResponse> r =
          (*c)->Lookup(GraphDigestOf(i), WorkloadTarget(), CallOf(i));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_TRUE(r->has_hit()) << "acknowledged entry " << i << " lost";
      EXPECT_EQ(r->hit().artifact_key(), ack.artifact_key);
      absl::StatusOr<std::optional<cache::ArtifactHandle>> read =
          (*c)->ReadArtifact(ack.artifact_key);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_TRUE(read->has_value());
      EXPECT_EQ(cache::Sha256Hex((*read)->payload()), sha) << "entry " << i;
    }
    EXPECT_EQ((*c)->Stats().corruptions_detected(), 0);
    ASSERT_TRUE((*c)->Close().ok());
  }
  EXPECT_GE(acked.size(), static_cast<size_t>(kRounds));
}

// Finds `needle` in one of the SST files under `db_dir` and flips a bit of
// the byte at `offset` within it. Returns the file, or "" when not found.
std::string FlipByteInSst(const std::string& db_dir, const std::string& needle,
                          size_t offset) {
  for (const auto& file : fs::directory_iterator(db_dir)) {
    if (file.path().extension() != ".sst") continue;
    std::string data = ReadFile(file.path());
    size_t at = data.find(needle);
    if (at == std::string::npos) continue;
    data[at + offset] ^= 0x10;
    std::ofstream out(file.path(), std::ios::binary | std::ios::trunc);
    out << data;
    return file.path().string();
  }
  return "";
}

TEST_F(DurabilityTest, FlippedBytesInAnSstFileAreDetectedRemovedAndRecompiled) {
  std::string data_dir = dir_ + "/data";
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);

  cache::ArtifactCacheOptions options;
  options.store.data_dir = data_dir;
  options.payload_cache_bytes = 0;  // every read goes to disk
  const std::string target = WorkloadTarget();
  // Incompressible payloads larger than a 64 KiB block: each artifact is
  // stored verbatim in a data block of its own.
  auto payload = [](int i) {
    std::mt19937 rng(i);
    std::string p(70000, '\0');
    for (char& ch : p) ch = static_cast<char>(rng());
    return p;
  };
  std::atomic<int> compiles{0};
  auto compile_fn = [&](int i) {
    return [&, i](const cache::CompileContext&)
               -> absl::StatusOr<cache::CompiledArtifact> {
      ++compiles;
      return cache::CompiledArtifact{payload(i), {}};
    };
  };
  auto key_of = [&](int i) {
    return cache::CompileKey{GraphDigestOf(3 * i), target,
                             *cache::GuardSet::Create(GuardsOf(3 * i))};
  };
  std::vector<std::string> keys;
  {
    auto c = cache::ArtifactCache::Create(options);
    ASSERT_TRUE(c.ok()) << c.status();
    for (int i = 0; i < 5; ++i) {
      auto r = (*c)->GetOrCompile(key_of(i), compile_fn(i));
      ASSERT_TRUE(r.ok()) << r.status();
      keys.push_back(r->artifact.artifact_key());
    }
    ASSERT_TRUE((*c)->Close().ok());  // flushes memtables into SST files
  }
  const int victim = 2;
  std::string sst =
      FlipByteInSst(data_dir + "/db", payload(victim).substr(30000, 64), 32);
  ASSERT_FALSE(sst.empty()) << "artifact bytes not found in any SST file";

  auto c = cache::ArtifactCache::Create(options);
  ASSERT_TRUE(c.ok()) << c.status();
  // Lookup reads no artifact, so the entry still answers...
  auto hit =
      (*c)->Lookup(GraphDigestOf(3 * victim), target, CallOf(3 * victim));
  ASSERT_TRUE(hit.ok() && hit->has_hit());
  // ...but its bytes are never served: DATA_LOSS, counted, logged, removed.
  auto read = (*c)->ReadArtifact(keys[victim]);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
  EXPECT_EQ((*c)->Stats().corruptions_detected(), 1);
  spdlog::default_logger()->flush();
  EXPECT_THAT(log.str(), HasSubstr("DATA_LOSS"));
  EXPECT_THAT(log.str(), HasSubstr(keys[victim]));
  auto miss =
      (*c)->Lookup(GraphDigestOf(3 * victim), target, CallOf(3 * victim));
  ASSERT_TRUE(miss.ok() && miss->has_miss());
  read = (*c)->ReadArtifact(keys[victim]);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
  // The others are intact.
  for (int i = 0; i < 5; ++i) {
    if (i == victim) continue;
    auto other = (*c)->ReadArtifact(keys[i]);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE(other->has_value());
    EXPECT_EQ((*other)->payload(), payload(i));
  }
  // The next request recompiles it.
  compiles = 0;
  auto again = (*c)->GetOrCompile(key_of(victim), compile_fn(victim));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->cache_hit);
  EXPECT_EQ(compiles, 1);
  EXPECT_EQ(again->artifact.payload(), payload(victim));
  again->artifact = cache::ArtifactHandle();
  // The damaged block is gone from the store, not just shadowed: a full
  // compaction succeeds and writes go on.
  absl::Status compacted = (*c)->store().Compact();
  EXPECT_TRUE(compacted.ok()) << compacted;
  EXPECT_TRUE((*c)->GetOrCompile(key_of(7), compile_fn(7)).ok());
  for (int i = 0; i < 5; ++i) {
    auto other = (*c)->ReadArtifact(keys[i]);
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE(other->has_value());
    EXPECT_EQ((*other)->payload(), payload(i));
  }
  ASSERT_TRUE((*c)->Close().ok());

  // After a restart the recompiled artifact serves, verified.
  c = cache::ArtifactCache::Create(options);
  ASSERT_TRUE(c.ok()) << c.status();
  auto served = (*c)->GetOrCompile(key_of(victim), compile_fn(victim));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_TRUE(served->cache_hit);
  EXPECT_EQ(served->artifact.payload(), payload(victim));
  EXPECT_EQ(compiles, 2);  // the victim, and entry 7
  EXPECT_EQ((*c)->Stats().corruptions_detected(), 0);
  served->artifact = cache::ArtifactHandle();
  ASSERT_TRUE((*c)->Close().ok());
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
}

// When a compaction meets the damaged block before any read does, RocksDB
// stops accepting writes. The store notes the family; the next open
// rebuilds it from its readable records, removes (and counts) the artifact
// that was lost, and writes work again.
TEST_F(DurabilityTest, DamageFoundByACompactionIsSalvagedAtTheNextOpen) {
  std::string data_dir = dir_ + "/data";
  cache::ArtifactCacheOptions options;
  options.store.data_dir = data_dir;
  options.payload_cache_bytes = 0;
  const std::string target = WorkloadTarget();
  auto payload = [](int i) {
    std::mt19937 rng(100 + i);
    std::string p(70000, '\0');
    for (char& ch : p) ch = static_cast<char>(rng());
    return p;
  };
  auto compile_fn = [&](int i) {
    return [&, i](const cache::CompileContext&)
               -> absl::StatusOr<cache::CompiledArtifact> {
      return cache::CompiledArtifact{payload(i), {}};
    };
  };
  auto key_of = [&](int i) {
    return cache::CompileKey{GraphDigestOf(3 * i), target,
                             *cache::GuardSet::Create(GuardsOf(3 * i))};
  };
  std::vector<std::string> keys;
  {
    auto c = cache::ArtifactCache::Create(options);
    ASSERT_TRUE(c.ok()) << c.status();
    for (int i = 0; i < 4; ++i) {
      auto r = (*c)->GetOrCompile(key_of(i), compile_fn(i));
      ASSERT_TRUE(r.ok()) << r.status();
      keys.push_back(r->artifact.artifact_key());
    }
    ASSERT_TRUE((*c)->Close().ok());
  }
  const int victim = 1;
  ASSERT_FALSE(
      FlipByteInSst(data_dir + "/db", payload(victim).substr(30000, 64), 32)
          .empty());
  {
    auto c = cache::ArtifactCache::Create(options);
    ASSERT_TRUE(c.ok()) << c.status();
    absl::Status compacted = (*c)->store().Compact();
    EXPECT_EQ(compacted.code(), absl::StatusCode::kDataLoss) << compacted;
    EXPECT_TRUE(cache::IsStorageCorruption(compacted));
    // RocksDB now refuses writes.
    EXPECT_FALSE((*c)->GetOrCompile(key_of(5), compile_fn(5)).ok());
    EXPECT_THAT((*c)->store().FamiliesToSalvage(),
                ::testing::ElementsAre(cache::Family::kArtifacts));
    (*c)->Close().IgnoreError();  // may report the same damage
  }
  EXPECT_TRUE(fs::exists(data_dir + "/kiln.salvage"));

  auto c = cache::ArtifactCache::Create(options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(fs::exists(data_dir + "/kiln.salvage"));
  EXPECT_EQ((*c)->Stats().corruptions_detected(), 1);
  EXPECT_EQ((*c)->Stats().entries(), 3);
  EXPECT_FALSE((*c)->GetInfo(keys[victim]).has_value());
  for (int i = 0; i < 4; ++i) {
    if (i == victim) continue;
    auto read = (*c)->ReadArtifact(keys[i]);
    ASSERT_TRUE(read.ok() && read->has_value()) << read.status();
    EXPECT_EQ((*read)->payload(), payload(i));
  }
  EXPECT_TRUE((*c)->store().Compact().ok());
  auto again = (*c)->GetOrCompile(key_of(victim), compile_fn(victim));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->cache_hit);
  EXPECT_TRUE((*c)->GetOrCompile(key_of(5), compile_fn(5)).ok());
  again->artifact = cache::ArtifactHandle();
  EXPECT_TRUE((*c)->Close().ok());
}

}  // namespace
}  // namespace kiln::tests
