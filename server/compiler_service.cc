#include "server/compiler_service.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/backends/cpu/cpu_target.h"
#include "compiler/backends/cuda/cuda_probe.h"
#include "kiln/version.h"
#include "server/grpc_status.h"
#include "server/unimplemented.h"

namespace kiln::server {
namespace {

constexpr v1::DType kAllDTypes[] = {
    v1::FLOAT16, v1::BFLOAT16, v1::FLOAT32, v1::FLOAT64, v1::INT8,
    v1::INT16,   v1::INT32,    v1::INT64,   v1::UINT8,   v1::BOOL};

// The suffix of every target string: compiler version and operator salt.
std::string TargetSuffix() {
  return absl::StrCat("-k", kCompilerVersion, "-salt", kDefaultSalt);
}

}  // namespace

v1::CapabilitiesResponse DescribeCapabilities(const ServerConfig& config,
                                              const std::string& store_id) {
  v1::CapabilitiesResponse caps;
  caps.set_server_version(kServerVersion);
  caps.set_protocol_version(kProtocolVersion);

  v1::BackendInfo* cpu = caps.add_backends();
  cpu->set_name("cpu");
  cpu->set_target(cpu::HostTarget() + TargetSuffix());
  cpu->set_available(true);
  cpu->add_devices("cpu");
  for (v1::DType d : kAllDTypes) cpu->add_dtypes(d);

  const cuda::CudaProbe& probe = cuda::ProbeCuda();
  v1::BackendInfo* gpu = caps.add_backends();
  gpu->set_name("cuda");
  gpu->set_available(probe.available);
  if (probe.available) {
    gpu->set_target(
        absl::StrCat("cuda-", probe.devices[0].Arch(), TargetSuffix()));
    for (const cuda::CudaDevice& d : probe.devices) {
      gpu->add_devices(absl::StrFormat(
          "cuda:%d %s %s %.0f GiB", d.index, d.name, d.Arch(),
          static_cast<double>(d.total_memory_bytes) / (1 << 30)));
    }
    for (v1::DType d : kAllDTypes) gpu->add_dtypes(d);
  } else {
    gpu->set_reason(probe.reason);
  }

  v1::Limits* limits = caps.mutable_limits();
  limits->set_max_message_bytes(config.max_message_bytes);
  limits->set_max_tensor_bytes(config.limits.max_tensor_bytes);
  limits->set_max_graph_nodes(config.limits.max_graph_nodes);
  limits->set_max_inputs(config.limits.max_inputs);
  limits->set_stream_chunk_bytes(config.limits.stream_chunk_bytes);
  limits->set_recompile_limit(config.limits.recompile_limit);
  limits->set_max_compile_queue(config.limits.max_compile_queue);
  limits->set_max_sym_expr_depth(config.limits.max_sym_expr_depth);
  caps.add_compressors("zstd");
  caps.set_shared_memory_allowed(false);
  caps.set_store_id(store_id);
  return caps;
}

CompilerService::CompilerService(const ServerConfig& config,
                                 const std::string& store_id,
                                 cache::ArtifactCache* cache)
    : capabilities_(DescribeCapabilities(config, store_id)), cache_(cache) {}

grpc::Status CompilerService::Compile(grpc::ServerContext*,
                                      const v1::CompileRequest*,
                                      v1::CompileResponse*) {
  return ToGrpcStatus(NotYet("Compile", Feature::kCompile));
}

grpc::Status CompilerService::Lookup(grpc::ServerContext*,
                                     const v1::LookupRequest*,
                                     v1::LookupResponse*) {
  return ToGrpcStatus(NotYet("Lookup", Feature::kGuardCache));
}

grpc::Status CompilerService::Execute(grpc::ServerContext*,
                                      const v1::ExecuteRequest*,
                                      v1::ExecuteResponse*) {
  return ToGrpcStatus(NotYet("Execute", Feature::kExecute));
}

grpc::Status CompilerService::ExecuteStream(
    grpc::ServerContext*, grpc::ServerReaderWriter<v1::ExecuteStreamResponse,
                                                   v1::ExecuteStreamRequest>*) {
  return ToGrpcStatus(NotYet("ExecuteStream", Feature::kExecute));
}

grpc::Status CompilerService::RegisterSharedMemory(
    grpc::ServerContext*, const v1::RegisterSharedMemoryRequest*,
    v1::RegisterSharedMemoryResponse*) {
  return ToGrpcStatus(NotYet("RegisterSharedMemory", Feature::kExecute));
}

grpc::Status CompilerService::UnregisterSharedMemory(
    grpc::ServerContext*, const v1::UnregisterSharedMemoryRequest*,
    v1::UnregisterSharedMemoryResponse*) {
  return ToGrpcStatus(NotYet("UnregisterSharedMemory", Feature::kExecute));
}

grpc::Status CompilerService::GetArtifact(grpc::ServerContext*,
                                          const v1::GetArtifactRequest*,
                                          v1::GetArtifactResponse*) {
  return ToGrpcStatus(NotYet("GetArtifact", Feature::kGuardCache));
}

grpc::Status CompilerService::Capabilities(grpc::ServerContext*,
                                           const v1::CapabilitiesRequest*,
                                           v1::CapabilitiesResponse* response) {
  *response = capabilities_;
  return grpc::Status::OK;
}

}  // namespace kiln::server
