// The CPU backend's executable: a plan (plan.proto) over a graph, run with
// the kernels of one shared object.
//
// Running binds the graph's symbols from the inputs (interp::BindInputs),
// sizes the plan's buffers for this run, and executes the steps in order:
// generated kernels (through kernel_abi.h), library calls (library.h),
// views and reference implementations of ops without generated code.
// Intermediate buffers come from a pool of workspaces reused across runs;
// buffers that hold graph outputs are fresh each run and handed over.
//
// Threading: Run may be called from several threads at once (each run takes
// its own workspace). Immutable after Create.
#ifndef KILN_COMPILER_BACKENDS_CPU_CPU_EXECUTABLE_H_
#define KILN_COMPILER_BACKENDS_CPU_CPU_EXECUTABLE_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/backends/backend.h"
#include "compiler/backends/cpu/kernel_abi.h"
#include "compiler/backends/cpu/library.h"
#include "compiler/backends/cpu/shared_object.h"
#include "compiler/backends/graph_info.h"
#include "compiler/backends/plan.pb.h"

namespace kiln::cpu {

class CpuExecutable : public backends::Executable {
 public:
  // Builds the executable from an artifact (already parsed): converts its
  // graph, verifies the shared object's hash, loads it and resolves every
  // kernel. `bytes` is the serialized artifact (kept for Serialize).
  static absl::StatusOr<std::unique_ptr<CpuExecutable>> Create(
      plan::Artifact artifact, std::string bytes,
      const backends::LoadOptions& options, backends::CompileStats stats);
  ~CpuExecutable() override;

  absl::StatusOr<std::vector<backends::RuntimeValue>> Run(
      const std::vector<backends::RuntimeValue>& inputs) const override;
  absl::StatusOr<std::string> Serialize() const override { return bytes_; }
  const std::vector<backends::OutputAlias>& output_aliases() const override {
    return aliases_;
  }
  const std::vector<int>& mutated_inputs() const override { return mutated_; }
  const backends::CompileStats& stats() const override { return stats_; }
  const std::string& target() const override { return artifact_.target(); }

  // For the backend: the whole compile (or load) time.
  void set_total_us(int64_t us) { stats_.total_us = us; }

  const plan::Plan& plan() const { return artifact_.plan(); }
  const std::string& source() const { return artifact_.source(); }
  const ir::Graph& graph() const { return *graph_; }

 private:
  struct Resolved;
  struct Workspace;
  CpuExecutable() = default;

  std::unique_ptr<Workspace> TakeWorkspace() const;
  void ReturnWorkspace(std::unique_ptr<Workspace> ws) const;

  plan::Artifact artifact_;
  std::string bytes_;
  std::unique_ptr<ir::Graph> graph_;
  std::unique_ptr<backends::GraphInfo> info_;
  std::unique_ptr<SharedObject> object_;
  std::vector<Resolved> steps_;
  std::vector<int> buffer_of_;  // value -> buffer index or -1
  std::vector<backends::OutputAlias> aliases_;
  std::vector<int> mutated_;
  backends::CompileStats stats_;
  int num_threads_ = 1;
  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<Workspace>> pool_;
};

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CPU_EXECUTABLE_H_
