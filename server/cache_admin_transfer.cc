// CacheAdmin: Export and Import of bundles (server/bundle.h).
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cache/entry_filter.h"
#include "cache/guards/guard_set.h"
#include "cache/keys.h"
#include "kiln/version.h"
#include "server/bundle.h"
#include "server/cache_admin_service.h"
#include "server/compile_pipeline.h"
#include "server/grpc_status.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

// Entries handed to ArtifactCache::Import at once: bounded by payload bytes
// so a large bundle is not held in memory whole.
constexpr int64_t kImportBatchBytes = int64_t{64} << 20;
constexpr size_t kImportBatchEntries = 256;
constexpr int64_t kMaxExportChunkBytes = int64_t{1} << 20;
// How much of the spooled bundle is read at a time on the second pass.
constexpr size_t kSpoolReadBytes = size_t{1} << 20;

// The device target of a resolved target string: what comes before the
// options and the "-k<version>-salt<salt>" suffix ("cpu-x86_64-avx2").
std::string DeviceTargetOf(std::string_view target, std::string_view suffix) {
  std::string rest(target.substr(0, target.size() - suffix.size()));
  std::vector<std::string> parts = absl::StrSplit(rest, '-');
  std::vector<std::string> kept;
  for (std::string& part : parts) {
    if (part.find('=') != std::string::npos) break;
    kept.push_back(std::move(part));
  }
  return absl::StrJoin(kept, "-");
}

// A file that disappears when closed: the spooled bundle.
class SpoolFile {
 public:
  static absl::StatusOr<std::unique_ptr<SpoolFile>> Create(
      const std::string& dir) {
    std::string path = dir + "/.import-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0) {
      return absl::InternalError(absl::StrCat("cannot create a spool file in '",
                                              dir, "': ", strerror(errno)));
    }
    unlink(path.c_str());
    FILE* file = fdopen(fd, "w+b");
    if (file == nullptr) {
      close(fd);
      return absl::InternalError("cannot open the spool file");
    }
    return std::unique_ptr<SpoolFile>(new SpoolFile(file));
  }
  ~SpoolFile() { fclose(file_); }

  absl::Status Append(const std::string& bytes) {
    if (fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot spool the bundle: ", strerror(errno),
                       " (the server's data directory may be full)"));
    }
    return absl::OkStatus();
  }
  absl::Status Rewind() {
    if (fflush(file_) != 0 || fseek(file_, 0, SEEK_SET) != 0) {
      return absl::InternalError("cannot rewind the spool file");
    }
    return absl::OkStatus();
  }
  // Reads up to `max` bytes; empty at the end.
  absl::StatusOr<std::string> Read(size_t max) {
    std::string out(max, '\0');
    size_t n = fread(out.data(), 1, max, file_);
    if (n < max && ferror(file_)) {
      return absl::InternalError("cannot read the spool file back");
    }
    out.resize(n);
    return out;
  }

 private:
  explicit SpoolFile(FILE* file) : file_(file) {}
  FILE* file_;
};

std::string EntryName(const bundle::ReadEntry& r) {
  std::string name =
      absl::StrCat("bundle entry ", r.index, " at byte ", r.offset);
  if (cache::IsHexDigest(r.entry.info().artifact_key())) {
    absl::StrAppend(&name, " (artifact_key ", r.entry.info().artifact_key(),
                    ")");
  }
  return name;
}

}  // namespace

grpc::Status CacheAdminService::Export(
    grpc::ServerContext* context, const v1::ExportRequest* request,
    grpc::ServerWriter<v1::ExportChunk>* writer) {
  if (absl::Status s = cache::ValidateEntryFilter(request->filter(), "filter");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<v1::ArtifactInfo> entries = cache_->ListArtifacts();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const v1::ArtifactInfo& info) {
                                 return !cache::EntryFilterMatches(
                                     request->filter(), info, now_ms);
                               }),
                entries.end());
  // Each graph's entries newest first, as its list has them.
  std::sort(entries.begin(), entries.end(),
            [](const v1::ArtifactInfo& a, const v1::ArtifactInfo& b) {
              return std::forward_as_tuple(a.graph_digest(), a.target(),
                                           a.entry_index()) <
                     std::forward_as_tuple(b.graph_digest(), b.target(),
                                           b.entry_index());
            });
  int64_t planned_bytes = 0;
  for (const v1::ArtifactInfo& info : entries) {
    planned_bytes += info.size_bytes();
  }
  context->AddInitialMetadata(kExportEntriesHeader,
                              absl::StrCat(entries.size()));
  context->AddInitialMetadata(kExportBytesHeader, absl::StrCat(planned_bytes));

  // Chunks of at most 1 MiB keep memory per export small and progress
  // reports frequent; the limit the server advertises may be lower.
  const size_t chunk_bytes = static_cast<size_t>(std::clamp<int64_t>(
      options_.stream_chunk_bytes, 1, kMaxExportChunkBytes));
  std::string pending;
  auto flush = [&](bool all) -> absl::Status {
    size_t at = 0;
    while (pending.size() - at >= chunk_bytes || (all && at < pending.size())) {
      v1::ExportChunk chunk;
      size_t n = std::min(chunk_bytes, pending.size() - at);
      chunk.set_data(pending.data() + at, n);
      if (!writer->Write(chunk)) {
        return absl::CancelledError("the client stopped reading the export");
      }
      at += n;
    }
    pending.erase(0, at);
    return absl::OkStatus();
  };
  bundle::BundleWriter out([&](std::string_view bytes) {
    pending.append(bytes.data(), bytes.size());
    return flush(/*all=*/false);
  });

  bundle::BundleHeader header;
  header.set_server_version(std::string(kServerVersion));
  header.set_protocol_version(std::string(kProtocolVersion));
  header.set_compiler_version(cache_->compiler_version());
  header.set_salt(cache_->salt());
  header.set_created_unix_ms(now_ms);
  header.set_source_store_id(cache_->store().store_id());
  *header.mutable_filter() = request->filter();
  if (absl::Status s = out.WriteHeader(header); !s.ok()) {
    return ToGrpcStatus(s);
  }
  int64_t skipped = 0;
  for (const v1::ArtifactInfo& listed : entries) {
    if (context->IsCancelled()) {
      return ToGrpcStatus(absl::CancelledError("the export was cancelled"));
    }
    const std::string& key = listed.artifact_key();
    std::optional<v1::GetResponse> described = cache_->Describe(key);
    absl::StatusOr<std::optional<cache::ArtifactHandle>> handle =
        described.has_value()
            ? cache_->ReadArtifact(key, {.touch = false})
            : absl::StatusOr<std::optional<cache::ArtifactHandle>>(
                  std::nullopt);
    if (!handle.ok() || !handle->has_value()) {
      // Evicted since the listing, or found corrupt (then removed and
      // counted by the cache): the bundle holds what the cache still has.
      spdlog::warn(
          "CacheAdmin.Export: skipping artifact {}: {}", key,
          handle.ok() ? "no longer stored" : handle.status().ToString());
      ++skipped;
      continue;
    }
    bundle::BundleEntry entry;
    *entry.mutable_info() = std::move(*described->mutable_info());
    *entry.mutable_guards() = std::move(*described->mutable_guards());
    *entry.mutable_output_spec() = std::move(*described->mutable_output_spec());
    entry.set_payload((*handle)->payload());
    if (absl::Status s = out.WriteEntry(entry); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  if (absl::Status s = out.Finish(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = flush(/*all=*/true); !s.ok()) return ToGrpcStatus(s);
  context->AddTrailingMetadata(kExportWrittenHeader,
                               absl::StrCat(out.entries()));
  spdlog::info(
      "CacheAdmin.Export to {}: {} entries, {} bytes{}", context->peer(),
      out.entries(), out.bytes_written(),
      skipped > 0 ? absl::StrCat(" (", skipped, " gone meanwhile)") : "");
  return grpc::Status::OK;
}

grpc::Status CacheAdminService::Import(
    grpc::ServerContext* context, grpc::ServerReader<v1::ImportChunk>* reader,
    v1::ImportResponse* response) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool =
      SpoolFile::Create(options_.spool_dir);
  if (!spool.ok()) return ToGrpcStatus(spool.status());
  const std::string suffix =
      cache::TargetSuffix(cache_->compiler_version(), cache_->salt());

  // Pass 1: receive, spool and verify every record and entry. Nothing is
  // stored unless the whole bundle is good.
  auto verify = [&](const bundle::ReadEntry& r) -> absl::Status {
    const v1::ArtifactInfo& info = r.entry.info();
    const std::string name = EntryName(r);
    if (!cache::IsHexDigest(info.artifact_key()) ||
        !cache::IsHexDigest(info.graph_digest())) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          ": its artifact key and graph digest must be 64 lowercase "
          "hex characters"));
    }
    if (!cache::CheckTarget(info.target(), cache_->compiler_version(),
                            cache_->salt())
             .ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, ": target ", info.target(),
          " was built by another compiler version or salt; this server's "
          "targets end in ",
          suffix));
    }
    absl::StatusOr<envelope::ArtifactEnvelope> env =
        ParseEnvelope(r.entry.payload());
    if (!env.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": its payload is not a kiln-server artifact"));
    }
    if (env->target() != info.target()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": its artifact was built for ", env->target(),
                       ", its entry says ", info.target()));
    }
    const std::string device = DeviceTargetOf(info.target(), suffix);
    auto runnable = runnable_.find(env->backend());
    if (runnable == runnable_.end() || runnable->second != device) {
      std::vector<std::string> here;
      for (const auto& [backend, target] : runnable_) {
        here.push_back(absl::StrCat(target, " (", backend, ")"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          name, ": its artifact is for ", device, " (backend ", env->backend(),
          "), which this server cannot run; it runs ",
          absl::StrJoin(here, ", ")));
    }
    absl::StatusOr<std::shared_ptr<const cache::GuardSet>> guards =
        cache::GuardSet::Create(r.entry.guards());
    if (!guards.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": its guards do not load: ", guards.status().message()));
    }
    if ((*guards)->digest() != info.guards_digest() ||
        cache::ArtifactKey({info.graph_digest(), (*guards)->digest(),
                            info.target(), cache_->compiler_version(),
                            cache_->salt()}) != info.artifact_key()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name,
                       ": its key does not match its graph digest, guards "
                       "and target"));
    }
    return absl::OkStatus();
  };

  bundle::BundleReader first;
  v1::ImportChunk chunk;
  absl::Status failed;
  while (reader->Read(&chunk)) {
    if (static_cast<int64_t>(chunk.data().size()) >
        options_.stream_chunk_bytes) {
      failed = absl::ResourceExhaustedError(
          absl::StrCat("data: a chunk of ", chunk.data().size(),
                       " bytes is larger than stream_chunk_bytes (",
                       options_.stream_chunk_bytes, ")"));
      break;
    }
    failed = (*spool)->Append(chunk.data());
    if (failed.ok()) failed = first.Feed(chunk.data());
    if (failed.ok() && first.has_header() &&
        (first.header().compiler_version() != cache_->compiler_version() ||
         first.header().salt() != cache_->salt())) {
      failed = absl::FailedPreconditionError(absl::StrCat(
          "the bundle was exported by a server with compiler version ",
          first.header().compiler_version(), " and salt ",
          first.header().salt(), "; this server has compiler version ",
          cache_->compiler_version(), " and salt ", cache_->salt()));
    }
    bundle::ReadEntry r;
    while (failed.ok() && first.NextEntry(&r)) failed = verify(r);
    if (!failed.ok()) break;
  }
  if (failed.ok() && context->IsCancelled()) {
    failed = absl::CancelledError("the import was cancelled");
  }
  if (failed.ok()) failed = first.Finish();
  if (!failed.ok()) {
    spdlog::warn("CacheAdmin.Import from {} refused, nothing imported: {}",
                 context->peer(), failed.ToString());
    return ToGrpcStatus(failed);
  }

  // Pass 2: read the verified bundle back and store it in batches.
  if (absl::Status s = (*spool)->Rewind(); !s.ok()) return ToGrpcStatus(s);
  bundle::BundleReader second;
  std::vector<cache::ImportEntry> batch;
  int64_t batch_bytes = 0;
  auto store = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    std::vector<std::string> keys;
    for (const cache::ImportEntry& e : batch) keys.push_back(e.artifact_key);
    absl::StatusOr<std::vector<absl::StatusOr<cache::ImportOutcome>>> outcomes =
        cache_->Import(std::move(batch));
    batch.clear();
    batch_bytes = 0;
    if (!outcomes.ok()) {
      return absl::Status(
          outcomes.status().code(),
          absl::StrCat(outcomes.status().message(), " (", response->imported(),
                       " entries of this bundle were imported before)"));
    }
    for (size_t i = 0; i < outcomes->size(); ++i) {
      const absl::StatusOr<cache::ImportOutcome>& o = (*outcomes)[i];
      if (!o.ok()) {
        response->set_rejected(response->rejected() + 1);
        response->add_errors(
            absl::StrCat("artifact ", keys[i], ": ", o.status().message()));
      } else if (*o == cache::ImportOutcome::kImported) {
        response->set_imported(response->imported() + 1);
      } else {
        response->set_skipped_existing(response->skipped_existing() + 1);
      }
    }
    return absl::OkStatus();
  };
  while (true) {
    absl::StatusOr<std::string> bytes = (*spool)->Read(kSpoolReadBytes);
    if (!bytes.ok()) return ToGrpcStatus(bytes.status());
    if (bytes->empty()) break;
    if (absl::Status s = second.Feed(*bytes); !s.ok()) return ToGrpcStatus(s);
    bundle::ReadEntry r;
    while (second.NextEntry(&r)) {
      absl::StatusOr<std::shared_ptr<const cache::GuardSet>> guards =
          cache::GuardSet::Create(r.entry.guards());
      if (!guards.ok()) return ToGrpcStatus(guards.status());
      cache::ImportEntry e;
      v1::ArtifactInfo* info = r.entry.mutable_info();
      e.artifact_key = std::move(*info->mutable_artifact_key());
      e.graph_digest = std::move(*info->mutable_graph_digest());
      e.target = std::move(*info->mutable_target());
      e.guards = std::move(*guards);
      e.output_spec = std::move(*r.entry.mutable_output_spec());
      e.payload = std::move(*r.entry.mutable_payload());
      e.created_unix_ms = info->created_unix_ms();
      e.compile_time_us = info->compile_time_us();
      e.producing_client = std::move(*info->mutable_producing_client());
      batch_bytes += static_cast<int64_t>(e.payload.size());
      batch.push_back(std::move(e));
      if (batch_bytes >= kImportBatchBytes ||
          batch.size() >= kImportBatchEntries) {
        if (absl::Status s = store(); !s.ok()) return ToGrpcStatus(s);
      }
    }
  }
  if (absl::Status s = second.Finish(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = store(); !s.ok()) return ToGrpcStatus(s);
  spdlog::info(
      "CacheAdmin.Import from {}: {} imported, {} already present, {} "
      "rejected (bundle from store {}, kiln-server {})",
      context->peer(), response->imported(), response->skipped_existing(),
      response->rejected(), first.header().source_store_id(),
      first.header().server_version());
  return grpc::Status::OK;
}

}  // namespace kiln::server
