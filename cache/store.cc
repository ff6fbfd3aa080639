#include "cache/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "spdlog/spdlog.h"

namespace kiln::cache {
namespace {

constexpr char kMagic[4] = {'K', 'L', 'N', 'A'};
constexpr uint8_t kFrameVersion = 1;
constexpr uint8_t kCodecNone = 0;
constexpr uint8_t kCodecZstd = 1;
constexpr size_t kHeaderBytes = 24;
// Refuse to inflate anything claiming to be larger than this: a corrupt size
// field must not make the server allocate without bound.
constexpr uint64_t kMaxArtifactBytes = uint64_t{16} << 30;

constexpr char kSchemaKey[] = "kiln/schema_version";
constexpr char kStoreIdKey[] = "kiln/store_id";
constexpr char kLockFile[] = "kiln.lock";
constexpr char kDbDir[] = "db";

const char* const kFamilyNames[] = {"artifacts", "entries", "metadata"};
// Default-family record naming the column family that currently holds a
// family (absent: the family's own name). Rebuilt families get a new name,
// "<family>.<generation>".
constexpr char kFamilyRecordPrefix[] = "kiln/family/";
// Families a write found damaged (by RocksDB's background error), one name
// a line, to be rebuilt at the next open.
constexpr char kSalvageFile[] = "kiln.salvage";
constexpr char kStorageCorruptionPayload[] = "kiln.dev/storage-corruption";

// The family a column family name belongs to ("artifacts.2" -> artifacts).
std::string_view BaseName(std::string_view cf_name) {
  return cf_name.substr(0, cf_name.find('.'));
}

int FamilyIndex(std::string_view base) {
  for (int i = 0; i < 3; ++i) {
    if (base == kFamilyNames[i]) return i;
  }
  return -1;
}

rocksdb::ColumnFamilyOptions FamilyOptions(std::string_view cf_name) {
  rocksdb::ColumnFamilyOptions cf;
  if (BaseName(cf_name) == "artifacts") {
    // Artifacts are compressed by the framing, with their own checksum;
    // compressing again would only cost time. Large values go to big
    // blocks.
    cf.compression = rocksdb::kNoCompression;
    rocksdb::BlockBasedTableOptions table;
    table.block_size = 64 << 10;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  return cf;
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

// The one place RocksDB statuses become absl statuses.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsCorruption()) {
    absl::Status status = absl::DataLossError(msg);
    status.SetPayload(kStorageCorruptionPayload, absl::Cord("1"));
    return status;
  }
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsIOError()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

absl::Status ErrnoStatus(int err, std::string_view what) {
  std::string msg = absl::StrCat(std::string(what), ": ", std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case ENOTDIR:
    case ENAMETOOLONG:
    case EEXIST:
      return absl::InvalidArgumentError(msg);
    case ENOSPC:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

// Creates `dir` and its parents, with an error that names the directory.
absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) &&
      !std::filesystem::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data dir '", dir, "' exists and is not a directory"));
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return ErrnoStatus(ec.value(),
                       absl::StrCat("cannot create data dir '", dir, "'"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoStatus(errno,
                       absl::StrCat("data dir '", dir, "' is not writable"));
  }
  return absl::OkStatus();
}

// Takes the exclusive lock of a data dir; returns the open lock fd.
absl::StatusOr<int> LockDataDir(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/", kLockFile);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return ErrnoStatus(
        errno, absl::StrCat("cannot open lock file '", path, "' in data dir"));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string owner = "another process";
      int pid = 0;
      if (n > 0 &&
          absl::SimpleAtoi(
              absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid)) {
        owner = absl::StrCat("another process (pid ", pid, ")");
      }
      return absl::FailedPreconditionError(
          absl::StrCat("data dir '", dir, "' is in use by ", owner,
                       "; stop that kiln-server or choose another --data-dir"));
    }
    return ErrnoStatus(err, absl::StrCat("cannot lock '", path, "'"));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) !=
                                     static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err,
                       absl::StrCat("cannot write lock file '", path, "'"));
  }
  return fd;
}

}  // namespace

std::string EncodeArtifact(std::string_view payload, size_t compress_min_bytes,
                           int zstd_level) {
  std::string body;
  uint8_t codec = kCodecNone;
  if (payload.size() >= compress_min_bytes) {
    body.resize(ZSTD_compressBound(payload.size()));
    size_t n = ZSTD_compress(body.data(), body.size(), payload.data(),
                             payload.size(), zstd_level);
    if (!ZSTD_isError(n) && n < payload.size()) {
      body.resize(n);
      codec = kCodecZstd;
    }
  }
  std::string_view stored =
      codec == kCodecZstd ? std::string_view(body) : payload;
  std::string out;
  out.reserve(kHeaderBytes + stored.size());
  out.append(kMagic, sizeof(kMagic));
  out.push_back(static_cast<char>(kFrameVersion));
  out.push_back(static_cast<char>(codec));
  out.append(2, '\0');
  PutU64(out, payload.size());
  PutU64(out, XXH3_64bits(stored.data(), stored.size()));
  out.append(stored);
  return out;
}

absl::StatusOr<std::string> DecodeArtifact(std::string_view record) {
  if (record.size() < kHeaderBytes ||
      std::memcmp(record.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("artifact record has no valid header");
  }
  uint8_t version = static_cast<uint8_t>(record[4]);
  uint8_t codec = static_cast<uint8_t>(record[5]);
  if (version != kFrameVersion) {
    return absl::DataLossError(
        absl::StrCat("artifact record has unknown frame version ", version));
  }
  uint64_t size = GetU64(record.data() + 8);
  uint64_t checksum = GetU64(record.data() + 16);
  std::string_view body = record.substr(kHeaderBytes);
  uint64_t actual = XXH3_64bits(body.data(), body.size());
  if (actual != checksum) {
    return absl::DataLossError(
        absl::StrCat("artifact checksum mismatch: stored ", absl::Hex(checksum),
                     ", computed ", absl::Hex(actual)));
  }
  if (codec == kCodecNone) {
    if (body.size() != size) {
      return absl::DataLossError("artifact size disagrees with its header");
    }
    return std::string(body);
  }
  if (codec != kCodecZstd) {
    return absl::DataLossError(
        absl::StrCat("artifact record has unknown codec ", codec));
  }
  if (size > kMaxArtifactBytes) {
    return absl::DataLossError("artifact header claims an impossible size");
  }
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), body.data(), body.size());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError("artifact body does not decompress to its size");
  }
  return out;
}

struct Store::Batch::Op {
  enum Kind { kPutArtifact, kPutEncodedArtifact, kPut, kDelete } kind;
  Family family;
  std::string key;
  std::string value;
};

Store::Batch::Batch() : ops_(std::make_unique<std::vector<Op>>()) {}
Store::Batch::~Batch() = default;

void Store::Batch::PutArtifact(std::string_view key, std::string_view payload) {
  ops_->push_back(Op{Op::kPutArtifact, Family::kArtifacts, std::string(key),
                     std::string(payload)});
}

void Store::Batch::PutEncodedArtifact(std::string_view key,
                                      std::string framed) {
  ops_->push_back(Op{Op::kPutEncodedArtifact, Family::kArtifacts,
                     std::string(key), std::move(framed)});
}

void Store::Batch::Put(Family family, std::string_view key,
                       std::string_view value) {
  ops_->push_back(Op{Op::kPut, family, std::string(key), std::string(value)});
}

void Store::Batch::Delete(Family family, std::string_view key) {
  ops_->push_back(Op{Op::kDelete, family, std::string(key), std::string()});
}

size_t Store::Batch::Count() const { return ops_->size(); }

Store::Store(StoreOptions options, int lock_fd)
    : options_(std::move(options)), lock_fd_(lock_fd) {}

Store::~Store() {
  absl::Status s = Close();
  if (!s.ok()) spdlog::error("closing store: {}", s.ToString());
}

std::string Store::db_path() const {
  return absl::StrCat(options_.data_dir, "/", kDbDir);
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(StoreOptions options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data dir must not be empty");
  }
  if (absl::Status s = MakeDirs(options.data_dir); !s.ok()) return s;
  absl::StatusOr<int> lock_fd = LockDataDir(options.data_dir);
  if (!lock_fd.ok()) return lock_fd.status();
  std::unique_ptr<Store> store(new Store(std::move(options), *lock_fd));

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;
  db_options.max_open_files = 512;
  db_options.IncreaseParallelism(2);

  // Every column family on disk must be opened: the families' current ones
  // and any a rebuild left behind (dropped below).
  std::vector<std::string> names;
  std::error_code ec;
  if (std::filesystem::exists(store->db_path() + "/CURRENT", ec)) {
    rocksdb::Status listed =
        rocksdb::DB::ListColumnFamilies(db_options, store->db_path(), &names);
    if (!listed.ok()) {
      return FromRocks(listed, absl::StrCat("cannot list column families of '",
                                            store->db_path(), "'"));
    }
  } else {
    names = {rocksdb::kDefaultColumnFamilyName};
    for (const char* name : kFamilyNames) names.push_back(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(name, FamilyOptions(name));
  }
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> opened;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, store->db_path(), families, &opened, &db);
  if (!s.ok()) {
    return FromRocks(
        s, absl::StrCat("cannot open RocksDB at '", store->db_path(), "'"));
  }
  store->db_ = db;
  store->handles_.assign(4, nullptr);
  for (rocksdb::ColumnFamilyHandle* h : opened) {
    if (h->GetName() == rocksdb::kDefaultColumnFamilyName) {
      store->handles_[0] = h;
    } else {
      store->other_handles_.push_back(h);
    }
  }
  if (absl::Status st = store->CheckSchema(); !st.ok()) return st;
  if (absl::Status st = store->ResolveFamilies(); !st.ok()) return st;
  store->ReadSalvageFile();
  return store;
}

absl::Status Store::ResolveFamilies() {
  for (int f = 0; f < 3; ++f) {
    std::string current = kFamilyNames[f];
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), handles_[0],
                 absl::StrCat(kFamilyRecordPrefix, kFamilyNames[f]), &value);
    if (s.ok()) {
      current = value;
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "reading family records");
    }
    auto it = std::find_if(other_handles_.begin(), other_handles_.end(),
                           [&](rocksdb::ColumnFamilyHandle* h) {
                             return h->GetName() == current;
                           });
    if (it == other_handles_.end()) {
      return absl::DataLossError(absl::StrCat(
          "store '", options_.data_dir, "' records column family '", current,
          "' for ", kFamilyNames[f], " but has none of that name"));
    }
    handles_[1 + f] = *it;
    other_handles_.erase(it);
  }
  // What a rebuild left behind (its crash before or after the switch): the
  // families' other column families, dropped without being read.
  for (auto it = other_handles_.begin(); it != other_handles_.end();) {
    rocksdb::ColumnFamilyHandle* h = *it;
    if (FamilyIndex(BaseName(h->GetName())) < 0) {
      ++it;  // not ours: left alone
      continue;
    }
    spdlog::warn("store: dropping stale column family {}", h->GetName());
    rocksdb::Status s = db_->DropColumnFamily(h);
    if (!s.ok()) {
      spdlog::warn("store: dropping {}: {}", h->GetName(), s.ToString());
    }
    db_->DestroyColumnFamilyHandle(h);
    it = other_handles_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status Store::CheckSchema() {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), handles_[0], kSchemaKey, &value);
  if (s.IsNotFound()) {
    // A new store: record its schema and identity together.
    absl::BitGen gen;
    store_id_ = absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen),
                                absl::Uniform<uint64_t>(gen));
    rocksdb::WriteBatch batch;
    batch.Put(handles_[0], kSchemaKey, absl::StrCat(kSchemaVersion));
    batch.Put(handles_[0], kStoreIdKey, store_id_);
    rocksdb::WriteOptions w;
    w.sync = true;
    return FromRocks(db_->Write(w, &batch), "initializing store");
  }
  if (!s.ok()) return FromRocks(s, "reading schema version");
  int version = 0;
  if (!absl::SimpleAtoi(value, &version)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir '", options_.data_dir,
        "' has an unreadable schema version record '", value, "'"));
  }
  if (version != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir '", options_.data_dir, "' was written with schema version ",
        version, " but this kiln-server reads schema version ", kSchemaVersion,
        "; use a matching kiln-server or another --data-dir"));
  }
  s = db_->Get(rocksdb::ReadOptions(), handles_[0], kStoreIdKey, &store_id_);
  if (!s.ok()) return FromRocks(s, "reading store id");
  return absl::OkStatus();
}

rocksdb::ColumnFamilyHandle* Store::Handle(Family family) const {
  return handles_[1 + static_cast<int>(family)];
}

absl::Status Store::PutArtifact(std::string_view key,
                                std::string_view payload) {
  Batch batch;
  batch.PutArtifact(key, payload);
  return Commit(batch);
}

absl::StatusOr<std::optional<std::string>> Store::GetArtifact(
    std::string_view key) const {
  absl::StatusOr<std::optional<std::string>> raw = Get(Family::kArtifacts, key);
  if (!raw.ok() || !raw->has_value()) return raw;
  absl::StatusOr<std::string> payload = DecodeArtifact(**raw);
  if (!payload.ok()) {
    return absl::DataLossError(absl::StrCat("artifact '", std::string(key),
                                            "': ", payload.status().message()));
  }
  return std::optional<std::string>(std::move(*payload));
}

absl::Status Store::Put(Family family, std::string_view key,
                        std::string_view value) {
  Batch batch;
  batch.Put(family, key, value);
  return Commit(batch);
}

absl::StatusOr<std::optional<std::string>> Store::Get(
    Family family, std::string_view key) const {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  std::string value;
  rocksdb::Status s;
  {
    absl::ReaderMutexLock lock(&handles_mu_);
    s = db_->Get(read, Handle(family), key, &value);
  }
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) {
    return FromRocks(
        s, absl::StrCat("reading ", kFamilyNames[static_cast<int>(family)],
                        " record"));
  }
  return std::optional<std::string>(std::move(value));
}

absl::Status Store::Delete(Family family, std::string_view key) {
  Batch batch;
  batch.Delete(family, key);
  return Commit(batch);
}

absl::Status Store::Commit(Batch& batch) {
  return Commit(batch, options_.sync_writes);
}

absl::Status Store::Commit(Batch& batch, bool sync) {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  absl::ReaderMutexLock lock(&handles_mu_);
  rocksdb::WriteBatch wb;
  for (const Batch::Op& op : *batch.ops_) {
    rocksdb::Status s;
    switch (op.kind) {
      case Batch::Op::kPutArtifact:
        s = wb.Put(Handle(op.family), op.key,
                   EncodeArtifact(op.value, options_.compress_min_bytes,
                                  options_.zstd_level));
        break;
      case Batch::Op::kPutEncodedArtifact:
      case Batch::Op::kPut:
        s = wb.Put(Handle(op.family), op.key, op.value);
        break;
      case Batch::Op::kDelete:
        s = wb.Delete(Handle(op.family), op.key);
        break;
    }
    if (!s.ok()) return FromRocks(s, "building write batch");
  }
  rocksdb::WriteOptions w;
  w.sync = sync;
  rocksdb::Status s = db_->Write(w, &wb);
  // A write refused because RocksDB found a damaged block (in a compaction)
  // marks that block's family for rebuilding at the next open.
  if (s.IsCorruption()) NoteCorruptionLocked(s);
  return FromRocks(s, "writing batch");
}

absl::Status Store::Scan(
    Family family, std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  absl::ReaderMutexLock lock(&handles_mu_);
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, Handle(family)));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid();
       it->Next()) {
    rocksdb::Slice key = it->key();
    if (!key.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
    if (!fn(std::string_view(key.data(), key.size()),
            std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocks(it->status(), "scanning store");
}

absl::Status Store::Flush() {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  absl::ReaderMutexLock lock(&handles_mu_);
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    if (h != nullptr) all.push_back(h);
  }
  return FromRocks(db_->Flush(rocksdb::FlushOptions(), all), "flushing store");
}

absl::Status Store::Compact() {
  if (absl::Status s = Flush(); !s.ok()) return s;
  absl::ReaderMutexLock lock(&handles_mu_);
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    if (h == nullptr) continue;
    rocksdb::Status s = db_->CompactRange(options, h, nullptr, nullptr);
    if (s.IsCorruption()) NoteCorruptionLocked(s);
    if (!s.ok()) return FromRocks(s, "compacting store");
  }
  return absl::OkStatus();
}

StoreStats Store::Stats() const {
  StoreStats stats;
  if (db_ == nullptr) return stats;
  absl::ReaderMutexLock lock(&handles_mu_);
  auto live = [&](Family f) {
    uint64_t v = 0;
    db_->GetIntProperty(Handle(f), "rocksdb.estimate-live-data-size", &v);
    uint64_t mem = 0;
    db_->GetIntProperty(Handle(f), "rocksdb.cur-size-all-mem-tables", &mem);
    return v + mem;
  };
  stats.artifact_bytes = live(Family::kArtifacts);
  stats.entry_bytes = live(Family::kEntries);
  stats.metadata_bytes = live(Family::kMetadata);
  db_->GetIntProperty(Handle(Family::kArtifacts), "rocksdb.estimate-num-keys",
                      &stats.estimated_artifacts);
  return stats;
}

bool IsStorageCorruption(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDataLoss &&
         status.GetPayload(kStorageCorruptionPayload).has_value();
}

std::string Store::SalvagePath() const {
  return absl::StrCat(options_.data_dir, "/", kSalvageFile);
}

void Store::ReadSalvageFile() {
  int fd = ::open(SalvagePath().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
  ::close(fd);
  absl::MutexLock lock(&salvage_mu_);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    int f = FamilyIndex(std::string(absl::StripAsciiWhitespace(line)));
    if (f >= 0) to_salvage_.insert(static_cast<Family>(f));
  }
}

absl::Status Store::WriteSalvageFileLocked() {
  std::string text;
  for (Family f : to_salvage_) {
    absl::StrAppend(&text, kFamilyNames[static_cast<int>(f)], "\n");
  }
  std::string path = SalvagePath();
  if (text.empty()) {
    ::unlink(path.c_str());
    return absl::OkStatus();
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "writing " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, "writing " + path);
  }
  return absl::OkStatus();
}

void Store::NoteCorruptionLocked(const rocksdb::Status& s) {
  // RocksDB names the damaged file ("... in /path/000123.sst offset ...");
  // its column family says which family to rebuild.
  std::string message = s.ToString();
  size_t sst = message.find(".sst");
  if (sst == std::string::npos) return;
  size_t begin = message.rfind('/', sst);
  if (begin == std::string::npos) return;
  uint64_t number = 0;
  if (!absl::SimpleAtoi(message.substr(begin + 1, sst - begin - 1), &number)) {
    return;
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& file : files) {
    uint64_t file_number = 0;
    std::string name = file.name.substr(file.name.rfind('/') + 1);
    if (!absl::SimpleAtoi(name.substr(0, name.find('.')), &file_number) ||
        file_number != number) {
      continue;
    }
    int f = FamilyIndex(BaseName(file.column_family_name));
    if (f < 0) return;
    absl::MutexLock lock(&salvage_mu_);
    if (to_salvage_.insert(static_cast<Family>(f)).second) {
      spdlog::error(
          "store: RocksDB found a damaged block in {} ({} family) and stops "
          "accepting writes; the family is rebuilt from its readable records "
          "when the store is next opened",
          db_path() + file.name, kFamilyNames[f]);
      absl::Status w = WriteSalvageFileLocked();
      if (!w.ok()) spdlog::error("store: {}", w.ToString());
    }
    return;
  }
}

std::vector<Family> Store::FamiliesToSalvage() const {
  absl::MutexLock lock(&salvage_mu_);
  return std::vector<Family>(to_salvage_.begin(), to_salvage_.end());
}

absl::StatusOr<std::vector<std::string>> Store::RebuildFamily(
    Family family, const std::vector<std::string>& keys) {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  const int f = static_cast<int>(family);
  rocksdb::ColumnFamilyHandle* old = Handle(family);  // only we swap it
  const std::string old_name = old->GetName();
  int generation = 0;
  size_t dot = old_name.find('.');
  if (dot != std::string::npos) {
    absl::SimpleAtoi(old_name.substr(dot + 1), &generation);
  }
  const std::string fresh_name =
      absl::StrCat(kFamilyNames[f], ".", generation + 1);
  rocksdb::ColumnFamilyHandle* fresh = nullptr;
  rocksdb::Status s =
      db_->CreateColumnFamily(FamilyOptions(fresh_name), fresh_name, &fresh);
  if (!s.ok()) {
    return FromRocks(s, absl::StrCat("creating column family ", fresh_name));
  }
  auto abandon = [&](rocksdb::Status why, std::string_view what) {
    db_->DropColumnFamily(fresh);
    db_->DestroyColumnFamilyHandle(fresh);
    return FromRocks(why, what);
  };
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  rocksdb::WriteBatch wb;
  rocksdb::WriteOptions unsynced;
  std::vector<std::string> lost;
  int64_t copied = 0;
  for (const std::string& key : keys) {
    std::string value;
    s = db_->Get(read, old, key, &value);
    if (s.IsNotFound()) continue;
    bool whole =
        s.ok() && (family != Family::kArtifacts || DecodeArtifact(value).ok());
    if (!whole) {
      lost.push_back(key);
      continue;
    }
    wb.Put(fresh, key, value);
    ++copied;
    if (wb.GetDataSize() > (16 << 20)) {
      s = db_->Write(unsynced, &wb);
      if (!s.ok()) return abandon(s, "copying records");
      wb.Clear();
    }
  }
  // The switch record goes last, fsynced: it makes every copy before it
  // durable too, so a crash leaves either the old family or the whole new
  // one in use (the other is dropped at open).
  wb.Put(handles_[0], absl::StrCat(kFamilyRecordPrefix, kFamilyNames[f]),
         fresh_name);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  s = db_->Write(synced, &wb);
  if (!s.ok()) return abandon(s, "switching column family");
  {
    absl::MutexLock lock(&handles_mu_);
    handles_[1 + f] = fresh;
  }
  s = db_->DropColumnFamily(old);
  if (!s.ok()) {
    spdlog::warn("store: dropping {}: {} (dropped at the next open)", old_name,
                 s.ToString());
  }
  db_->DestroyColumnFamilyHandle(old);
  {
    absl::MutexLock lock(&salvage_mu_);
    if (to_salvage_.erase(family) > 0) {
      absl::Status w = WriteSalvageFileLocked();
      if (!w.ok()) spdlog::error("store: {}", w.ToString());
    }
  }
  spdlog::warn(
      "store: rebuilt the {} family as column family {}: {} records copied, "
      "{} unreadable and gone; {} dropped",
      kFamilyNames[f], fresh_name, copied, lost.size(), old_name);
  return lost;
}

absl::Status Store::PutRawForTest(Family family, std::string_view key,
                                  std::string_view value) {
  if (db_ == nullptr) return absl::FailedPreconditionError("store is closed");
  absl::ReaderMutexLock lock(&handles_mu_);
  rocksdb::WriteOptions w;
  w.sync = options_.sync_writes;
  return FromRocks(db_->Put(w, Handle(family), key, value), "raw put");
}

absl::Status Store::Close() {
  absl::Status result;
  if (db_ != nullptr) {
    // Persist memtables so the next open does not replay the whole WAL, then
    // release handles before the DB, as RocksDB requires.
    result = Flush();
    handles_.insert(handles_.end(), other_handles_.begin(),
                    other_handles_.end());
    other_handles_.clear();
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      if (h == nullptr) continue;
      rocksdb::Status s = db_->DestroyColumnFamilyHandle(h);
      if (result.ok() && !s.ok()) result = FromRocks(s, "closing family");
    }
    handles_.clear();
    rocksdb::Status s = db_->Close();
    if (result.ok() && !s.ok()) result = FromRocks(s, "closing RocksDB");
    delete db_;
    db_ = nullptr;
  }
  if (lock_fd_ >= 0) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
  return result;
}

}  // namespace kiln::cache
