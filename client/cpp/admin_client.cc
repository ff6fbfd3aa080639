#include "client/cpp/admin_client.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace kiln::client {
namespace {

constexpr char kExportEntriesHeader[] = "kiln-export-entries";
constexpr char kExportWrittenHeader[] = "kiln-export-entries-written";

int64_t MetadataInt(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    const char* key) {
  auto it = metadata.find(key);
  int64_t value = -1;
  if (it != metadata.end() &&
      absl::SimpleAtoi(std::string(it->second.data(), it->second.size()),
                       &value)) {
    return value;
  }
  return -1;
}

struct FileCloser {
  void operator()(FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using File = std::unique_ptr<FILE, FileCloser>;

absl::Status FileError(const std::string& what, const std::string& path) {
  return absl::Status(
      errno == ENOENT ? absl::StatusCode::kNotFound
                      : absl::StatusCode::kFailedPrecondition,
      absl::StrCat("cannot ", what, " '", path, "': ", std::strerror(errno)));
}

// A context for a stream: no deadline (a large bundle takes as long as it
// takes), but the client's per-call timeout to connect.
std::unique_ptr<grpc::ClientContext> StreamContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_wait_for_ready(false);
  return context;
}

}  // namespace

absl::StatusOr<v1::ListResponse> AdminClient::List(
    const v1::ListRequest& request) {
  v1::ListResponse response;
  auto context = client_.NewContext();
  grpc::Status status = client_.admin().List(context.get(), request, &response);
  if (!status.ok()) return client_.ToStatus(status, "List");
  return response;
}

absl::StatusOr<std::vector<v1::ArtifactInfo>> AdminClient::ListAll(
    v1::ListRequest request, int64_t limit, int64_t* total) {
  std::vector<v1::ArtifactInfo> out;
  while (true) {
    absl::StatusOr<v1::ListResponse> page = List(request);
    if (!page.ok()) return page.status();
    if (total != nullptr) *total = page->total();
    for (v1::ArtifactInfo& info : *page->mutable_entries()) {
      if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
      out.push_back(std::move(info));
    }
    if (page->next_page_token().empty() ||
        (limit > 0 && static_cast<int64_t>(out.size()) >= limit)) {
      break;
    }
    request.set_page_token(page->next_page_token());
  }
  return out;
}

absl::StatusOr<v1::GetResponse> AdminClient::Get(
    const std::string& artifact_key) {
  v1::GetRequest request;
  request.set_artifact_key(artifact_key);
  v1::GetResponse response;
  auto context = client_.NewContext();
  grpc::Status status = client_.admin().Get(context.get(), request, &response);
  if (!status.ok()) return client_.ToStatus(status, "Get");
  return response;
}

absl::StatusOr<v1::StatsResponse> AdminClient::Stats() {
  v1::StatsResponse response;
  auto context = client_.NewContext();
  grpc::Status status =
      client_.admin().Stats(context.get(), v1::StatsRequest(), &response);
  if (!status.ok()) return client_.ToStatus(status, "Stats");
  return response;
}

absl::StatusOr<v1::ExplainResponse> AdminClient::Explain(
    const v1::ExplainRequest& request) {
  v1::ExplainResponse response;
  auto context = client_.NewContext();
  grpc::Status status =
      client_.admin().Explain(context.get(), request, &response);
  if (!status.ok()) return client_.ToStatus(status, "Explain");
  return response;
}

absl::StatusOr<v1::EvictResponse> AdminClient::Evict(
    const v1::EvictRequest& request) {
  v1::EvictResponse response;
  auto context = client_.NewContext();
  grpc::Status status =
      client_.admin().Evict(context.get(), request, &response);
  if (!status.ok()) return client_.ToStatus(status, "Evict");
  return response;
}

absl::StatusOr<ExportResult> AdminClient::ExportToFile(
    const v1::ExportRequest& request, const std::string& path,
    const ProgressFn& progress) {
  const std::string partial = path + ".partial";
  File file(std::fopen(partial.c_str(), "wb"));
  if (file == nullptr) return FileError("create", partial);
  auto context = StreamContext();
  std::unique_ptr<grpc::ClientReader<v1::ExportChunk>> reader =
      client_.admin().Export(context.get(), request);
  TransferProgress p;
  bool have_metadata = false;
  v1::ExportChunk chunk;
  absl::Status failed;
  while (reader->Read(&chunk)) {
    if (!have_metadata) {
      have_metadata = true;
      p.expected_entries = MetadataInt(context->GetServerInitialMetadata(),
                                       kExportEntriesHeader);
    }
    if (std::fwrite(chunk.data().data(), 1, chunk.data().size(), file.get()) !=
        chunk.data().size()) {
      failed = FileError("write", partial);
      context->TryCancel();
      break;
    }
    p.bytes += static_cast<int64_t>(chunk.data().size());
    if (progress) progress(p);
  }
  grpc::Status status = reader->Finish();
  if (failed.ok() && !status.ok()) failed = client_.ToStatus(status, "Export");
  if (failed.ok() && std::fflush(file.get()) != 0) {
    failed = FileError("write", partial);
  }
  file.reset();
  if (!failed.ok()) {
    std::filesystem::remove(partial);
    return failed;
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    std::filesystem::remove(partial);
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot rename '", partial, "' to '", path, "': ", ec.message()));
  }
  ExportResult result;
  result.bytes = p.bytes;
  result.entries =
      MetadataInt(context->GetServerTrailingMetadata(), kExportWrittenHeader);
  p.done = true;
  if (progress) progress(p);
  return result;
}

absl::StatusOr<v1::ImportResponse> AdminClient::ImportFromFile(
    const std::string& path, const ProgressFn& progress, int64_t chunk_bytes) {
  File file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return FileError("open", path);
  if (chunk_bytes <= 0) {
    chunk_bytes = int64_t{1} << 20;
    absl::StatusOr<v1::CapabilitiesResponse> caps = client_.Capabilities();
    if (!caps.ok()) return caps.status();
    if (caps->limits().stream_chunk_bytes() > 0) {
      chunk_bytes = std::min(chunk_bytes, caps->limits().stream_chunk_bytes());
    }
  }
  std::error_code ec;
  TransferProgress p;
  p.expected_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) p.expected_bytes = -1;
  auto context = StreamContext();
  v1::ImportResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ImportChunk>> writer =
      client_.admin().Import(context.get(), &response);
  std::string buffer(static_cast<size_t>(chunk_bytes), '\0');
  absl::Status failed;
  while (true) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n == 0) {
      if (std::ferror(file.get())) failed = FileError("read", path);
      break;
    }
    v1::ImportChunk chunk;
    chunk.set_data(buffer.data(), n);
    // A failed write means the server has answered (usually refusing the
    // bundle); Finish below has its status.
    if (!writer->Write(chunk)) break;
    p.bytes += static_cast<int64_t>(n);
    if (progress) progress(p);
  }
  if (!failed.ok()) context->TryCancel();
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!failed.ok()) return failed;
  if (!status.ok()) return client_.ToStatus(status, "Import");
  p.done = true;
  if (progress) progress(p);
  return response;
}

absl::StatusOr<std::string> AdminClient::ResolveKey(const std::string& prefix) {
  std::string lower = absl::AsciiStrToLower(prefix);
  if (lower.size() == 64) return lower;
  if (lower.size() < 6 || lower.size() > 64 ||
      lower.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", prefix,
        "' is not an artifact key (64 hex characters, or a unique prefix of "
        "at least 6)"));
  }
  v1::ListRequest request;
  request.set_page_size(1000);
  int64_t total = 0;
  absl::StatusOr<std::vector<v1::ArtifactInfo>> all =
      ListAll(request, 0, &total);
  if (!all.ok()) return all.status();
  std::vector<std::string> matches;
  for (const v1::ArtifactInfo& info : *all) {
    if (absl::StartsWith(info.artifact_key(), lower)) {
      matches.push_back(info.artifact_key());
    }
  }
  if (matches.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no entry's artifact key starts with ", lower));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prefix ", lower, " matches ", matches.size(),
                     " entries; give more characters"));
  }
  return matches[0];
}

}  // namespace kiln::client
