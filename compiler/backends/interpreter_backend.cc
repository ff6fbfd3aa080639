// The "interpreter" backend: the reference interpreter behind the Backend
// interface, so that one test body runs on every backend. Its artifact is
// the graph itself (Artifact.graph) with the output spec; loading it
// converts the graph again.
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/graph_info.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"

namespace kiln::backends {
namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr char kName[] = "interpreter";

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

class InterpreterExecutable : public Executable {
 public:
  static absl::StatusOr<std::unique_ptr<Executable>> Create(
      std::string_view graph_text,
      std::chrono::steady_clock::time_point start) {
    auto graph = ir::ParseGraph(graph_text);
    CompileStats stats;
    if (!graph.ok()) return graph.status();
    auto exe = std::unique_ptr<InterpreterExecutable>(
        new InterpreterExecutable(*std::move(graph), stats));
    GraphInfo info(*exe->graph_);
    for (const plan::Output& o : info.Outputs()) {
      exe->aliases_.push_back(OutputAlias{o.aliases_input()});
    }
    exe->mutated_ = info.MutatedInputs();
    exe->stats_.total_us = MicrosSince(start);
    return std::unique_ptr<Executable>(std::move(exe));
  }

  absl::StatusOr<std::vector<RuntimeValue>> Run(
      const std::vector<RuntimeValue>& inputs) const override {
    return interp::RunGraph(*graph_, inputs);
  }

  absl::StatusOr<std::string> Serialize() const override {
    plan::Artifact artifact;
    artifact.set_format_version(kFormatVersion);
    artifact.set_backend(kName);
    artifact.set_target(kName);
    artifact.set_graph_text(ir::PrintGraph(*graph_));
    GraphInfo info(*graph_);
    for (const plan::Output& o : info.Outputs()) {
      *artifact.mutable_plan()->add_outputs() = o;
    }
    for (int m : mutated_) artifact.mutable_plan()->add_mutated_inputs(m);
    std::string bytes;
    if (!artifact.SerializeToString(&bytes)) {
      return absl::InternalError("cannot serialize the artifact");
    }
    return bytes;
  }

  const std::vector<OutputAlias>& output_aliases() const override {
    return aliases_;
  }
  const std::vector<int>& mutated_inputs() const override { return mutated_; }
  const CompileStats& stats() const override { return stats_; }
  const std::string& target() const override { return target_; }

 private:
  InterpreterExecutable(std::unique_ptr<ir::Graph> graph, CompileStats stats)
      : graph_(std::move(graph)), stats_(stats) {}

  std::unique_ptr<ir::Graph> graph_;
  CompileStats stats_;
  std::vector<OutputAlias> aliases_;
  std::vector<int> mutated_;
  std::string target_ = kName;
};

class InterpreterBackend : public Backend {
 public:
  std::string_view name() const override { return kName; }

  absl::StatusOr<std::unique_ptr<Executable>> Compile(
      const ir::Graph& graph, const CompileOptions& options) const override {
    return InterpreterExecutable::Create(ir::PrintGraph(graph),
                                         std::chrono::steady_clock::now());
  }

  absl::StatusOr<std::unique_ptr<Executable>> Load(
      std::string_view bytes, const LoadOptions& options) const override {
    auto start = std::chrono::steady_clock::now();
    plan::Artifact artifact;
    if (!artifact.ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
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
    return InterpreterExecutable::Create(artifact.graph_text(), start);
  }
};

KILN_REGISTER_BACKEND(kName, InterpreterBackend);

}  // namespace
}  // namespace kiln::backends
