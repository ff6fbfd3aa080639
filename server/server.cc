#include "server/server.h"

#include <grpc/support/log.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cache/artifact_cache.h"
#include "cache/store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "kiln/version.h"
#include "server/cache_admin_service.h"
#include "server/compiler_service.h"
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
  spdlog::info("store open at '{}' (schema version {})",
               self->cache_->store().db_path(), cache::Store::kSchemaVersion);

  self->compiler_ = std::make_unique<CompilerService>(
      config, self->cache_->store().store_id(), self->cache_.get());
  self->admin_ = std::make_unique<CacheAdminService>(self->cache_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // TLS arrives with the security feature; until then the server listens in
  // plaintext, which is why the default address is loopback.
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &port);
  // Two servers must never share a port: gRPC's default SO_REUSEPORT would
  // let a second kiln-server bind silently and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
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
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    spdlog::info("gRPC server stopped");
  }
  if (cache_ == nullptr) return absl::OkStatus();
  absl::Status closed = cache_->Close();
  if (closed.ok()) spdlog::info("store closed");
  return closed;
}

void KilnServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace kiln::server
