// kiln.v1.Compiler: Compile, Lookup, GetArtifact and Capabilities. The
// execution rpcs are in compiler_service_execute.cc.
#include "server/compiler_service.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cache/graph_digest.h"
#include "cache/guards/guard_set.h"
#include "cache/keys.h"
#include "compiler/backends/cpu/cpu_target.h"
#include "compiler/backends/cuda/cuda_probe.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ops/op_def.h"
#include "kiln/version.h"
#include "server/compile_pipeline.h"
#include "server/grpc_status.h"
#include "server/request_validation.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr v1::DType kAllDTypes[] = {
    v1::FLOAT16, v1::BFLOAT16, v1::FLOAT32, v1::FLOAT64, v1::INT8,
    v1::INT16,   v1::INT32,    v1::INT64,   v1::UINT8,   v1::BOOL};

// Executables kept loaded for Execute.
constexpr int kLoadedExecutables = 64;
// Shared-memory regions registered at once.
constexpr int kMaxSharedMemoryRegions = 1024;

// The suffix of every target string: compiler version and operator salt.
std::string TargetSuffix() {
  return absl::StrCat("-k", kCompilerVersion, "-salt", kDefaultSalt);
}

int64_t Micros(absl::Duration d) { return absl::ToInt64Microseconds(d); }

// The call's deadline for the cache (infinite when the client set none).
absl::Time DeadlineOf(const grpc::ServerContext* context) {
  auto deadline = context->deadline();
  if (deadline >=
      std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

void DescribeCompilingBackend(const std::string& name,
                              const std::string& target,
                              v1::BackendInfo* info) {
  info->set_name(name);
  info->set_target(target + TargetSuffix());
  info->set_available(true);
  info->add_devices("cpu");
  for (v1::DType d : kAllDTypes) info->add_dtypes(d);
  for (const ops::OpDef* op : ops::OpRegistry::Global().All()) {
    if (absl::StartsWith(op->name(), "kiln::")) continue;
    info->add_ops(op->name());
  }
  for (const std::string& key : OptionKeys(name)) info->add_option_keys(key);
}

}  // namespace

v1::CapabilitiesResponse DescribeCapabilities(const ServerConfig& config,
                                              const std::string& store_id) {
  v1::CapabilitiesResponse caps;
  caps.set_server_version(kServerVersion);
  caps.set_protocol_version(kProtocolVersion);

  DescribeCompilingBackend("cpu", cpu::HostTarget(), caps.add_backends());

  const cuda::CudaProbe& probe = cuda::ProbeCuda();
  v1::BackendInfo* gpu = caps.add_backends();
  gpu->set_name("cuda");
  gpu->set_available(false);
  if (probe.available) {
    gpu->set_target(
        absl::StrCat("cuda-", probe.devices[0].Arch(), TargetSuffix()));
    for (const cuda::CudaDevice& d : probe.devices) {
      gpu->add_devices(absl::StrFormat(
          "cuda:%d %s %s %.0f GiB", d.index, d.name, d.Arch(),
          static_cast<double>(d.total_memory_bytes) / (1 << 30)));
    }
    for (v1::DType d : kAllDTypes) gpu->add_dtypes(d);
    gpu->set_reason("this kiln-server has no cuda code generator yet");
  } else {
    gpu->set_reason(probe.reason);
  }

  // The reference interpreter: slow to run, instant to compile.
  DescribeCompilingBackend("interpreter", "interpreter", caps.add_backends());

  v1::Limits* limits = caps.mutable_limits();
  limits->set_max_message_bytes(config.max_message_bytes);
  limits->set_max_tensor_bytes(config.limits.max_tensor_bytes);
  limits->set_max_graph_nodes(config.limits.max_graph_nodes);
  limits->set_max_inputs(config.limits.max_inputs);
  // A chunk and its framing must fit in one message.
  int64_t framing = std::min<int64_t>(64 << 10, config.max_message_bytes / 4);
  limits->set_stream_chunk_bytes(
      std::max<int64_t>(1, std::min(config.limits.stream_chunk_bytes,
                                    config.max_message_bytes - framing)));
  limits->set_recompile_limit(config.limits.recompile_limit);
  limits->set_max_compile_queue(config.limits.max_compile_queue);
  limits->set_max_sym_expr_depth(config.limits.max_sym_expr_depth);
  // gRPC's own message compressors, which every kiln-server accepts.
  caps.add_compressors("gzip");
  caps.add_compressors("deflate");
  caps.set_shared_memory_allowed(config.allow_client_shm);
  caps.set_store_id(store_id);
  return caps;
}

CompilerService::CompilerService(const ServerConfig& config,
                                 const std::string& store_id,
                                 cache::ArtifactCache* cache)
    : config_(config),
      capabilities_(DescribeCapabilities(config, store_id)),
      cache_(cache),
      executables_(
          std::make_unique<ExecutableCache>(cache, kLoadedExecutables)),
      shared_memory_(std::make_unique<SharedMemoryRegistry>(
          config.allow_client_shm, kMaxSharedMemoryRegions)),
      execution_slots_(std::make_unique<ExecutionSlots>(
          std::max(1, static_cast<int>(std::thread::hardware_concurrency())))) {
  execution_env_.executables = executables_.get();
  execution_env_.shared_memory = shared_memory_.get();
  execution_env_.slots = execution_slots_.get();
  execution_env_.limits = config.limits;
  execution_env_.max_message_bytes = config.max_message_bytes;
}

CompilerService::~CompilerService() = default;

absl::Status CompilerService::DoCompile(grpc::ServerContext* context,
                                        const v1::CompileRequest& request,
                                        v1::CompileResponse* response) {
  auto start = Clock::now();
  if (!request.has_graph()) {
    return absl::InvalidArgumentError("graph: required");
  }
  if (!request.has_guards()) {
    return absl::InvalidArgumentError(
        "guards: required (the GuardContext the artifact will be valid "
        "under)");
  }
  if (!request.has_target()) {
    return absl::InvalidArgumentError(
        "target: required (e.g. backend \"cpu\")");
  }
  if (absl::Status s = CheckGraphLimits(request.graph(), config_.limits);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<ResolvedTarget> target =
      ResolveTargetSpec(request.target(), "target");
  if (!target.ok()) return target.status();
  absl::StatusOr<v1::Graph> canonical =
      cache::CanonicalizeGraph(request.graph());
  if (!canonical.ok()) return canonical.status();
  absl::StatusOr<std::shared_ptr<const cache::GuardSet>> guards =
      cache::GuardSet::Create(request.guards(), GuardLimitsOf(config_.limits));
  if (!guards.ok()) return guards.status();
  if (absl::Status s =
          CheckGuardsMatchGraph((*guards)->canonical(), *canonical);
      !s.ok()) {
    return s;
  }

  cache::CompileKey key;
  key.graph_digest =
      cache::Sha256Hex(cache::SerializeDeterministic(*canonical));
  key.target = target->target;
  key.guards = *guards;
  auto graph = std::make_shared<const v1::Graph>(*std::move(canonical));
  GraphLimits limits;
  limits.max_nodes = static_cast<int>(config_.limits.max_graph_nodes);
  limits.max_inputs = static_cast<int>(config_.limits.max_inputs);
  limits.max_expr_depth = static_cast<int>(config_.limits.max_sym_expr_depth);
  cache::CompileFn compile = [graph, resolved = *target,
                              limits](const cache::CompileContext& c) {
    return CompileGraph(*graph, resolved, limits, &c);
  };
  cache::GetOrCompileOptions options;
  options.client_id = request.client_id();
  options.bypass_cache = request.bypass_cache();
  options.deadline = DeadlineOf(context);
  options.cancelled = [context] { return context->IsCancelled(); };

  absl::StatusOr<cache::GetOrCompileResult> result =
      cache_->GetOrCompile(key, std::move(compile), options);
  if (!result.ok()) {
    const absl::Status& s = result.status();
    if (s.code() == absl::StatusCode::kResourceExhausted &&
        !cache::IsRecompileLimit(s) &&
        absl::StrContains(s.message(), "compile queue is full")) {
      absl::Status busy = absl::ResourceExhaustedError(absl::StrCat(
          s.message(),
          "; the server is busy compiling: retry in a second or two "
          "(Limits.max_compile_queue)"));
      busy.SetPayload(kRetryAfterPayload, absl::Cord("1000"));
      return busy;
    }
    return s;
  }
  if (request.bypass_cache())
    executables_->Forget(result->artifact.artifact_key());

  const cache::ArtifactHandle& artifact = result->artifact;
  response->set_artifact_key(artifact.artifact_key());
  response->set_graph_digest(artifact.graph_digest());
  response->set_guards_digest(artifact.guards_digest());
  response->set_target(artifact.target());
  response->set_cache_hit(result->cache_hit);
  *response->mutable_output_spec() = artifact.output_spec();
  for (v1::DynamicDimHint& hint : result->dynamic_hints) {
    *response->add_dynamic_hints() = std::move(hint);
  }
  response->set_entry_index(result->entry_index);
  v1::CompileTimings* timings = response->mutable_timings();
  timings->set_lookup_us(Micros(result->lookup_time));
  timings->set_queue_us(Micros(result->queue_time));
  timings->set_compile_us(Micros(result->compile_time));
  timings->set_store_us(Micros(result->store_time));
  timings->set_total_us(MicrosSince(start));
  spdlog::debug("Compile {}: {} ({}) for client '{}' in {} us",
                artifact.artifact_key(),
                result->cache_hit
                    ? "hit"
                    : (result->shared_compile ? "shared compile" : "compiled"),
                artifact.target(), request.client_id(), timings->total_us());
  return absl::OkStatus();
}

grpc::Status CompilerService::Compile(grpc::ServerContext* context,
                                      const v1::CompileRequest* request,
                                      v1::CompileResponse* response) {
  return FinishCall(context, DoCompile(context, *request, response));
}

absl::Status CompilerService::DoLookup(const v1::LookupRequest& request,
                                       v1::LookupResponse* response) {
  if (!request.has_target()) {
    return absl::InvalidArgumentError(
        "target: required (e.g. backend \"cpu\")");
  }
  absl::StatusOr<ResolvedTarget> target =
      ResolveTargetSpec(request.target(), "target");
  if (!target.ok()) return target.status();
  std::string digest;
  switch (request.graph_key_case()) {
    case v1::LookupRequest::kGraphDigest:
      if (!cache::IsHexDigest(request.graph_digest())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "graph_digest: expected 64 lowercase hex characters, got '",
            request.graph_digest().substr(0, 80), "'"));
      }
      digest = request.graph_digest();
      break;
    case v1::LookupRequest::kGraph: {
      if (absl::Status s = CheckGraphLimits(request.graph(), config_.limits);
          !s.ok()) {
        return s;
      }
      absl::StatusOr<std::string> d = cache::GraphDigest(request.graph());
      if (!d.ok()) return d.status();
      digest = *std::move(d);
      break;
    }
    case v1::LookupRequest::GRAPH_KEY_NOT_SET:
      return absl::InvalidArgumentError(
          "graph_key: required (graph_digest from an earlier Compile, or the "
          "graph itself)");
  }
  if (!request.has_signature()) {
    return absl::InvalidArgumentError(
        "signature: required (the call's CallSignature)");
  }
  cache::LookupOptions options;
  options.explain = request.explain();
  options.client_id = request.client_id();
  absl::StatusOr<v1::LookupResponse> found =
      cache_->Lookup(digest, target->target, request.signature(), options);
  if (!found.ok()) return found.status();
  *response = *std::move(found);
  return absl::OkStatus();
}

grpc::Status CompilerService::Lookup(grpc::ServerContext* context,
                                     const v1::LookupRequest* request,
                                     v1::LookupResponse* response) {
  return FinishCall(context, DoLookup(*request, response));
}

absl::Status CompilerService::DoGetArtifact(
    const v1::GetArtifactRequest& request, v1::GetArtifactResponse* response) {
  const std::string& key = request.artifact_key();
  if (!cache::IsHexDigest(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact_key: expected 64 lowercase hex characters, "
                     "got '",
                     key.substr(0, 80), "'"));
  }
  // Tooling reads do not count as a use (ArtifactInfo.last_used_unix_ms).
  cache::ReadArtifactOptions read;
  read.touch = false;
  absl::StatusOr<std::optional<cache::ArtifactHandle>> handle =
      cache_->ReadArtifact(key, read);
  if (!handle.ok()) return handle.status();
  std::optional<v1::ArtifactInfo> info = cache_->GetInfo(key);
  if (!handle->has_value() || !info.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("artifact_key: no artifact ", key, " on this server"));
  }
  absl::StatusOr<envelope::ArtifactEnvelope> env =
      ParseEnvelope((*handle)->payload());
  if (!env.ok()) return env.status();
  *response->mutable_info() = *std::move(info);
  plan::Artifact artifact;
  if (artifact.ParseFromString(env->executable())) {
    std::string binary = std::move(*artifact.mutable_shared_object());
    artifact.clear_shared_object();
    response->set_plan(artifact.SerializeAsString());
    if (request.include_binary()) response->set_binary(std::move(binary));
  } else {
    response->set_plan(env->executable());
  }
  int64_t size = static_cast<int64_t>(response->ByteSizeLong());
  if (size > config_.max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the artifact is %d bytes on the wire, over the limit of %d "
        "(Limits.max_message_bytes)%s",
        size, config_.max_message_bytes,
        request.include_binary() ? "; ask without include_binary" : ""));
  }
  return absl::OkStatus();
}

grpc::Status CompilerService::GetArtifact(grpc::ServerContext* context,
                                          const v1::GetArtifactRequest* request,
                                          v1::GetArtifactResponse* response) {
  return FinishCall(context, DoGetArtifact(*request, response));
}

grpc::Status CompilerService::Capabilities(grpc::ServerContext*,
                                           const v1::CapabilitiesRequest*,
                                           v1::CapabilitiesResponse* response) {
  *response = capabilities_;
  return grpc::Status::OK;
}

grpc::Status CompilerService::FinishCall(grpc::ServerContext* context,
                                         const absl::Status& status) {
  if (!status.ok()) {
    if (absl::optional<absl::Cord> failure =
            status.GetPayload(kGuardFailurePayload)) {
      context->AddTrailingMetadata(kGuardFailureMetadata,
                                   std::string(*failure));
    }
    if (absl::optional<absl::Cord> retry =
            status.GetPayload(kRetryAfterPayload)) {
      context->AddTrailingMetadata(kRetryAfterMetadata, std::string(*retry));
    }
  }
  return ToGrpcStatus(status);
}

}  // namespace kiln::server
