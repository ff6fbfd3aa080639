// The default pipeline; linking this library links every pass.
#include <cstdio>
#include <cstdlib>

#include "compiler/passes/pipeline.h"

namespace kiln::passes {

Pipeline DefaultPipeline(PipelineOptions options) {
  auto pipeline = Pipeline::Create(DefaultPassNames(), std::move(options));
  if (!pipeline.ok()) {
    std::fprintf(stderr, "kiln: %s\n", pipeline.status().ToString().c_str());
    std::abort();  // a pass of the default list is not linked
  }
  return *std::move(pipeline);
}

}  // namespace kiln::passes
