#ifndef KILN_CACHE_STORE_H_
#define KILN_CACHE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace kiln::cache {

// Where and how a Store keeps its data.
struct StoreOptions {
  // Directory that holds the RocksDB database (`db/`) and the lock file.
  // Created (with parents) when missing.
  std::string data_dir;
  // fsync the write-ahead log before a write is acknowledged. With it, an
  // acknowledged write survives a crash of the machine, not only of the
  // process.
  bool sync_writes = true;
  // Artifacts at least this large are zstd-compressed when that saves space.
  size_t compress_min_bytes = 512;
  int zstd_level = 3;
};

// The column families of the store. Each holds one kind of record:
//   kArtifacts: artifact key -> checksummed (optionally compressed) blob;
//   kEntries:   entry key (graph digest, target) -> serialized entry list;
//   kMetadata:  artifact key -> serialized per-artifact metadata.
// The default column family holds the store's own records (schema version).
enum class Family { kArtifacts, kEntries, kMetadata };

// Counters that describe the store's contents, cheap to compute.
struct StoreStats {
  uint64_t artifact_bytes = 0;  // estimated live bytes in kArtifacts
  uint64_t entry_bytes = 0;
  uint64_t metadata_bytes = 0;
  uint64_t estimated_artifacts = 0;  // RocksDB's key estimate
};

// The durable cache store: an embedded RocksDB with one column family per
// record kind. Artifacts are framed with a checksum that is verified on every
// read; a mismatch is DATA_LOSS and the bytes are never returned.
//
// Records that belong together are written through a Batch in one atomic
// RocksDB WriteBatch, so no reader (and no restart after a crash) ever sees
// half of them.
//
// One process owns a data dir at a time: Open takes an exclusive lock on
// `<data_dir>/kiln.lock` and fails with FAILED_PRECONDITION naming the owner's
// pid when another process holds it. A data dir written with another schema
// version is refused with FAILED_PRECONDITION.
//
// Thread safety: every method may be called concurrently from any thread,
// except Close and the destructor, which must not overlap other calls.
class Store {
 public:
  // The on-disk schema this build reads and writes. Bump it when the meaning
  // of stored records changes incompatibly.
  static constexpr int kSchemaVersion = 1;

  // A group of writes applied atomically by Store::Commit.
  class Batch {
   public:
    Batch();
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

    // Frames `payload` with its checksum (compressing it when worthwhile).
    void PutArtifact(std::string_view key, std::string_view payload);
    // Stores an artifact already framed by EncodeArtifact (for callers that
    // need the stored size before committing).
    void PutEncodedArtifact(std::string_view key, std::string framed);
    void Put(Family family, std::string_view key, std::string_view value);
    void Delete(Family family, std::string_view key);
    size_t Count() const;

   private:
    friend class Store;
    struct Op;
    std::unique_ptr<std::vector<Op>> ops_;
    const StoreOptions* options_ = nullptr;
  };

  // Opens (creating when missing) the store under options.data_dir.
  // Errors: FAILED_PRECONDITION when the dir is locked by another process or
  // holds an incompatible schema; PERMISSION_DENIED / INVALID_ARGUMENT /
  // UNAVAILABLE when the dir cannot be created or opened; DATA_LOSS when
  // RocksDB reports corruption at open.
  static absl::StatusOr<std::unique_ptr<Store>> Open(StoreOptions options);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Stores an artifact blob (a single-record Batch).
  absl::Status PutArtifact(std::string_view key, std::string_view payload);
  // The artifact's payload, std::nullopt when absent, DATA_LOSS when the
  // stored record fails its checksum or framing checks.
  absl::StatusOr<std::optional<std::string>> GetArtifact(
      std::string_view key) const;

  // Raw records of the entry and metadata families.
  absl::Status Put(Family family, std::string_view key, std::string_view value);
  absl::StatusOr<std::optional<std::string>> Get(Family family,
                                                 std::string_view key) const;
  absl::Status Delete(Family family, std::string_view key);

  // Applies every write of `batch` atomically, durably when the store
  // syncs writes.
  absl::Status Commit(Batch& batch);
  // The same, choosing whether to fsync the WAL first; `sync = false` is for
  // advisory records (usage counters) whose loss in a crash is harmless.
  absl::Status Commit(Batch& batch, bool sync);

  // Calls `fn(key, value)` for each record of `family` whose key starts with
  // `prefix`, in key order, until fn returns false. Artifact values are passed
  // framed (use GetArtifact to read one verified).
  absl::Status Scan(
      Family family, std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& fn) const;

  // Writes memtables to SST files (used before backups and by tests).
  absl::Status Flush();
  // Flushes, then compacts every family fully (tools and tests).
  absl::Status Compact();

  // Salvage. RocksDB keeps a damaged SST block in place, and with
  // paranoid checks the first compaction that reads it stops the store
  // accepting writes. RebuildFamily copies every record of `family` whose
  // key is in `keys` and that reads back whole (RocksDB checksums, and the
  // artifact frame for artifacts) into a fresh column family, switches the
  // family to it durably, and drops the old one without reading it again.
  // Returns the keys that could not be read (they are gone afterwards).
  // Readers may run concurrently; the caller must keep writers of the
  // family out, and rebuilds must not overlap.
  absl::StatusOr<std::vector<std::string>> RebuildFamily(
      Family family, const std::vector<std::string>& keys);
  // Families a write found damaged (their block failed a compaction), noted
  // in `<data_dir>/kiln.salvage` and to be rebuilt before new writes; a
  // successful RebuildFamily clears its entry.
  std::vector<Family> FamiliesToSalvage() const;

  StoreStats Stats() const;
  const StoreOptions& options() const { return options_; }
  const std::string& data_dir() const { return options_.data_dir; }
  // A random id made when the store was created, stable across reopens.
  const std::string& store_id() const { return store_id_; }
  std::string db_path() const;

  // Closes RocksDB cleanly and releases the lock. Idempotent; the destructor
  // calls it.
  absl::Status Close();

  // Test hook: writes `value` into `family` exactly as given, bypassing the
  // artifact framing, to simulate a corrupt record.
  absl::Status PutRawForTest(Family family, std::string_view key,
                             std::string_view value);

 private:
  Store(StoreOptions options, int lock_fd);
  // The column family holding `family`; callers hold handles_mu_ (shared),
  // except RebuildFamily, the only one that swaps it.
  rocksdb::ColumnFamilyHandle* Handle(Family family) const;
  absl::Status CheckSchema();
  // Picks each family's current column family (see RebuildFamily) and drops
  // the ones a rebuild left behind.
  absl::Status ResolveFamilies();
  std::string SalvagePath() const;
  void ReadSalvageFile();
  absl::Status WriteSalvageFileLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(salvage_mu_);
  // Notes the family of the damaged file a RocksDB corruption names.
  void NoteCorruptionLocked(const rocksdb::Status& s);

  StoreOptions options_;
  int lock_fd_ = -1;
  std::string store_id_;
  rocksdb::DB* db_ = nullptr;
  // Shared by every operation that uses a family's handle; exclusive only
  // while RebuildFamily swaps one.
  mutable absl::Mutex handles_mu_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default + families
  std::vector<rocksdb::ColumnFamilyHandle*> other_handles_;
  mutable absl::Mutex salvage_mu_;
  std::set<Family> to_salvage_ ABSL_GUARDED_BY(salvage_mu_);
};

// Frames an artifact payload: header (magic, version, codec, sizes, XXH3-64
// checksum of the stored body) followed by the body. Exposed for tests.
std::string EncodeArtifact(std::string_view payload, size_t compress_min_bytes,
                           int zstd_level);
// Verifies and unframes a stored artifact; DATA_LOSS on any mismatch.
absl::StatusOr<std::string> DecodeArtifact(std::string_view record);

// True for a DATA_LOSS that RocksDB reported (a damaged block in an SST
// file or the log), as opposed to an artifact frame that fails its own
// checks: the former is what RebuildFamily repairs.
bool IsStorageCorruption(const absl::Status& status);

}  // namespace kiln::cache

#endif  // KILN_CACHE_STORE_H_
