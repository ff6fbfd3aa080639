// Export bundles: the portable file of cache entries and their artifacts
// that CacheAdmin.Export writes and CacheAdmin.Import reads (`kiln export`,
// `kiln import`). Layout, all integers little-endian:
//
//   bundle  := magic "KILNBNDL" (8 bytes) | version u32 (= 1) | record*
//   record  := kind u8 | length u64 | sha256 (32 bytes) | body (length bytes)
//
// sha256 is SHA-256 over kind, length (its 8 bytes) and body, so a flipped
// bit anywhere in a record is caught. Kinds: 'H' the header (first, once),
// 'E' an entry (any number), 'T' the trailer (last, once, with the entry
// count). Bodies are the messages of server/bundle.proto. Nothing may follow
// the trailer. docs/cli.md describes the format for users.
//
// Thread safety: a writer or reader is used by one thread at a time.
#ifndef KILN_SERVER_BUNDLE_H_
#define KILN_SERVER_BUNDLE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/bundle.pb.h"

namespace kiln::server::bundle {

inline constexpr std::string_view kMagic = "KILNBNDL";
inline constexpr uint32_t kFormatVersion = 1;
// magic + version.
inline constexpr size_t kPreambleBytes = 12;
// kind + length + sha256.
inline constexpr size_t kRecordHeaderBytes = 41;
// The largest record body read or written.
inline constexpr uint64_t kMaxRecordBytes = uint64_t{1} << 30;

// Writes a bundle through `sink`, which receives the bytes in order.
// Call WriteHeader once, WriteEntry for each entry, then Finish.
class BundleWriter {
 public:
  using Sink = std::function<absl::Status(std::string_view bytes)>;
  explicit BundleWriter(Sink sink) : sink_(std::move(sink)) {}

  absl::Status WriteHeader(const BundleHeader& header);
  // INVALID_ARGUMENT for an entry larger than kMaxRecordBytes.
  absl::Status WriteEntry(const BundleEntry& entry);
  // Writes the trailer.
  absl::Status Finish();

  int64_t entries() const { return entries_; }
  int64_t bytes_written() const { return bytes_written_; }

 private:
  absl::Status WriteRecord(char kind, const std::string& body);

  Sink sink_;
  bool started_ = false;
  bool finished_ = false;
  int64_t entries_ = 0;
  int64_t payload_bytes_ = 0;
  int64_t bytes_written_ = 0;
};

// An entry record read and verified, with where it was in the bundle.
struct ReadEntry {
  int64_t index = 0;    // 1 for the first entry
  uint64_t offset = 0;  // byte offset of its record
  BundleEntry entry;
};

// Reads a bundle incrementally: Feed() bytes as they arrive (in pieces of
// any size), take the entries verified so far with NextEntry(), and call
// Finish() at the end. Only the record being received is buffered.
//
// Errors (sticky; the first one is returned by every later call):
//   INVALID_ARGUMENT  not a bundle (bad magic), an unsupported version,
//                     records out of order, bytes after the trailer, a
//                     body that is not the message its kind says, or (from
//                     Finish) a truncated bundle;
//   DATA_LOSS         a record whose checksum does not match, or whose
//                     length is beyond kMaxRecordBytes, naming the record
//                     ("bundle entry 3 at byte 1234 (artifact_key ...)").
class BundleReader {
 public:
  absl::Status Feed(std::string_view bytes);
  // The next verified entry not yet taken.
  bool NextEntry(ReadEntry* out);
  // OK once the trailer has been read and agrees with the entries before it.
  absl::Status Finish();

  bool has_header() const { return has_header_; }
  const BundleHeader& header() const { return header_; }
  bool finished() const { return has_trailer_; }
  // Bytes fed so far.
  uint64_t bytes_fed() const { return consumed_ + buffer_.size(); }

 private:
  absl::Status Parse();
  absl::Status Fail(absl::Status status);

  std::string buffer_;
  size_t pos_ = 0;         // start of unparsed bytes in buffer_
  uint64_t consumed_ = 0;  // bundle bytes dropped from buffer_
  bool has_preamble_ = false;
  bool has_header_ = false;
  bool has_trailer_ = false;
  BundleHeader header_;
  int64_t entries_ = 0;
  int64_t payload_bytes_ = 0;
  std::deque<ReadEntry> ready_;
  absl::Status error_;
};

}  // namespace kiln::server::bundle

#endif  // KILN_SERVER_BUNDLE_H_
