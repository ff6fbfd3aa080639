// Fused kernels in the IR: the `kiln::fused` op and the layout of a
// FusedKernel (graph.h) derived from its body. See docs/compiler.md,
// "Fusion".
//
// A fused node calls the compiler-internal op
//   kiln::fused(Tensor[] inputs) -> Tensor[]
// and carries a FusedKernel: a body graph whose placeholders are the inputs
// and whose outputs are the node's outputs, a FusionKind and the loop
// layout backends generate code for (iteration shape, reduced dims, how
// each input maps onto the iteration space). The op has no inference of its
// own: wire graphs naming it are rejected; the verifier checks fused nodes
// against their bodies instead.
//
// Linking this library registers the op. Pure functions; thread-safe.
#ifndef KILN_COMPILER_IR_FUSION_H_
#define KILN_COMPILER_IR_FUSION_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"

namespace kiln::ir {

inline constexpr char kFusedOpName[] = "kiln::fused.default";

// The registered `kiln::fused` op.
const ops::OpDef& FusedOp();
bool IsFusedOp(const ops::OpDef& op);

// The kind of kernel an op anchors: kReduction for reductions whose first
// argument is the reduced tensor `self`, kSoftmax for _softmax and
// _log_softmax, kLayerNorm for native_layer_norm; nullopt for everything
// else (pointwise ops anchor nothing).
std::optional<FusionKind> AnchorKind(const ops::OpDef& op);

// The dims of the anchor's first input that `anchor` reduces, ascending: a
// reduction's `dim` (None, [] or no `dim` argument: all of them),
// softmax's `dim`, layer norm's trailing normalized dims.
absl::StatusOr<std::vector<int64_t>> AnchorReduceDims(const Node& anchor);

// The anchor of a kernel body: its only non-pointwise node; nullptr when
// every node is pointwise.
const Node* FindAnchor(const Graph& body);

// The loop layout of a kernel of `kind` with this body (FusedKernel's
// shape, reduce_dims and input_dims), checking the kernel's structural
// rules (graph.h, FusedKernel). INVALID_ARGUMENT naming the offending body
// node or input when the body does not fit its kind; the fusion pass only
// creates kernels this accepts, and the verifier checks that a fused node's
// layout is this one.
struct FusionLayout {
  std::vector<ExprRef> shape;
  std::vector<int64_t> reduce_dims;
  std::vector<std::vector<int>> input_dims;
};
absl::StatusOr<FusionLayout> ComputeFusionLayout(FusionKind kind,
                                                 const Graph& body);
// Sets kernel->shape, reduce_dims and input_dims from its kind and body.
absl::Status FillFusionLayout(FusedKernel* kernel);

// The number of kernels (and library calls) running `graph` takes: every
// node except views (ops::OpCategory::kView). Fusion lowers it.
int CountKernels(const Graph& graph);

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_FUSION_H_
