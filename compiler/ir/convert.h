// Conversion between the wire graph (kiln.v1.Graph) and the IR, with full
// validation on the way in.
//
// Every problem is INVALID_ARGUMENT whose message starts with the path of
// the offending field, and names the node's op for node errors:
//   graph.placeholders[1].tensor.sizes[0]: size -3 is negative
//   graph.nodes[7] (aten::mm.default): inner dimensions 3 and 4 differ
//   graph.nodes[2].args[1] (aten::add.Tensor, other): expected Tensor, got
//       float
//   graph.nodes[4] (aten::frob.default): unknown op aten::frob.default
// Checked: names (non-empty, unique), tensor metadata (dtype, device, sizes,
// strides, overflow), symbols (each bound by a placeholder), op names,
// argument count, names and kinds against the schema, references (to an
// earlier value, an existing non-None output; later nodes and cycles are
// named), shape and dtype inference (broadcasting, promotion, op-specific
// rules) and the declared output metadata against inference. Graphs over
// the limits are RESOURCE_EXHAUSTED. Tensor constants (`constants`): names,
// dtype, device, static non-negative sizes, strides and offset, inline
// `raw` data of exactly numel * element size bytes, bool bytes 0 or 1.
//
// Thread-safe: pure functions (the op registry is read-only).
#ifndef KILN_COMPILER_IR_CONVERT_H_
#define KILN_COMPILER_IR_CONVERT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "kiln/v1/graph.pb.h"

namespace kiln::ir {

// A `kiln::fused` node's kernel as the text format spells it (text.h): the
// layout and the body as a wire graph. Compiler-internal: wire graphs carry
// no kernels.
struct FusedKernelSpec {
  FusionKind kind = FusionKind::kPointwise;
  std::vector<ExprRef> shape;
  std::vector<int64_t> reduce_dims;
  std::vector<std::vector<int>> input_dims;
  v1::Graph body;
};

struct ConvertOptions {
  // Limits (0 = unlimited): Limits.max_graph_nodes / max_inputs.
  int max_nodes = 0;
  int max_inputs = 0;
  // Deepest symbolic expression accepted.
  int max_expr_depth = 64;
  // Kernels of `kiln::fused` nodes by node name (the text format's nested
  // blocks). Without one, a kiln::fused node is INVALID_ARGUMENT (its op has
  // no inference). Bodies are converted with the enclosing graph's symbols
  // bound; the fused node's consistency with its body is the verifier's
  // business (ParseGraph runs it).
  const absl::flat_hash_map<std::string, FusedKernelSpec>* fused_kernels =
      nullptr;
  // Symbols bound outside the graph (a kernel body uses its enclosing
  // graph's).
  std::vector<std::string> outer_symbols;
};

absl::StatusOr<std::unique_ptr<Graph>> GraphFromProto(
    const v1::Graph& proto, const ConvertOptions& options = {});

// The wire form of `graph`: placeholders, nodes with positional arguments
// up to the last non-default one and non-default keyword-only arguments as
// kwargs (sorted by name), declared output metadata, constants (`raw`),
// outputs. Converting the result back gives an equal graph, except for
// kiln::fused nodes, whose kernels have no wire form (they are written as
// plain kiln::fused nodes, which GraphFromProto rejects).
v1::Graph GraphToProto(const Graph& graph);

// TensorType <-> TensorMeta (validated; `path` prefixes errors).
absl::StatusOr<TensorType> TensorTypeFromProto(const v1::TensorMeta& meta,
                                               std::string_view path,
                                               int max_expr_depth = 64);
void TensorTypeToProto(const TensorType& type, v1::TensorMeta* meta);

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_CONVERT_H_
