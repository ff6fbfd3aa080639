// Mutation after functionalization: aten::copy_ into a graph input.
//
// A functionalized graph computes new values functionally and ends with
// `copy_(input, new_value)` for every input the program mutated. The node
// writes into its first argument: the schema marks it `Tensor(a!)`, so
// OpDef::mutated_args() is {0} and ops::MutatedInputs(graph) lists the
// input (kiln.v1.OutputSpec.mutated_inputs). Its output aliases the input.
// Only graph inputs may be written (intermediates are SSA values that
// passes may share or reorder), and the destination must not have
// overlapping elements.
//
// The reference implementation writes the new values into the input
// tensor's storage, so the caller's tensors see them, as in eager mode;
// kiln-run reports them in ExecuteResponse.mutations.
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/layout_util.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::TensorType;

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

constexpr char kInternalOverlap[] =
    "unsupported operation: more than one element of the written-to tensor "
    "refers to a single memory location. Please clone() the tensor before "
    "performing the operation.";
constexpr char kPartialOverlap[] =
    "unsupported operation: some elements of the input tensor and the "
    "written-to tensor refer to a single memory location. Please clone() the "
    "tensor before performing the operation.";

// ATen's has_internal_overlap == YES: a stride of 0 on a dim of size > 1
// (statically known).
bool HasInternalOverlap(const TensorType& t) {
  for (int d = 0; d < t.rank(); ++d) {
    auto size = t.sizes[d]->AsConst();
    bool big = size ? *size > 1 : true;  // a symbolic size is >= 2
    if (big && t.strides[d]->AsConst() == 0) return true;
  }
  return false;
}

// src broadcast to self's shape as copy_ requires (src may not have more
// dims, and its dims must be 1 or equal).
absl::Status CheckCopyShapes(const TensorType& self, const TensorType& src) {
  auto shape = BroadcastShapes({self.sizes, src.sizes});
  if (!shape.ok()) return shape.status();
  if (!ir::SameExprList(*shape, self.sizes)) {
    bool same = shape->size() == self.sizes.size();
    for (size_t i = 0; same && i < shape->size(); ++i) {
      same = ProvablyEqual((*shape)[i], self.sizes[i]).value_or(false);
    }
    if (!same) {
      return Invalid(absl::StrFormat(
          "output with shape %s doesn't match the broadcast shape %s",
          ShapeString(self.sizes), ShapeString(*shape)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<InferredOutput>> InferCopy(const InferContext& ctx) {
  const ir::Value* dst = ctx.arg(0).value;
  if (!dst->is_placeholder()) {
    return absl::UnimplementedError(absl::StrFormat(
        "copy_ writes into '%s', which is not a graph input; only mutations "
        "of graph inputs (functionalized graphs) are supported",
        dst->name()));
  }
  const TensorType& self = ctx.tensor(0);
  const TensorType& src = ctx.tensor(1);
  if (auto st = CheckCopyShapes(self, src); !st.ok()) return st;
  if (HasInternalOverlap(self)) return Invalid(kInternalOverlap);
  return std::vector<InferredOutput>{TensorType::Strided(
      self.dtype, self.sizes, self.strides, self.storage_offset, self.device)};
}

// at::get_overlap_status for two tensors of one storage: PARTIAL when both
// are non-overlapping and dense and their element ranges intersect without
// being the same range with the same strides.
bool PartialOverlap(const rt::Tensor& a, const rt::Tensor& b) {
  if (!a.SharesStorageWith(b) || a.numel() == 0 || b.numel() == 0) {
    return false;
  }
  if (!IsNonOverlappingAndDense(ConstType(a)).value_or(false) ||
      !IsNonOverlappingAndDense(ConstType(b)).value_or(false)) {
    return false;  // TOO_HARD: ATen copies anyway
  }
  auto range = [](const rt::Tensor& t) {
    return std::make_pair(t.storage_offset(), t.storage_offset() + t.numel());
  };
  auto [a0, a1] = range(a);
  auto [b0, b1] = range(b);
  if (a0 == b0 && a1 == b1) return a.strides() != b.strides();
  return a0 < b1 && b0 < a1;
}

absl::Status RunCopy(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  const rt::Tensor& src = kc.tensor(1);
  TensorType self_type = ConstType(self);
  if (auto st = CheckCopyShapes(self_type, ConstType(src)); !st.ok()) {
    return st;
  }
  if (HasInternalOverlap(self_type)) return Invalid(kInternalOverlap);
  if (PartialOverlap(self, src)) return Invalid(kPartialOverlap);
  // src expanded to self's shape (stride 0 where broadcast).
  const int rank = self.rank();
  const int offset = rank - src.rank();
  std::vector<int64_t> strides(rank, 0);
  for (int d = 0; d < src.rank(); ++d) {
    if (src.sizes()[d] == self.sizes()[offset + d]) {
      strides[offset + d] = src.strides()[d];
    }
  }
  auto expanded =
      rt::Tensor::View(src, self.sizes(), strides, src.storage_offset());
  if (!expanded.ok()) return expanded.status();
  // Read everything before writing when the storages are shared.
  rt::Tensor from =
      src.SharesStorageWith(self) ? expanded->Contiguous() : *expanded;
  rt::Tensor dst = self;  // shares the input's storage
  if (auto st = dst.CopyFrom(from); !st.ok()) return st;
  kc.SetOutput(0, self);
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> "
    "Tensor(a!)")
    .Category(OpCategory::kMutation)
    .Infer(InferCopy)
    .Reference(RunCopy);

}  // namespace
}  // namespace kiln::ops
