#include "compiler/passes/pipeline.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ir/fusion.h"
#include "compiler/ir/verifier.h"
#include "spdlog/spdlog.h"

namespace kiln::passes {

PassRegistry& PassRegistry::Global() {
  static PassRegistry* registry = new PassRegistry();
  return *registry;
}

void PassRegistry::Register(std::string name, PassFactory factory) {
  if (factories_.contains(name)) {
    std::fprintf(stderr, "kiln: pass %s registered twice\n", name.c_str());
    std::abort();
  }
  factories_.emplace(std::move(name), std::move(factory));
}

absl::StatusOr<std::unique_ptr<Pass>> PassRegistry::Create(
    std::string_view name) const {
  auto it = factories_.find(std::string(name));
  if (it == factories_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("unknown pass '%s' (registered: %s)", name,
                        absl::StrJoin(Names(), ", ")));
  }
  return it->second();
}

std::vector<std::string> PassRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

Pipeline::Pipeline(PipelineOptions options) : options_(std::move(options)) {}

absl::StatusOr<Pipeline> Pipeline::Create(const std::vector<std::string>& names,
                                          PipelineOptions options) {
  Pipeline pipeline(std::move(options));
  for (const std::string& name : names) {
    auto pass = PassRegistry::Global().Create(name);
    if (!pass.ok()) return pass.status();
    pipeline.Add(*std::move(pass));
  }
  return pipeline;
}

void Pipeline::Add(std::unique_ptr<Pass> pass) {
  passes_.push_back(std::move(pass));
}

std::vector<std::string> Pipeline::PassNames() const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.emplace_back(p->name());
  return names;
}

absl::StatusOr<bool> Pipeline::Run(ir::Graph& graph) {
  stats_.clear();
  if (options_.verify) {
    if (auto st = ir::VerifyGraph(graph); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the pipeline's input graph: ", st.message()));
    }
  }
  bool changed = false;
  for (const auto& pass : passes_) {
    PassStats stats;
    stats.name = std::string(pass->name());
    stats.nodes_before = graph.num_nodes();
    stats.kernels_before = ir::CountKernels(graph);
    absl::Time start = absl::Now();
    auto result = pass->Run(graph);
    stats.time = absl::Now() - start;
    if (!result.ok()) {
      return absl::Status(
          result.status().code(),
          absl::StrCat("pass ", stats.name, ": ", result.status().message()));
    }
    stats.changed = *result;
    stats.nodes_after = graph.num_nodes();
    stats.kernels_after = ir::CountKernels(graph);
    changed = changed || *result;
    if (options_.verify) {
      if (auto st = ir::VerifyGraph(graph); !st.ok()) {
        return absl::InternalError(
            absl::StrCat("the graph is invalid after pass ", stats.name, ": ",
                         st.message()));
      }
    }
    spdlog::debug("pass {}: changed={} nodes {} -> {} kernels {} -> {} in {}",
                  stats.name, stats.changed, stats.nodes_before,
                  stats.nodes_after, stats.kernels_before, stats.kernels_after,
                  absl::FormatDuration(stats.time));
    if (options_.on_pass) options_.on_pass(stats);
    stats_.push_back(std::move(stats));
  }
  return changed;
}

std::vector<std::string> DefaultPassNames() {
  return {"view_simplification", "constant_folding", "cse", "dce", "fusion",
          "memory_planning"};
}

}  // namespace kiln::passes
