// The library behind kiln-run: load a graph and inputs from files, run the
// graph on a backend, write the outputs. Python tests drive the compiler
// through this binary and compare with PyTorch eager.
//
// Files:
//   graph    a serialized kiln.v1.Graph (binary), or the IR text format
//            (compiler/ir/text.h) when the name ends in `.kir`;
//   inputs   a serialized kiln.v1.ExecuteRequest of which only `inputs` is
//            read: one InputValue per placeholder (tensors with `raw` data,
//            ints for SymInt/int inputs, floats, bools);
//   outputs  a serialized kiln.v1.ExecuteResponse written with one
//            OutputValue per graph output (tensors with their sizes,
//            strides, storage offset and row-major `raw` data).
//
// Backends: `interpreter` (the reference interpreter). The CPU backend
// plugs in here behind the same --backend flag.
//
// Thread-safe: no global state beyond the op registry.
#ifndef KILN_COMPILER_TOOLS_RUN_LIB_H_
#define KILN_COMPILER_TOOLS_RUN_LIB_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "kiln/v1/compiler_service.pb.h"

namespace kiln::tools {

struct RunOptions {
  std::string graph_path;
  std::string inputs_path;   // empty: the graph takes no inputs
  std::string outputs_path;  // empty: do not write outputs
  std::string backend = "interpreter";
  bool print_ir = false;       // print the graph as IR text to `out`
  bool print_outputs = false;  // print a summary of each output to `out`
};

// Parses `--graph=F --inputs=F --outputs=F --backend=B --print_ir
// --print_outputs`; INVALID_ARGUMENT naming a bad flag.
absl::StatusOr<RunOptions> ParseFlags(const std::vector<std::string>& args);

absl::StatusOr<std::unique_ptr<ir::Graph>> LoadGraph(const std::string& path);

// kiln.v1.ExecuteRequest.inputs -> one RuntimeValue per placeholder.
absl::StatusOr<std::vector<ops::RuntimeValue>> InputsFromRequest(
    const v1::ExecuteRequest& request, const ir::Graph& graph);

// Graph outputs -> kiln.v1.ExecuteResponse.outputs.
v1::ExecuteResponse OutputsToResponse(
    const std::vector<ops::RuntimeValue>& outputs);

// The whole tool. Returns the error that should be reported; prints what
// the options ask for to `out`.
absl::Status RunTool(const RunOptions& options, std::ostream& out);

}  // namespace kiln::tools

#endif  // KILN_COMPILER_TOOLS_RUN_LIB_H_
