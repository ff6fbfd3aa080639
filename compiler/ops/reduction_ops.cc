// Reductions. Floating sums accumulate in double and round once (at least
// as accurate as ATen's cascade sum); integer sums wrap in int64. Outputs
// are contiguous, as ATen allocates them.
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::ops {
namespace {

using ir::Arg;

// Which dims of a rank-`rank` tensor an `int[1]? dim` argument reduces:
// None or [] means all of them.
absl::StatusOr<std::vector<bool>> ReducedDims(const Arg& dim, int rank) {
  std::vector<bool> reduced(rank, false);
  if (dim.is_none() || (dim.kind == Arg::Kind::kIntList && dim.ints.empty())) {
    reduced.assign(rank, true);
    return reduced;
  }
  std::vector<ExprRef> dims =
      dim.kind == Arg::Kind::kIntList ? dim.ints : std::vector<ExprRef>{dim.i};
  for (const ExprRef& d : dims) {
    auto c = d->AsConst();
    if (!c) return absl::InvalidArgumentError("dim must be a static integer");
    auto w = WrapDim(*c, rank);
    if (!w.ok()) return w.status();
    if (rank == 0) continue;
    if (reduced[*w]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "dim %d appears multiple times in the list of dims", *w));
    }
    reduced[*w] = true;
  }
  return reduced;
}

// sum's result dtype: the `dtype` argument, else int64 for integral (and
// bool) inputs, else the input's.
DType SumDType(const Arg& dtype, DType input) {
  if (dtype.kind == Arg::Kind::kDType) return dtype.dtype;
  return ir::IsIntegral(input, /*include_bool=*/true) ? DType::kInt64 : input;
}

absl::StatusOr<std::vector<InferredOutput>> InferSum(const InferContext& ctx) {
  const ir::TensorType& self = ctx.tensor(0);
  int dim_index = ctx.schema().ArgumentIndex("dim");
  int keep_index = ctx.schema().ArgumentIndex("keepdim");
  Arg all = Arg::None();
  auto reduced =
      ReducedDims(dim_index >= 0 ? ctx.arg(dim_index) : all, self.rank());
  if (!reduced.ok()) return reduced.status();
  bool keepdim = keep_index >= 0 && ctx.arg(keep_index).b;
  std::vector<ExprRef> sizes;
  for (int d = 0; d < self.rank(); ++d) {
    if (!(*reduced)[d]) {
      sizes.push_back(self.sizes[d]);
    } else if (keepdim) {
      sizes.push_back(ir::Const(1));
    }
  }
  return std::vector<InferredOutput>{ir::TensorType::Contiguous(
      SumDType(ctx.arg("dtype"), self.dtype), std::move(sizes), self.device)};
}

absl::Status RunSum(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  int dim_index = kc.index("dim");
  auto reduced = ReducedDims(dim_index >= 0 ? kc.arg(dim_index) : Arg::None(),
                             self.rank());
  if (!reduced.ok()) return reduced.status();
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  // Accumulate into a contiguous buffer indexed by the kept dims.
  std::vector<int64_t> kept_sizes;
  for (int d = 0; d < self.rank(); ++d) {
    if (!(*reduced)[d]) kept_sizes.push_back(self.sizes()[d]);
  }
  int64_t kept_numel = 1;
  for (int64_t s : kept_sizes) kept_numel *= s;
  bool floating = ir::IsFloating(out.dtype());
  std::vector<double> accf(kept_numel, 0.0);
  std::vector<uint64_t> acci(kept_numel, 0);
  rt::ForEachIndex(self.sizes(), [&](const int64_t* idx) {
    int64_t flat = 0;
    for (int d = 0; d < self.rank(); ++d) {
      if (!(*reduced)[d]) flat = flat * self.sizes()[d] + idx[d];
    }
    const uint8_t* p = self.ElementPtr(idx);
    if (floating) {
      accf[flat] += rt::LoadAsDouble(p, self.dtype());
    } else {
      acci[flat] += static_cast<uint64_t>(rt::LoadAsInt(p, self.dtype()));
    }
  });
  int64_t flat = 0;
  rt::ForEachIndex(out.sizes(), [&](const int64_t* idx) {
    uint8_t* p = out.ElementPtr(idx);
    if (floating) {
      rt::StoreScalar(rt::Scalar::Float(accf[flat]), out.dtype(), p);
    } else {
      rt::StoreScalar(rt::Scalar::Int(static_cast<int64_t>(acci[flat])),
                      out.dtype(), p);
    }
    ++flat;
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(InferSum)
    .Reference(RunSum);

KILN_REGISTER_OP("aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(InferSum)
    .Reference(RunSum);

}  // namespace
}  // namespace kiln::ops
