// Matrix products. The reference implementations accumulate in double (for
// floating dtypes) or wrapping int64 and round once, which is at least as
// accurate as ATen's BLAS calls.
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::ops {
namespace {

absl::StatusOr<std::vector<InferredOutput>> InferMm(const InferContext& ctx) {
  const ir::TensorType& a = ctx.tensor(0);
  const ir::TensorType& b = ctx.tensor(1);
  if (a.rank() != 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("self must be a matrix, got %d-d", a.rank()));
  }
  if (b.rank() != 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mat2 must be a matrix, got %d-d", b.rank()));
  }
  if (a.dtype != b.dtype) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expected both matrices to have the same dtype, got "
                        "%s and %s",
                        ir::ShortName(a.dtype), ir::ShortName(b.dtype)));
  }
  if (a.dtype == DType::kBool) {
    return absl::InvalidArgumentError("mm is not supported for b8");
  }
  if (!ProvablyEqual(a.sizes[1], b.sizes[0]).value_or(false)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("inner dimensions %s and %s differ",
                        a.sizes[1]->ToString(), b.sizes[0]->ToString()));
  }
  if (a.device != b.device) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expected both matrices on the same device, got %s and %s",
        a.device.ToString(), b.device.ToString()));
  }
  return std::vector<InferredOutput>{
      ir::TensorType::Contiguous(a.dtype, {a.sizes[0], b.sizes[1]}, a.device)};
}

absl::Status RunMm(KernelContext& kc) {
  const rt::Tensor& a = kc.tensor(0);
  const rt::Tensor& b = kc.tensor(1);
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  const int64_t n = a.sizes()[0], k = a.sizes()[1], m = b.sizes()[1];
  bool floating = ir::IsFloating(a.dtype());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      double accf = 0;
      uint64_t acci = 0;
      for (int64_t p = 0; p < k; ++p) {
        int64_t ia[2] = {i, p}, ib[2] = {p, j};
        if (floating) {
          accf += rt::LoadAsDouble(a.ElementPtr(ia), a.dtype()) *
                  rt::LoadAsDouble(b.ElementPtr(ib), b.dtype());
        } else {
          acci +=
              static_cast<uint64_t>(
                  rt::LoadAsInt(a.ElementPtr(ia), a.dtype())) *
              static_cast<uint64_t>(rt::LoadAsInt(b.ElementPtr(ib), b.dtype()));
        }
      }
      int64_t io[2] = {i, j};
      if (floating) {
        rt::StoreScalar(rt::Scalar::Float(accf), out.dtype(),
                        out.ElementPtr(io));
      } else {
        rt::StoreScalar(rt::Scalar::Int(static_cast<int64_t>(acci)),
                        out.dtype(), out.ElementPtr(io));
      }
    }
  }
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP("aten::mm(Tensor self, Tensor mat2) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(InferMm)
    .Reference(RunMm);

}  // namespace
}  // namespace kiln::ops
