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
//            strides, storage offset and row-major `raw` data), and one
//            InputMutation per input the graph mutates (a trailing
//            `aten::copy_` into a placeholder; ops::MutatedInputs), with
//            the input's value after the run.
//
// Backends: every backend registered with compiler/backends (`interpreter`,
// the reference interpreter, and `cpu`, generated C++); AvailableBackends()
// is the list `--backend` accepts and `--list_backends` prints. A graph is
// compiled once per process and backend (batch mode reuses it). Inputs the
// graph mutates (copy_) come back in ExecuteResponse.mutations.
//
// Introspection for test harnesses: `--list_ops` prints every registered op
// (`name<TAB>category<TAB>schema`, sorted by name); `--list_backends` prints
// one backend per line. Neither needs --graph.
//
// Batch mode (`--batch`): reads one run per line from the input stream,
// written as the same flags (`--graph=F --inputs=F --outputs=F
// [--backend=B]`, separated by spaces; paths without spaces), and answers
// each with one line, `ok` or `error CODE: message` (newlines in the message
// become spaces), flushed at once. It ends at end of input. Test harnesses
// use it to run thousands of small graphs without a process start each.
//
// Thread-safe: no global state beyond the op registry.
#ifndef KILN_COMPILER_TOOLS_RUN_LIB_H_
#define KILN_COMPILER_TOOLS_RUN_LIB_H_

#include <istream>
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
  std::string graph_path;    // required unless listing or in batch mode
  std::string inputs_path;   // empty: the graph takes no inputs
  std::string outputs_path;  // empty: do not write outputs
  std::string backend = "interpreter";
  bool print_ir = false;       // print the graph as IR text to `out`
  bool print_outputs = false;  // print a summary of each output to `out`
  bool list_ops = false;       // print the op registry and stop
  bool list_backends = false;  // print AvailableBackends() and stop
  bool batch = false;          // run graphs named on input lines (RunBatch)
};

// The backends `--backend` accepts, the default first.
const std::vector<std::string>& AvailableBackends();

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

// Appends to `response.mutations` the values after a run of the inputs
// `graph` mutates (ascending by input index); `inputs` are the run's inputs,
// which the run updated in place.
void AddMutations(const ir::Graph& graph,
                  const std::vector<ops::RuntimeValue>& inputs,
                  v1::ExecuteResponse* response);

// The whole tool for one graph (or a listing). Returns the error that should
// be reported; prints what the options ask for to `out`.
absl::Status RunTool(const RunOptions& options, std::ostream& out);

// Batch mode: one run per line of `in` (see the file comment), one answer
// line per run on `out`; what the runs print (--print_outputs) goes to
// `log`. Returns when `in` ends.
void RunBatch(std::istream& in, std::ostream& out, std::ostream& log);

}  // namespace kiln::tools

#endif  // KILN_COMPILER_TOOLS_RUN_LIB_H_
