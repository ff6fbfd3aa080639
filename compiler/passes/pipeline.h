// Pipelines: an ordered list of passes run on one graph, with the verifier
// after each pass when asked (always in tests) and a timing record per pass.
//
//   auto pipeline = Pipeline::Create({"view_simplification", "dce"},
//                                    {.verify = true});
//   absl::StatusOr<bool> changed = pipeline->Run(graph);
//
// DefaultPipeline() is the compiler's: view simplification, constant
// folding, CSE, DCE, fusion, memory planning.
//
// Threading: a Pipeline runs one graph at a time.
#ifndef KILN_COMPILER_PASSES_PIPELINE_H_
#define KILN_COMPILER_PASSES_PIPELINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "compiler/ir/graph.h"
#include "compiler/passes/pass.h"

namespace kiln::passes {

// What one pass did to the graph.
struct PassStats {
  std::string name;
  bool changed = false;
  absl::Duration time;  // the pass alone, without verification
  int nodes_before = 0;
  int nodes_after = 0;
  int kernels_before = 0;  // ir::CountKernels
  int kernels_after = 0;
};

struct PipelineOptions {
  // Run ir::VerifyGraph before the first pass and after every pass; a
  // failure is INTERNAL naming the pass that broke the graph.
  bool verify = false;
  // Called after each pass (in addition to the debug log line).
  std::function<void(const PassStats&)> on_pass;
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options = {});
  // A pipeline of registered passes, in order; NOT_FOUND for an unknown
  // name.
  static absl::StatusOr<Pipeline> Create(const std::vector<std::string>& names,
                                         PipelineOptions options = {});

  void Add(std::unique_ptr<Pass> pass);
  std::vector<std::string> PassNames() const;

  // Runs every pass in order; returns whether any changed the graph. A pass
  // error is returned with the pass's name prefixed (same code).
  absl::StatusOr<bool> Run(ir::Graph& graph);

  // The records of the last Run, one per pass run.
  const std::vector<PassStats>& stats() const { return stats_; }

 private:
  PipelineOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassStats> stats_;
};

// The default pass order.
std::vector<std::string> DefaultPassNames();
// A pipeline of DefaultPassNames(). Link //compiler/passes:default_pipeline.
Pipeline DefaultPipeline(PipelineOptions options = {});

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_PIPELINE_H_
