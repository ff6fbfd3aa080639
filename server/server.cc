#include "server/server.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cache/artifact_cache.h"
#include "cache/store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "kiln/version.h"
#include "server/auth.h"
#include "server/cache_admin_service.h"
#include "server/call_observer.h"
#include "server/compiler_service.h"
#include "server/metrics.h"
#include "server/request_log.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

// gRPC's own diagnostics go through spdlog, so they follow --log-format and
// do not interleave unformatted lines with ours.
void GrpcLogToSpdlog(gpr_log_func_args* args) {
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      spdlog::warn("grpc: {}", args->message);
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::debug("grpc: {}", args->message);
      break;
    default:
      spdlog::trace("grpc: {}", args->message);
  }
}

// "127.0.0.1:0" + 41235 -> "127.0.0.1:41235".
std::string BoundAddress(const std::string& listen, int port) {
  if (listen.rfind("unix:", 0) == 0) return listen;
  size_t colon = listen.rfind(':');
  return absl::StrCat(listen.substr(0, colon), ":", port);
}

constexpr int kMinClientPingIntervalMs = 10 * 1000;
constexpr int kServerPingIntervalMs = 60 * 1000;
constexpr int kServerPingTimeoutMs = 20 * 1000;

constexpr const char* kServiceNames[] = {"kiln.v1.Compiler",
                                         "kiln.v1.CacheAdmin"};

}  // namespace

absl::StatusOr<std::unique_ptr<KilnServer>> KilnServer::Create(
    const ServerConfig& config) {
  gpr_set_log_function(GrpcLogToSpdlog);
  std::unique_ptr<KilnServer> self(new KilnServer());
  self->config_ = config;

  spdlog::info("kiln-server {} ({}) starting; data dir '{}'", kServerVersion,
               kProtocolVersion, config.data_dir);
  // Metrics first: a metrics address that cannot be bound fails the start
  // before the store is opened.
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(config.metrics_listen);
  if (!metrics.ok()) return metrics.status();
  self->metrics_ = *std::move(metrics);
  cache::ArtifactCacheOptions cache_options;
  cache_options.store.data_dir = config.data_dir;
  cache_options.store.sync_writes = config.sync_writes;
  cache_options.max_bytes = config.cache_max_bytes;
  cache_options.recompile_limit =
      static_cast<int>(config.limits.recompile_limit);
  cache_options.max_pending_compiles =
      static_cast<int>(config.limits.max_compile_queue);
  cache_options.compile_threads =
      config.compile_workers > 0
          ? config.compile_workers
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  absl::StatusOr<std::unique_ptr<cache::ArtifactCache>> cache =
      cache::ArtifactCache::Create(std::move(cache_options));
  if (!cache.ok()) return cache.status();
  self->cache_ = std::move(*cache);
  self->metrics_->AttachCache(self->cache_.get());
  spdlog::info("store open at '{}' (schema version {})",
               self->cache_->store().db_path(), cache::Store::kSchemaVersion);

  self->compiler_ = std::make_unique<CompilerService>(
      config, self->cache_->store().store_id(), self->cache_.get());
  // Bundle chunks are as large as Capabilities advertises (what fits in one
  // message with --max-message-bytes).
  CacheAdminOptions admin_options;
  admin_options.stream_chunk_bytes = self->compiler_->chunk_bytes();
  self->admin_ =
      std::make_unique<CacheAdminService>(self->cache_.get(), admin_options);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<const TokenSet> tokens;
  if (!config.token_file.empty()) {
    absl::StatusOr<TokenSet> loaded = TokenSet::Load(config.token_file);
    if (!loaded.ok()) return loaded.status();
    tokens = std::make_shared<const TokenSet>(*std::move(loaded));
  }
  ServerMetrics* server_metrics = self->metrics_.get();
  self->authorizer_ = std::make_unique<Authorizer>(
      std::move(tokens), [server_metrics](const RejectedCall& call) {
        RequestRecord record;
        record.method = std::string(absl::StripPrefix(call.method_path, "/"));
        record.code = call.status.code() == absl::StatusCode::kPermissionDenied
                          ? "PERMISSION_DENIED"
                          : "UNAUTHENTICATED";
        record.error = std::string(call.status.message());
        record.client = call.client;
        server_metrics->CallRefused(call.method_path, record.code);
        LogRequest(record);
      });
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config, self->authorizer_.get());
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(config.listen, *credentials, &port);
  // Two servers must never share a port: gRPC's default SO_REUSEPORT would
  // let a second kiln-server bind silently and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive (docs/operations.md): clients may ping every 10 s or more,
  // also between calls, without being sent away for "too many pings"; the
  // server pings connections idle for a minute to find dead peers.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      kMinClientPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kServerPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             kServerPingTimeoutMs);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<CallObserverFactory>(self->metrics_.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  builder.RegisterService(self->compiler_.get());
  builder.RegisterService(self->admin_.get());
  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", config.listen,
                     "': the address is in use, not local or invalid"));
  }
  self->address_ = BoundAddress(config.listen, port);
  grpc::HealthCheckServiceInterface* health =
      self->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  for (const char* name : kServiceNames) health->SetServingStatus(name, true);
  if (!self->metrics_->address().empty()) {
    spdlog::info("metrics on http://{}/metrics", self->metrics_->address());
  }
  spdlog::info("transport: {}; {}",
               config.tls_cert.empty()        ? "plaintext"
               : config.tls_client_ca.empty() ? "TLS"
                                              : "mutual TLS (client "
                                                "certificates required)",
               self->authorizer_->enabled()
                   ? "bearer tokens required (" + config.token_file + ")"
                   : std::string("no bearer tokens (--token-file not set)"));
  // The last start-up line: tools wait for it.
  spdlog::info("serving on {}", self->address_);
  return self;
}

KilnServer::~KilnServer() {
  if (!shut_down_) {
    absl::Status s = Shutdown(absl::ZeroDuration());
    if (!s.ok()) spdlog::error("shutdown: {}", s.ToString());
  }
}

absl::Status KilnServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  if (server_ != nullptr) {
    // Watchers see NOT_SERVING before the listener closes.
    grpc::HealthCheckServiceInterface* health =
        server_->GetHealthCheckService();
    health->SetServingStatus(false);
    for (const char* name : kServiceNames) {
      health->SetServingStatus(name, false);
    }
    // gRPC's graceful shutdown also waits for idle client connections to
    // go away, which can take seconds after the last call. Once no call is
    // running any more (Shutdown stops new ones), the idle connections are
    // closed at once; calls still running at the deadline are cancelled.
    absl::Time deadline = absl::Now() + grace;
    std::thread drain(
        [this, deadline] { server_->Shutdown(absl::ToChronoTime(deadline)); });
    absl::Time started = absl::Now();
    while (absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
      bool drained = metrics_ == nullptr || metrics_->active_calls() == 0;
      if (drained && absl::Now() - started >= absl::Milliseconds(50)) {
        grpc_server_cancel_all_calls(server_->c_server());
        break;
      }
    }
    drain.join();
    server_->Wait();
    spdlog::info("gRPC server stopped");
  }
  if (cache_ == nullptr) return absl::OkStatus();
  if (metrics_ != nullptr) metrics_->DetachCache();
  absl::Status closed = cache_->Close();
  if (closed.ok()) spdlog::info("store closed");
  return closed;
}

void KilnServer::Reload() {
  if (config_.token_file.empty()) {
    spdlog::info("reload: no --token-file to re-read");
    return;
  }
  absl::StatusOr<TokenSet> tokens = TokenSet::Load(config_.token_file);
  if (!tokens.ok()) {
    spdlog::error("reload: keeping the previous tokens: {}",
                  std::string(tokens.status().message()));
    return;
  }
  size_t count = tokens->size();
  authorizer_->ReplaceTokens(
      std::make_shared<const TokenSet>(*std::move(tokens)));
  spdlog::info("reload: token file '{}' re-read ({} tokens)",
               config_.token_file, count);
}

void KilnServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace kiln::server
