// CacheAdmin: List, Get, Stats, Explain and Evict. Export and Import are in
// cache_admin_transfer.cc.
#include "server/cache_admin_service.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cache/entry_filter.h"
#include "cache/keys.h"
#include "server/compile_pipeline.h"
#include "server/grpc_status.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

absl::Status CheckArtifactKey(const std::string& key, const char* field) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  if (!cache::IsHexDigest(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected 64 lowercase hex characters, got '",
                     key.substr(0, 80), "'"));
  }
  return absl::OkStatus();
}

int64_t SortValue(const v1::ArtifactInfo& info,
                  v1::ListRequest::SortOrder sort) {
  switch (sort) {
    case v1::ListRequest::SIZE:
      return info.size_bytes();
    case v1::ListRequest::CREATED:
      return info.created_unix_ms();
    case v1::ListRequest::HITS:
      return info.hit_count();
    default:
      return info.last_used_unix_ms();
  }
}

// A position in a sorted listing: the sort value and key of the last entry
// a page showed.
struct Cursor {
  int64_t value = 0;
  std::string key;
};

// Ties one page token to one request: every field but the token.
std::string RequestFingerprint(const v1::ListRequest& request) {
  v1::ListRequest copy = request;
  copy.clear_page_token();
  return cache::Sha256Hex(cache::SerializeDeterministic(copy)).substr(0, 16);
}

std::string EncodeToken(const std::string& fingerprint, const Cursor& c) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(fingerprint, ".", c.value, ".", c.key));
}

absl::StatusOr<Cursor> DecodeToken(const std::string& token,
                                   const std::string& fingerprint) {
  auto invalid = [](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("page_token: ", why));
  };
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return invalid("not a page token of this server");
  }
  std::vector<std::string> parts = absl::StrSplit(raw, '.');
  Cursor c;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &c.value) ||
      !cache::IsHexDigest(parts[2])) {
    return invalid("not a page token of this server");
  }
  if (parts[0] != fingerprint) {
    return invalid(
        "belongs to another request (filter, sort, descending and page_size "
        "must stay the same from page to page)");
  }
  c.key = std::move(parts[2]);
  return c;
}

absl::Status ValidateList(const v1::ListRequest& request) {
  if (absl::Status s = cache::ValidateEntryFilter(request.filter(), "filter");
      !s.ok()) {
    return s;
  }
  if (!v1::ListRequest::SortOrder_IsValid(request.sort())) {
    return absl::InvalidArgumentError(
        absl::StrCat("sort: unknown sort order ", request.sort()));
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must not be negative, got ", request.page_size()));
  }
  if (request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: at most ", kMaxPageSize, ", got ", request.page_size()));
  }
  return absl::OkStatus();
}

}  // namespace

CacheAdminService::CacheAdminService(cache::ArtifactCache* cache,
                                     CacheAdminOptions options)
    : cache_(cache), options_(std::move(options)) {
  if (options_.spool_dir.empty()) {
    options_.spool_dir = cache_->store().data_dir();
  }
  for (const std::string& backend : KnownBackends()) {
    v1::TargetSpec spec;
    spec.set_backend(backend);
    absl::StatusOr<ResolvedTarget> resolved = ResolveTargetSpec(spec, "");
    if (resolved.ok()) runnable_[backend] = resolved->device_target;
  }
}

grpc::Status CacheAdminService::List(grpc::ServerContext*,
                                     const v1::ListRequest* request,
                                     v1::ListResponse* response) {
  if (absl::Status s = ValidateList(*request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string fingerprint = RequestFingerprint(*request);
  std::optional<Cursor> after;
  if (!request->page_token().empty()) {
    absl::StatusOr<Cursor> c = DecodeToken(request->page_token(), fingerprint);
    if (!c.ok()) return ToGrpcStatus(c.status());
    after = std::move(*c);
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<v1::ArtifactInfo> entries = cache_->ListArtifacts();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const v1::ArtifactInfo& info) {
                                 return !cache::EntryFilterMatches(
                                     request->filter(), info, now_ms);
                               }),
                entries.end());
  const v1::ListRequest::SortOrder sort = request->sort();
  const bool descending = request->descending();
  // A total order: (sort value, key), reversed as a whole when descending.
  auto before = [&](int64_t va, const std::string& ka, int64_t vb,
                    const std::string& kb) {
    return descending ? std::tie(vb, kb) < std::tie(va, ka)
                      : std::tie(va, ka) < std::tie(vb, kb);
  };
  std::sort(entries.begin(), entries.end(),
            [&](const v1::ArtifactInfo& a, const v1::ArtifactInfo& b) {
              return before(SortValue(a, sort), a.artifact_key(),
                            SortValue(b, sort), b.artifact_key());
            });
  response->set_total(static_cast<int64_t>(entries.size()));
  size_t start = 0;
  if (after.has_value()) {
    // The first entry past the cursor, so entries added or removed between
    // pages neither repeat nor shift the rest.
    start = std::partition_point(entries.begin(), entries.end(),
                                 [&](const v1::ArtifactInfo& info) {
                                   return !before(after->value, after->key,
                                                  SortValue(info, sort),
                                                  info.artifact_key());
                                 }) -
            entries.begin();
  }
  const size_t page_size =
      request->page_size() > 0 ? request->page_size() : kDefaultPageSize;
  const size_t end = std::min(entries.size(), start + page_size);
  for (size_t i = start; i < end; ++i) {
    *response->add_entries() = std::move(entries[i]);
  }
  if (end < entries.size() && end > start) {
    const v1::ArtifactInfo& last =
        response->entries(response->entries_size() - 1);
    response->set_next_page_token(EncodeToken(
        fingerprint, Cursor{SortValue(last, sort), last.artifact_key()}));
  }
  return grpc::Status::OK;
}

grpc::Status CacheAdminService::Get(grpc::ServerContext*,
                                    const v1::GetRequest* request,
                                    v1::GetResponse* response) {
  if (absl::Status s =
          CheckArtifactKey(request->artifact_key(), "artifact_key");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string& key = request->artifact_key();
  std::optional<v1::GetResponse> described = cache_->Describe(key);
  absl::StatusOr<std::optional<cache::ArtifactHandle>> handle =
      described.has_value()
          ? cache_->ReadArtifact(key, {.touch = false})
          : absl::StatusOr<std::optional<cache::ArtifactHandle>>(std::nullopt);
  if (!handle.ok()) return ToGrpcStatus(handle.status());
  if (!handle->has_value()) {
    return ToGrpcStatus(absl::NotFoundError(
        absl::StrCat("artifact_key: no entry with key ", key)));
  }
  *response = std::move(*described);
  absl::StatusOr<envelope::ArtifactEnvelope> env =
      ParseEnvelope((*handle)->payload());
  if (env.ok()) {
    response->set_graph_text(env->graph_text());
    response->set_optimized_graph_text(env->optimized_graph_text());
  } else {
    spdlog::warn("CacheAdmin.Get {}: {}", key, env.status().ToString());
  }
  return grpc::Status::OK;
}

grpc::Status CacheAdminService::Stats(grpc::ServerContext*,
                                      const v1::StatsRequest*,
                                      v1::StatsResponse* response) {
  *response = cache_->Stats();
  return grpc::Status::OK;
}

grpc::Status CacheAdminService::Explain(grpc::ServerContext*,
                                        const v1::ExplainRequest* request,
                                        v1::ExplainResponse* response) {
  if (request->graph_digest().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("graph_digest: required"));
  }
  std::string target;
  switch (request->target_key_case()) {
    case v1::ExplainRequest::kTarget:
      if (request->target().empty()) {
        return ToGrpcStatus(absl::InvalidArgumentError(
            "target: must not be empty (a target string as List shows it)"));
      }
      target = request->target();
      break;
    case v1::ExplainRequest::kTargetSpec: {
      absl::StatusOr<ResolvedTarget> resolved =
          ResolveTargetSpec(request->target_spec(), "target_spec");
      if (!resolved.ok()) return ToGrpcStatus(resolved.status());
      target = resolved->target;
      break;
    }
    case v1::ExplainRequest::TARGET_KEY_NOT_SET:
      return ToGrpcStatus(absl::InvalidArgumentError(
          "target: required (a target string, or target_spec)"));
  }
  if (!request->has_signature()) {
    return ToGrpcStatus(absl::InvalidArgumentError("signature: required"));
  }
  absl::StatusOr<v1::ExplainResponse> explained =
      cache_->Explain(request->graph_digest(), target, request->signature());
  if (!explained.ok()) return ToGrpcStatus(explained.status());
  *response = std::move(*explained);
  return grpc::Status::OK;
}

grpc::Status CacheAdminService::Evict(grpc::ServerContext* context,
                                      const v1::EvictRequest* request,
                                      v1::EvictResponse* response) {
  absl::StatusOr<v1::EvictResponse> evicted = cache_->Evict(*request);
  if (!evicted.ok()) return ToGrpcStatus(evicted.status());
  *response = std::move(*evicted);
  spdlog::info("CacheAdmin.Evict{} by {}: {} entries, {} bytes",
               request->dry_run() ? " (dry run)" : "", context->peer(),
               response->evicted_entries(), response->evicted_bytes());
  return grpc::Status::OK;
}

}  // namespace kiln::server
