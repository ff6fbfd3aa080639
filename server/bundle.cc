#include "server/bundle.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cache/keys.h"

namespace kiln::server::bundle {
namespace {

constexpr char kHeaderKind = 'H';
constexpr char kEntryKind = 'E';
constexpr char kTrailerKind = 'T';
constexpr size_t kDigestBytes = 32;

void PutLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

uint64_t GetLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return value;
}

// SHA-256 over a record's kind, length and body.
std::string RecordDigest(std::string_view kind_and_length,
                         std::string_view body) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), kind_and_length.data(), kind_and_length.size());
  EVP_DigestUpdate(ctx.get(), body.data(), body.size());
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

const char* KindName(char kind) {
  switch (kind) {
    case kHeaderKind:
      return "header";
    case kEntryKind:
      return "entry";
    case kTrailerKind:
      return "trailer";
  }
  return "record";
}

}  // namespace

absl::Status BundleWriter::WriteRecord(char kind, const std::string& body) {
  if (body.size() > kMaxRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle ", KindName(kind), " of ", body.size(),
        " bytes is larger than the format allows (", kMaxRecordBytes, ")"));
  }
  std::string head;
  head.push_back(kind);
  PutLittleEndian(body.size(), 8, &head);
  head += RecordDigest(head, body);
  if (absl::Status s = sink_(head); !s.ok()) return s;
  if (absl::Status s = sink_(body); !s.ok()) return s;
  bytes_written_ += static_cast<int64_t>(head.size() + body.size());
  return absl::OkStatus();
}

absl::Status BundleWriter::WriteHeader(const BundleHeader& header) {
  if (started_) {
    return absl::FailedPreconditionError("bundle header written twice");
  }
  started_ = true;
  std::string preamble(kMagic);
  PutLittleEndian(kFormatVersion, 4, &preamble);
  if (absl::Status s = sink_(preamble); !s.ok()) return s;
  bytes_written_ += static_cast<int64_t>(preamble.size());
  return WriteRecord(kHeaderKind, cache::SerializeDeterministic(header));
}

absl::Status BundleWriter::WriteEntry(const BundleEntry& entry) {
  if (!started_ || finished_) {
    return absl::FailedPreconditionError(
        "bundle entries go between the header and the trailer");
  }
  absl::Status s =
      WriteRecord(kEntryKind, cache::SerializeDeterministic(entry));
  if (!s.ok()) return s;
  ++entries_;
  payload_bytes_ += static_cast<int64_t>(entry.payload().size());
  return absl::OkStatus();
}

absl::Status BundleWriter::Finish() {
  if (!started_ || finished_) {
    return absl::FailedPreconditionError(
        "bundle trailer written without a header or twice");
  }
  finished_ = true;
  BundleTrailer trailer;
  trailer.set_entries(entries_);
  trailer.set_payload_bytes(payload_bytes_);
  return WriteRecord(kTrailerKind, cache::SerializeDeterministic(trailer));
}

absl::Status BundleReader::Fail(absl::Status status) {
  error_ = status;
  buffer_.clear();
  pos_ = 0;
  ready_.clear();
  return status;
}

absl::Status BundleReader::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  if (has_trailer_ && !bytes.empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "bytes follow the bundle's trailer at byte ", bytes_fed())));
  }
  // Drop what was parsed before growing the buffer, so it holds about one
  // record.
  if (pos_ > 0) {
    consumed_ += pos_;
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
  return Parse();
}

absl::Status BundleReader::Parse() {
  if (!has_preamble_) {
    size_t have = std::min(buffer_.size(), kMagic.size());
    if (std::string_view(buffer_).substr(0, have) != kMagic.substr(0, have)) {
      return Fail(absl::InvalidArgumentError(
          "not a Kiln bundle: it does not start with KILNBNDL"));
    }
    if (buffer_.size() < kPreambleBytes) return absl::OkStatus();
    uint32_t version =
        static_cast<uint32_t>(GetLittleEndian(buffer_.data() + 8, 4));
    if (version != kFormatVersion) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("bundle format version ", version,
                       " is not supported (this server reads version ",
                       kFormatVersion, ")")));
    }
    has_preamble_ = true;
    pos_ = kPreambleBytes;
  }
  while (buffer_.size() - pos_ >= kRecordHeaderBytes) {
    if (has_trailer_) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "bytes follow the bundle's trailer at byte ", consumed_ + pos_)));
    }
    const char* head = buffer_.data() + pos_;
    const uint64_t offset = consumed_ + pos_;
    const char kind = head[0];
    const uint64_t length = GetLittleEndian(head + 1, 8);
    const std::string where =
        kind == kEntryKind
            ? absl::StrCat("bundle entry ", entries_ + 1, " at byte ", offset)
            : absl::StrCat("bundle ", KindName(kind), " at byte ", offset);
    if (length > kMaxRecordBytes) {
      return Fail(absl::DataLossError(absl::StrCat(
          where, ": record length ", length, " is beyond the limit of ",
          kMaxRecordBytes, " bytes; the bundle is corrupt")));
    }
    if (buffer_.size() - pos_ - kRecordHeaderBytes < length) {
      break;  // the rest of the body has not arrived
    }
    std::string_view body(head + kRecordHeaderBytes, length);
    std::string digest = RecordDigest(std::string_view(head, 9), body);
    if (std::memcmp(digest.data(), head + 9, kDigestBytes) != 0) {
      std::string key;
      BundleEntry guess;
      if (kind == kEntryKind &&
          guess.ParseFromArray(body.data(), static_cast<int>(body.size())) &&
          cache::IsHexDigest(guess.info().artifact_key())) {
        key = absl::StrCat(" (artifact_key ", guess.info().artifact_key(), ")");
      }
      return Fail(absl::DataLossError(
          absl::StrCat(where, key,
                       ": checksum mismatch; the bundle is corrupt and "
                       "nothing was imported")));
    }
    switch (kind) {
      case kHeaderKind:
        if (has_header_) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": a second header")));
        }
        if (!header_.ParseFromArray(body.data(),
                                    static_cast<int>(body.size()))) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": not a bundle header")));
        }
        has_header_ = true;
        break;
      case kEntryKind: {
        if (!has_header_) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": an entry before the header")));
        }
        ReadEntry read;
        read.index = entries_ + 1;
        read.offset = offset;
        if (!read.entry.ParseFromArray(body.data(),
                                       static_cast<int>(body.size()))) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": not a bundle entry")));
        }
        ++entries_;
        payload_bytes_ += static_cast<int64_t>(read.entry.payload().size());
        ready_.push_back(std::move(read));
        break;
      }
      case kTrailerKind: {
        if (!has_header_) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": a trailer before the header")));
        }
        BundleTrailer trailer;
        if (!trailer.ParseFromArray(body.data(),
                                    static_cast<int>(body.size()))) {
          return Fail(absl::InvalidArgumentError(
              absl::StrCat(where, ": not a bundle trailer")));
        }
        if (trailer.entries() != entries_ ||
            trailer.payload_bytes() != payload_bytes_) {
          return Fail(absl::DataLossError(
              absl::StrCat(where, ": the trailer counts ", trailer.entries(),
                           " entries of ", trailer.payload_bytes(),
                           " payload bytes, the "
                           "bundle has ",
                           entries_, " of ", payload_bytes_)));
        }
        has_trailer_ = true;
        break;
      }
      default:
        return Fail(absl::InvalidArgumentError(
            absl::StrCat(where, ": unknown record kind 0x",
                         absl::Hex(static_cast<unsigned char>(kind)))));
    }
    pos_ += kRecordHeaderBytes + length;
  }
  if (has_trailer_ && pos_ < buffer_.size()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "bytes follow the bundle's trailer at byte ", consumed_ + pos_)));
  }
  return absl::OkStatus();
}

bool BundleReader::NextEntry(ReadEntry* out) {
  if (ready_.empty()) return false;
  *out = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

absl::Status BundleReader::Finish() {
  if (!error_.ok()) return error_;
  if (!has_preamble_) {
    return Fail(absl::InvalidArgumentError(
        buffer_.empty() ? "the bundle is empty"
                        : "not a Kiln bundle: too short"));
  }
  if (!has_trailer_) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "the bundle is truncated: it ends at byte ", consumed_ + buffer_.size(),
        " after ", entries_, " entries, without its trailer")));
  }
  return absl::OkStatus();
}

}  // namespace kiln::server::bundle
