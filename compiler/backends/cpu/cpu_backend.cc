// The "cpu" backend: plans a graph (kernels, library calls, views,
// reference fallbacks, buffers), generates one C++ source for all its
// kernels, builds it with the host compiler into one shared object and
// loads it. The artifact (plan.proto's Artifact) carries the plan, the
// graph and the object's bytes.
#include "compiler/backends/cpu/cpu_backend.h"

#include <chrono>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/backends/cpu/cpu_executable.h"
#include "compiler/backends/cpu/cpu_target.h"
#include "compiler/backends/cpu/host_compiler.h"
#include "compiler/backends/cpu/library.h"
#include "compiler/backends/cpu/shared_object.h"
#include "compiler/backends/graph_info.h"
#include "compiler/ir/text.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pipeline.h"

namespace kiln::cpu {
namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr char kName[] = "cpu";

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// Whether every output of `node` is a view of an argument.
bool IsView(const ir::Node& node) {
  if (node.op().category() == ops::OpCategory::kView) return true;
  bool any = false;
  for (int i = 0; i < node.num_outputs(); ++i) {
    if (node.output(i) == nullptr) continue;
    if (backends::GraphInfo::AliasedArg(node, i) < 0) return false;
    any = true;
  }
  // Mutating ops alias their output too, but they write: not views.
  for (const ops::SchemaArgument& a : node.op().schema().arguments) {
    if (a.is_mutable()) return false;
  }
  return any;
}

// Targets this host can run: its own and every lesser x86-64 level.
bool HostRuns(const std::string& target) {
  std::string host = HostTarget();
  if (target == host) return true;
  const char* order[] = {"cpu-x86_64", "cpu-x86_64-sse4", "cpu-x86_64-avx2",
                         "cpu-x86_64-avx512"};
  int h = -1, t = -1;
  for (int i = 0; i < 4; ++i) {
    if (host == order[i]) h = i;
    if (target == order[i]) t = i;
  }
  return h >= 0 && t >= 0 && t <= h;
}

// Assigns buffers to the values the plan's kernels and library calls write:
// values whose lifetimes do not overlap share a buffer; values a graph
// output reaches get buffers of their own, fresh each run.
void PlanBuffers(const backends::GraphInfo& info, plan::Plan* plan) {
  struct Slot {
    std::vector<int> values;
    bool escapes = false;
    int free_after = -1;  // the step index after which it is free
  };
  std::vector<Slot> slots;
  for (int s = 0; s < plan->steps_size(); ++s) {
    const plan::Step& step = plan->steps(s);
    if (step.kind() != plan::Step::KERNEL &&
        step.kind() != plan::Step::LIBRARY_CALL) {
      continue;
    }
    for (int v : step.outputs()) {
      if (std::find(step.in_place().begin(), step.in_place().end(), v) !=
          step.in_place().end()) {
        continue;
      }
      int last = std::max(info.last_use(v), step.node());
      if (info.escapes(v)) {
        Slot slot;
        slot.values.push_back(v);
        slot.escapes = true;
        slots.push_back(slot);
        continue;
      }
      int chosen = -1;
      for (size_t i = 0; i < slots.size(); ++i) {
        if (!slots[i].escapes && slots[i].free_after < step.node()) {
          chosen = static_cast<int>(i);
          break;
        }
      }
      if (chosen < 0) {
        slots.emplace_back();
        chosen = static_cast<int>(slots.size()) - 1;
      }
      slots[chosen].values.push_back(v);
      slots[chosen].free_after = last;
    }
    // Outputs of one step never share: mark them busy through this step.
    for (Slot& slot : slots) {
      if (!slot.escapes)
        slot.free_after = std::max(slot.free_after, step.node());
    }
  }
  for (const Slot& slot : slots) {
    plan::Buffer* b = plan->add_buffers();
    for (int v : slot.values) b->add_values(v);
    b->set_escapes(slot.escapes);
  }
}

// A kernel's code with its symbol and its leading comment (which names the
// node) taken out: equal texts compute the same thing.
std::string CanonicalKernelText(const KernelCode& code) {
  std::string text = code.source;
  if (absl::StartsWith(text, "//")) {
    size_t nl = text.find('\n');
    text = nl == std::string::npos ? "" : text.substr(nl + 1);
  }
  return absl::StrReplaceAll(text, {{code.symbol, "@"}});
}

class CpuBackend : public backends::Backend {
 public:
  std::string_view name() const override { return kName; }

  absl::StatusOr<std::unique_ptr<backends::Executable>> Compile(
      const ir::Graph& input,
      const backends::CompileOptions& options) const override {
    return CompileCpu(input, options);
  }

  absl::StatusOr<std::unique_ptr<backends::Executable>> Load(
      std::string_view bytes,
      const backends::LoadOptions& options) const override {
    return LoadCpu(bytes, options);
  }
};

KILN_REGISTER_BACKEND(kName, CpuBackend);

}  // namespace

absl::StatusOr<PlannedGraph> PlanGraph(const ir::Graph& graph,
                                       bool vector_math) {
  PlannedGraph out;
  backends::GraphInfo info(graph);
  plan::Plan& plan = out.plan;
  std::string source = SourcePreamble(vector_math);
  absl::flat_hash_map<std::string, int> kernel_by_text;
  for (const auto& node_ptr : graph.nodes()) {
    const ir::Node& node = *node_ptr;
    plan::Step* step = plan.add_steps();
    step->set_node(node.index());
    auto add_outputs = [&] {
      for (int i = 0; i < node.num_outputs(); ++i) {
        if (node.output(i)) step->add_outputs(info.id(node.output(i)));
      }
    };
    if (IsView(node)) {
      step->set_kind(plan::Step::VIEW);
      add_outputs();
      continue;
    }
    std::string lib = LibraryFunctionFor(node.op());
    if (!lib.empty()) {
      step->set_kind(plan::Step::LIBRARY_CALL);
      step->set_function(lib);
      add_outputs();
      for (const ir::Value* v : node.Operands()) {
        if (v->is_tensor()) step->add_inputs(info.id(v));
      }
      ++out.num_library_calls;
      continue;
    }
    if (const KernelEmitFn* emit =
            KernelEmitterRegistry::Global().Find(node.op())) {
      EmitContext ctx{info, node, absl::StrCat("kiln_k", plan.kernels_size())};
      auto code = (*emit)(ctx);
      if (code.ok()) {
        // Kernels with the same code (sizes are run-time arguments) are
        // generated once.
        std::string key = CanonicalKernelText(*code);
        auto [it, fresh] = kernel_by_text.emplace(key, plan.kernels_size());
        if (fresh) {
          plan::Kernel* k = plan.add_kernels();
          k->set_symbol(code->symbol);
          k->set_kind(code->kind);
          absl::StrAppend(&source, "\n", code->source);
          out.kernel_sources.push_back(code->source);
        }
        plan::Kernel* k = plan.mutable_kernels(it->second);
        for (int n : code->nodes) k->add_nodes(n);
        step->set_kind(plan::Step::KERNEL);
        step->set_kernel(it->second);
        for (int v : code->outputs) step->add_outputs(v);
        for (int v : code->inputs) step->add_inputs(v);
        for (const plan::IntArg& a : code->ints) *step->add_ints() = a;
        for (const plan::FloatArg& f : code->floats) *step->add_floats() = f;
        for (int v : code->in_place) step->add_in_place(v);
        step->set_row_dims(code->row_dims);
        continue;
      }
      if (code.status().code() != absl::StatusCode::kUnimplemented) {
        return absl::Status(
            code.status().code(),
            absl::StrFormat("nodes[%d] (%s): %s", node.index(),
                            node.op().name(), code.status().message()));
      }
    }
    if (!node.op().has_reference()) {
      return absl::UnimplementedError(
          absl::StrFormat("nodes[%d] (%s): the cpu backend cannot run this op",
                          node.index(), node.op().name()));
    }
    step->set_kind(plan::Step::REFERENCE);
    add_outputs();
    out.reference_ops.push_back(node.op().name());
  }
  PlanBuffers(info, &plan);
  for (const plan::Output& o : info.Outputs()) *plan.add_outputs() = o;
  for (int m : info.MutatedInputs()) plan.add_mutated_inputs(m);
  out.preamble = SourcePreamble(vector_math);
  out.source = std::move(source);
  return out;
}

absl::StatusOr<std::unique_ptr<backends::Executable>> CompileCpu(
    const ir::Graph& input, const backends::CompileOptions& options) {
  auto start = std::chrono::steady_clock::now();
  backends::CompileStats stats;
  std::string target = options.target.empty() ? HostTarget() : options.target;
  auto flags = FlagsForTarget(target);
  if (!flags.ok()) return flags.status();
  if (!HostRuns(target)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this host (", HostTarget(), ") cannot run target ", target));
  }

  auto t = std::chrono::steady_clock::now();
  if (auto st = ir::VerifyGraph(input); !st.ok()) return st;
  // The backend works on its own copy (passes rewrite it).
  std::string text = ir::PrintGraph(input);
  auto graph = ir::ParseGraph(text);
  if (!graph.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot copy the graph: ", graph.status().message()));
  }
  stats.verify_us = MicrosSince(t);

  t = std::chrono::steady_clock::now();
  if (options.run_passes) {
    passes::PipelineOptions po;
    po.verify = options.verify_passes;
    passes::Pipeline pipeline = passes::DefaultPipeline(po);
    auto changed = pipeline.Run(**graph);
    if (!changed.ok()) return changed.status();
  }
  stats.passes_us = MicrosSince(t);
  stats.graph_nodes = (*graph)->num_nodes();

  t = std::chrono::steady_clock::now();
  auto planned = PlanGraph(**graph, options.vector_math);
  if (!planned.ok()) return planned.status();
  if (options.source_hook) options.source_hook(planned->source);
  stats.codegen_us = MicrosSince(t);
  stats.num_kernels = planned->plan.kernels_size();
  for (const plan::Step& step : planned->plan.steps()) {
    if (step.kind() == plan::Step::KERNEL) ++stats.num_launches;
  }
  stats.num_library_calls = planned->num_library_calls;
  stats.source_bytes = static_cast<int64_t>(planned->source.size());

  plan::Artifact artifact;
  artifact.set_format_version(kFormatVersion);
  artifact.set_backend(kName);
  artifact.set_target(target);
  artifact.set_graph_text(ir::PrintGraph(**graph));
  *artifact.mutable_plan() = std::move(planned->plan);
  std::string toolchain = HostCompilerVersion(options.host_compiler);
  for (const std::string& f : *flags) absl::StrAppend(&toolchain, " ", f);
  artifact.set_toolchain(toolchain);
  if (artifact.plan().kernels_size() > 0) {
    t = std::chrono::steady_clock::now();
    HostCompileOptions hc;
    hc.compiler = options.host_compiler;
    hc.flags = *flags;
    if (options.vector_math && target.rfind("cpu-x86_64", 0) == 0) {
      hc.libs.push_back("-lmvec");
    }
    hc.timeout = options.host_compiler_timeout;
    hc.jobs = options.host_compiler_jobs > 0
                  ? options.host_compiler_jobs
                  : std::max(1u, std::thread::hardware_concurrency());
    // Large graphs build as several translation units in parallel (each
    // with the preamble), small ones as one.
    constexpr int kKernelsPerUnit = 24;
    int n = static_cast<int>(planned->kernel_sources.size());
    int units =
        std::min<int>(hc.jobs * 2, (n + kKernelsPerUnit - 1) / kKernelsPerUnit);
    absl::StatusOr<std::string> object;
    if (options.source_hook || units <= 1) {
      object = CompileSharedObject(planned->source, hc);
    } else {
      std::vector<std::string> sources(units, planned->preamble);
      for (int k = 0; k < n; ++k) {
        absl::StrAppend(&sources[k * units / n], "\n",
                        planned->kernel_sources[k]);
      }
      object = CompileSharedObject(sources, hc);
    }
    if (!object.ok()) return object.status();
    stats.host_compile_us = MicrosSince(t);
    stats.object_bytes = static_cast<int64_t>(object->size());
    artifact.set_shared_object_sha256(Sha256Hex(*object));
    artifact.set_shared_object(*std::move(object));
  }
  if (options.keep_source) artifact.set_source(planned->source);
  std::string bytes;
  if (!artifact.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the artifact");
  }
  backends::LoadOptions load;
  load.num_threads = options.num_threads;
  auto exe =
      CpuExecutable::Create(std::move(artifact), std::move(bytes), load, stats);
  if (!exe.ok()) return exe.status();
  (*exe)->set_total_us(MicrosSince(start));
  return std::unique_ptr<backends::Executable>(*std::move(exe));
}

absl::StatusOr<std::unique_ptr<backends::Executable>> LoadCpu(
    std::string_view bytes, const backends::LoadOptions& options) {
  auto start = std::chrono::steady_clock::now();
  plan::Artifact artifact;
  if (!artifact.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("not a kiln.plan.Artifact");
  }
  if (artifact.backend() != kName) {
    return absl::InvalidArgumentError(absl::StrCat("an artifact of backend '",
                                                   artifact.backend(),
                                                   "', not '", kName, "'"));
  }
  if (artifact.format_version() != kFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact format version ", artifact.format_version(),
                     " is not supported (expected ", kFormatVersion, ")"));
  }
  if (!HostRuns(artifact.target())) {
    return absl::FailedPreconditionError(
        absl::StrCat("the artifact was built for ", artifact.target(),
                     ", which this host (", HostTarget(), ") cannot run"));
  }
  backends::CompileStats stats;
  auto exe = CpuExecutable::Create(std::move(artifact), std::string(bytes),
                                   options, stats);
  if (!exe.ok()) return exe.status();
  (*exe)->set_total_us(MicrosSince(start));
  return std::unique_ptr<backends::Executable>(*std::move(exe));
}

}  // namespace kiln::cpu
