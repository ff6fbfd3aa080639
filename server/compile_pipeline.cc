#include "server/compile_pipeline.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cache/keys.h"
#include "compiler/backends/cpu/cpu_target.h"
#include "compiler/backends/cuda/cuda_probe.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/fusion.h"
#include "compiler/ir/text.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pipeline.h"
#include "compiler/symbolic/expr.h"
#include "kiln/version.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// Applies one "true"/"false" option; INVALID_ARGUMENT for another value.
absl::Status ParseBoolOption(const std::string& path, const std::string& value,
                             bool* out) {
  if (value == "true") {
    *out = true;
  } else if (value == "false") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected \"true\" or \"false\", got \"", value, "\""));
  }
  return absl::OkStatus();
}

v1::ScalarKind ScalarKindToProto(ir::ScalarKind kind) {
  switch (kind) {
    case ir::ScalarKind::kInt:
      return v1::SCALAR_KIND_INT;
    case ir::ScalarKind::kFloat:
      return v1::SCALAR_KIND_FLOAT;
    case ir::ScalarKind::kBool:
      return v1::SCALAR_KIND_BOOL;
    case ir::ScalarKind::kString:
      return v1::SCALAR_KIND_STRING;
    case ir::ScalarKind::kNone:
      return v1::SCALAR_KIND_NONE;
  }
  return v1::SCALAR_KIND_UNSPECIFIED;
}

// The graph after the compiler's passes, as text: the CPU backend's
// artifact carries it; for other backends the default pipeline runs on a
// copy of the graph here.
std::string OptimizedGraphText(const std::string& backend,
                               const std::string& executable_bytes,
                               const std::string& graph_text,
                               int* optimized_nodes) {
  if (backend == "cpu") {
    plan::Artifact artifact;
    if (artifact.ParseFromString(executable_bytes) &&
        !artifact.graph_text().empty()) {
      return artifact.graph_text();
    }
  }
  absl::StatusOr<std::unique_ptr<ir::Graph>> copy = ir::ParseGraph(graph_text);
  if (!copy.ok()) return "";
  passes::Pipeline pipeline = passes::DefaultPipeline();
  if (absl::StatusOr<bool> changed = pipeline.Run(**copy); !changed.ok()) {
    spdlog::warn("passes on a copy of the graph failed: {}",
                 changed.status().ToString());
    return "";
  }
  *optimized_nodes = (*copy)->num_nodes();
  return ir::PrintGraph(**copy);
}

}  // namespace

const std::vector<std::string>& KnownBackends() {
  static const auto* names =
      new std::vector<std::string>{"cpu", "cuda", "interpreter"};
  return *names;
}

std::vector<std::string> OptionKeys(std::string_view backend) {
  if (backend == "cpu") return {"run_passes", "vector_math"};
  return {};
}

absl::StatusOr<ResolvedTarget> ResolveTargetSpec(const v1::TargetSpec& spec,
                                                 std::string_view path_view) {
  const std::string path(path_view);
  ResolvedTarget out;
  out.backend = spec.backend();
  const std::vector<std::string>& known = KnownBackends();
  if (spec.backend().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".backend: required (one of ", absl::StrJoin(known, ", "), ")"));
  }
  if (std::find(known.begin(), known.end(), spec.backend()) == known.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".backend: unknown backend '", spec.backend(),
                     "' (this server knows ", absl::StrJoin(known, ", "), ")"));
  }
  if (spec.backend() == "cuda") {
    const cuda::CudaProbe& probe = cuda::ProbeCuda();
    if (!probe.available) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ".backend: cuda is unavailable on this server (",
                       probe.reason, ")"));
    }
    if (spec.device_index() < 0 ||
        spec.device_index() >= static_cast<int>(probe.devices.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".device_index: ", spec.device_index(),
                       " is out of range (this server has ",
                       probe.devices.size(), " CUDA devices)"));
    }
    absl::StatusOr<std::unique_ptr<backends::Backend>> backend =
        backends::CreateBackend("cuda");
    if (!backend.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path,
          ".backend: this kiln-server has no cuda code generator yet; use "
          "cpu"));
    }
    out.device_target =
        absl::StrCat("cuda-", probe.devices[spec.device_index()].Arch());
  } else {
    if (spec.device_index() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".device_index: must be 0 for ", spec.backend(),
                       ", got ", spec.device_index()));
    }
    out.device_target =
        spec.backend() == "cpu" ? cpu::HostTarget() : spec.backend();
  }
  if (spec.backend() == "cpu") out.options.target = out.device_target;

  // Options at their default value do not change code: they are left out
  // of the target so that spelling a default does not split the cache.
  std::map<std::string, std::string> options;
  std::vector<std::string> keys = OptionKeys(spec.backend());
  for (const auto& [key, value] : spec.options()) {
    std::string option_path = absl::StrCat(path, ".options[", key, "]");
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          option_path, ": unknown option for ", spec.backend(), " (accepted: ",
          keys.empty() ? "none" : absl::StrJoin(keys, ", "), ")"));
    }
    bool* field = key == "run_passes" ? &out.options.run_passes
                                      : &out.options.vector_math;
    if (absl::Status s = ParseBoolOption(option_path, value, field); !s.ok()) {
      return s;
    }
    if (!*field) options[key] = value;
  }
  out.target = cache::ResolveTarget(out.device_target, options,
                                    kCompilerVersion, kDefaultSalt);
  return out;
}

v1::OutputSpec OutputSpecOf(const ir::Graph& graph,
                            const backends::Executable& executable) {
  v1::OutputSpec spec;
  const std::vector<backends::OutputAlias>& aliases =
      executable.output_aliases();
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    const ir::Arg& out = graph.outputs()[i];
    v1::OutputInfo* info = spec.add_outputs();
    switch (out.kind) {
      case ir::Arg::Kind::kValue: {
        const ir::Value* v = out.value;
        if (v->is_tensor()) {
          info->set_kind(v1::OutputInfo::TENSOR);
          ir::TensorTypeToProto(v->type(), info->mutable_meta());
          if (i < aliases.size() && aliases[i].aliases_input >= 0) {
            info->set_aliases_input(aliases[i].aliases_input);
          }
        } else if (v->kind() == ir::Value::Kind::kSymInt) {
          info->set_kind(v1::OutputInfo::SYMINT);
          sym::ToProto(*v->symint(), info->mutable_symint());
        } else if (v->scalar_kind() == ir::ScalarKind::kNone) {
          info->set_kind(v1::OutputInfo::NONE);
        } else {
          info->set_kind(v1::OutputInfo::SCALAR);
          info->set_scalar_kind(ScalarKindToProto(v->scalar_kind()));
        }
        break;
      }
      case ir::Arg::Kind::kInt:
        info->set_kind(v1::OutputInfo::SYMINT);
        sym::ToProto(*out.i, info->mutable_symint());
        break;
      case ir::Arg::Kind::kFloat:
        info->set_kind(v1::OutputInfo::SCALAR);
        info->set_scalar_kind(v1::SCALAR_KIND_FLOAT);
        break;
      case ir::Arg::Kind::kBool:
        info->set_kind(v1::OutputInfo::SCALAR);
        info->set_scalar_kind(v1::SCALAR_KIND_BOOL);
        break;
      default:
        info->set_kind(v1::OutputInfo::NONE);
        break;
    }
  }
  for (int index : executable.mutated_inputs()) {
    spec.add_mutated_inputs()->set_input_index(index);
  }
  return spec;
}

absl::StatusOr<cache::CompiledArtifact> CompileGraph(
    const v1::Graph& graph, const ResolvedTarget& target,
    const GraphLimits& limits, const cache::CompileContext* context) {
  auto start = std::chrono::steady_clock::now();
  ir::ConvertOptions convert;
  convert.max_nodes = limits.max_nodes;
  convert.max_inputs = limits.max_inputs;
  convert.max_expr_depth = limits.max_expr_depth;
  absl::StatusOr<std::unique_ptr<ir::Graph>> ir =
      ir::GraphFromProto(graph, convert);
  if (!ir.ok()) return ir.status();
  if (absl::Status s = ir::VerifyGraph(**ir); !s.ok()) return s;
  if (context != nullptr && context->abandoned()) {
    return absl::CancelledError(
        "compile abandoned: no caller waits for it any more");
  }
  absl::StatusOr<std::unique_ptr<backends::Backend>> backend =
      backends::CreateBackend(target.backend);
  if (!backend.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backend ", target.backend,
        " is not built into this server: ", backend.status().message()));
  }
  absl::StatusOr<std::unique_ptr<backends::Executable>> executable =
      (*backend)->Compile(**ir, target.options);
  if (!executable.ok()) return executable.status();
  absl::StatusOr<std::string> bytes = (*executable)->Serialize();
  if (!bytes.ok()) return bytes.status();

  envelope::ArtifactEnvelope env;
  env.set_backend(target.backend);
  env.set_target(target.target);
  env.set_graph_text(ir::PrintGraph(**ir));
  const backends::CompileStats& stats = (*executable)->stats();
  int optimized_nodes = stats.graph_nodes;
  env.set_optimized_graph_text(OptimizedGraphText(
      target.backend, *bytes, env.graph_text(), &optimized_nodes));
  env.set_num_kernels(stats.num_kernels);
  env.set_num_launches(stats.num_launches);
  env.set_graph_nodes((*ir)->num_nodes());
  env.set_optimized_nodes(optimized_nodes);
  *env.mutable_executable() = std::move(*bytes);
  int64_t compile_us = MicrosSince(start);
  env.mutable_timings()->set_compile_us(compile_us);
  env.mutable_timings()->set_total_us(compile_us);

  cache::CompiledArtifact artifact;
  artifact.output_spec = OutputSpecOf(**ir, **executable);
  if (!env.SerializeToString(&artifact.payload)) {
    return absl::InternalError("cannot serialize the artifact envelope");
  }
  spdlog::info(
      "compiled artifact {} for {} in {:.1f} ms: {} nodes, {} after passes, "
      "{} kernels, {} launches, {} bytes",
      context != nullptr ? context->artifact_key() : std::string("(none)"),
      target.target, static_cast<double>(compile_us) / 1000, env.graph_nodes(),
      env.optimized_nodes(), env.num_kernels(), env.num_launches(),
      artifact.payload.size());
  return artifact;
}

absl::StatusOr<envelope::ArtifactEnvelope> ParseEnvelope(
    std::string_view payload) {
  envelope::ArtifactEnvelope env;
  if (!env.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      env.backend().empty()) {
    return absl::DataLossError(
        "the stored artifact is not an artifact envelope this server reads");
  }
  return env;
}

}  // namespace kiln::server
