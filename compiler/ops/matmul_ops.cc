// Matrix products: mm, bmm, addmm, baddbmm and PyTorch 2's `.dtype`
// overloads of each (float16/bfloat16 inputs with a float32 result, CUDA
// only).
//
// ATen's rules: the operands share one dtype (bool is refused), inner
// dimensions and batch sizes agree exactly (bmm does not broadcast), and the
// `self` of addmm/baddbmm broadcasts (expand) to the result's shape; with
// beta = 0 it is ignored, NaN included. alpha and beta are converted to the
// operands' opmath type first (float for float16/bfloat16/float32, the
// integer dtype itself for integers, so alpha = 1.5 multiplies integers by
// 1). Results are contiguous.
//
// The reference kernels accumulate floating products in double (or wrapping
// int64 for integers) and round once, which is at least as accurate as
// ATen's BLAS calls.
#include <cstring>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/op_util.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::TensorType;

// The operands of one product family: their argument names, rank and the
// op's name in messages.
struct MatmulSpec {
  const char* op;    // "mm"
  const char* lhs;   // "self"
  const char* rhs;   // "mat2"
  const char* bias;  // "self" for addmm/baddbmm, nullptr otherwise
  bool batched = false;
  bool out_dtype = false;  // the `.dtype` overloads
};

absl::StatusOr<std::vector<InferredOutput>> InferMatmul(
    const MatmulSpec& spec, const InferContext& ctx) {
  const TensorType& a = ctx.tensor(ctx.index(spec.lhs));
  const TensorType& b = ctx.tensor(ctx.index(spec.rhs));
  const int rank = spec.batched ? 3 : 2;
  // ATen names batched operands batch1/batch2 in its messages, whatever
  // the schema calls them.
  const char* lhs = spec.batched ? "batch1" : spec.lhs;
  const char* rhs = spec.batched ? "batch2" : spec.rhs;
  for (const auto& [t, name] :
       {std::pair<const TensorType*, const char*>{&a, lhs},
        std::pair<const TensorType*, const char*>{&b, rhs}}) {
    if (t->rank() != rank) {
      return absl::InvalidArgumentError(
          spec.batched ? absl::StrFormat("%s must be a 3D tensor, got %d-d",
                                         name, t->rank())
                       : absl::StrFormat("%s must be a matrix, got %d-d", name,
                                         t->rank()));
    }
  }
  if (a.dtype != b.dtype) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expected both matrices to have the same dtype, got "
                        "%s and %s",
                        ir::ShortName(a.dtype), ir::ShortName(b.dtype)));
  }
  if (a.dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not supported for b8", spec.op));
  }
  const int r = spec.batched ? 1 : 0;
  if (spec.batched) {
    // Batch sizes agree exactly: bmm does not broadcast.
    if (!ProvablyEqual(a.sizes[0], b.sizes[0]).value_or(false) ||
        !ProvablyEqual(a.sizes[2], b.sizes[1]).value_or(false)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Expected size for first two dimensions of batch2 tensor to be: "
          "[%s, %s] but got: [%s, %s].",
          a.sizes[0]->ToString(), a.sizes[2]->ToString(),
          b.sizes[0]->ToString(), b.sizes[1]->ToString()));
    }
  } else if (!ProvablyEqual(a.sizes[1], b.sizes[0]).value_or(false)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("inner dimensions %s and %s differ",
                        a.sizes[1]->ToString(), b.sizes[0]->ToString()));
  }
  if (a.device != b.device) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expected both matrices on the same device, got %s and %s",
        a.device.ToString(), b.device.ToString()));
  }
  DType result = a.dtype;
  if (spec.out_dtype) {
    result = ctx.arg("out_dtype").dtype;
    bool widening = result == DType::kFloat32 && ir::IsReducedFloat(a.dtype);
    if (result != a.dtype && !widening) {
      return absl::InvalidArgumentError(
          "out_dtype must be the same as input dtype or fp32 for fp16/bf16 "
          "inputs");
    }
    if (a.device.type != ir::Device::Type::kCuda) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.dtype is only implemented for CUDA tensors", spec.op));
    }
  }
  std::vector<ExprRef> sizes;
  if (spec.batched) sizes.push_back(a.sizes[0]);
  sizes.push_back(a.sizes[r]);
  sizes.push_back(b.sizes[r + 1]);
  if (spec.bias != nullptr) {
    const TensorType& c = ctx.tensor(ctx.index(spec.bias));
    bool dtype_ok = c.dtype == a.dtype || (spec.out_dtype && c.dtype == result);
    if (!dtype_ok) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "self and %s must have the same dtype, but got %s and %s", spec.rhs,
          ir::ShortName(c.dtype), ir::ShortName(a.dtype)));
    }
    if (c.rank() > rank) {
      return absl::InvalidArgumentError(
          absl::StrFormat("self of %d dims does not expand to the result %s",
                          c.rank(), ShapeString(sizes)));
    }
    auto expanded = BroadcastShapes({c.sizes, sizes});
    if (!expanded.ok()) return expanded.status();
    if (!ir::SameExprList(*expanded, sizes)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("self %s does not expand to the result %s",
                          ShapeString(c.sizes), ShapeString(sizes)));
    }
    if (c.device != a.device && c.rank() > 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("expected self on %s, got %s", a.device.ToString(),
                          c.device.ToString()));
    }
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(result, std::move(sizes), a.device)};
}

// A Scalar argument as ATen's kernels see it: converted to the opmath type
// of `dtype` (float for float16/bfloat16/float32; the integer dtype itself).
double OpMathScalar(const rt::Scalar& s, DType dtype) {
  uint8_t buf[8] = {0};
  DType to = ir::IsFloating(dtype) ? ir::OpMathType(dtype) : dtype;
  rt::StoreScalar(s, to, buf);
  return rt::LoadAsDouble(buf, to);
}
int64_t OpMathInt(const rt::Scalar& s, DType dtype) {
  uint8_t buf[8] = {0};
  rt::StoreScalar(s, dtype, buf);
  return rt::LoadAsInt(buf, dtype);
}

// out[b, i, j] = beta * self[b, i, j] + alpha * sum_k a[b, i, k] * b[b, k, j]
absl::Status RunMatmul(const MatmulSpec& spec, KernelContext& kc) {
  const rt::Tensor& a = kc.tensor(kc.index(spec.lhs));
  const rt::Tensor& b = kc.tensor(kc.index(spec.rhs));
  auto out_sizes = kc.OutputSizes(0);
  if (!out_sizes.ok()) return out_sizes.status();
  const int r = spec.batched ? 1 : 0;
  const int64_t batch = spec.batched ? a.sizes()[0] : 1;
  const int64_t n = a.sizes()[r], k = a.sizes()[r + 1], m = b.sizes()[r + 1];
  const DType dtype = a.dtype();
  const bool floating = ir::IsFloating(dtype);

  std::optional<rt::Tensor> bias;
  rt::Scalar alpha = rt::Scalar::Int(1), beta = rt::Scalar::Int(0);
  if (spec.bias != nullptr) {
    auto al = kc.scalar(kc.index("alpha"));
    if (!al.ok()) return al.status();
    auto be = kc.scalar(kc.index("beta"));
    if (!be.ok()) return be.status();
    alpha = *al;
    beta = *be;
    // self expanded to the result's shape (stride 0 where it broadcasts).
    const rt::Tensor& c = kc.tensor(kc.index(spec.bias));
    std::vector<int64_t> strides(out_sizes->size(), 0);
    int offset = static_cast<int>(out_sizes->size()) - c.rank();
    for (int d = 0; d < c.rank(); ++d) {
      if (c.sizes()[d] != 1) strides[offset + d] = c.strides()[d];
    }
    auto view = rt::Tensor::View(c, *out_sizes, strides, c.storage_offset());
    if (!view.ok()) return view.status();
    // ATen skips self altogether when beta is 0 (NaN included).
    if (beta.AsDouble() != 0) bias = *std::move(view);
  }

  const int64_t numel = batch * n * m;
  if (floating) {
    std::vector<double> av = a.ToDoubles(), bv = b.ToDoubles();
    const double al = OpMathScalar(alpha, dtype);
    const double be = OpMathScalar(beta, dtype);
    std::vector<double> cv;
    if (bias) cv = bias->ToDoubles();
    std::vector<double> out(numel);
    for (int64_t q = 0; q < batch; ++q) {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < m; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < k; ++p) {
            acc += av[(q * n + i) * k + p] * bv[(q * k + p) * m + j];
          }
          int64_t o = (q * n + i) * m + j;
          out[o] = cv.empty() ? al * acc : be * cv[o] + al * acc;
        }
      }
    }
    return SetOutputDoubles(kc, 0, out);
  }
  std::vector<int64_t> av = a.ToInts(), bv = b.ToInts();
  const uint64_t al = static_cast<uint64_t>(OpMathInt(alpha, dtype));
  const uint64_t be = static_cast<uint64_t>(OpMathInt(beta, dtype));
  std::vector<int64_t> cv;
  if (bias) cv = bias->ToInts();
  std::vector<int64_t> out(numel);
  for (int64_t q = 0; q < batch; ++q) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        uint64_t acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += static_cast<uint64_t>(av[(q * n + i) * k + p]) *
                 static_cast<uint64_t>(bv[(q * k + p) * m + j]);
        }
        int64_t o = (q * n + i) * m + j;
        uint64_t v = al * acc;
        if (!cv.empty()) v += be * static_cast<uint64_t>(cv[o]);
        out[o] = static_cast<int64_t>(v);
      }
    }
  }
  return SetOutputInts(kc, 0, out);
}

InferFn MatmulInfer(MatmulSpec spec) {
  return [spec](const InferContext& ctx) { return InferMatmul(spec, ctx); };
}
ReferenceFn MatmulKernel(MatmulSpec spec) {
  return [spec](KernelContext& kc) { return RunMatmul(spec, kc); };
}

const MatmulSpec kMm{"mm", "self", "mat2", nullptr};
const MatmulSpec kBmm{"bmm", "self", "mat2", nullptr, /*batched=*/true};
const MatmulSpec kAddmm{"addmm", "mat1", "mat2", "self"};
const MatmulSpec kBaddbmm{"baddbmm", "batch1", "batch2", "self",
                          /*batched=*/true};
MatmulSpec WithOutDType(MatmulSpec spec) {
  spec.out_dtype = true;
  return spec;
}

KILN_REGISTER_OP("aten::mm(Tensor self, Tensor mat2) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(kMm))
    .Reference(MatmulKernel(kMm));
KILN_REGISTER_OP(
    "aten::mm.dtype(Tensor self, Tensor mat2, ScalarType out_dtype) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(WithOutDType(kMm)))
    .Reference(MatmulKernel(WithOutDType(kMm)));
KILN_REGISTER_OP("aten::bmm(Tensor self, Tensor mat2) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(kBmm))
    .Reference(MatmulKernel(kBmm));
KILN_REGISTER_OP(
    "aten::bmm.dtype(Tensor self, Tensor mat2, ScalarType out_dtype) -> "
    "Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(WithOutDType(kBmm)))
    .Reference(MatmulKernel(WithOutDType(kBmm)));
KILN_REGISTER_OP(
    "aten::addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, "
    "Scalar alpha=1) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(kAddmm))
    .Reference(MatmulKernel(kAddmm));
KILN_REGISTER_OP(
    "aten::addmm.dtype(Tensor self, Tensor mat1, Tensor mat2, ScalarType "
    "out_dtype, *, Scalar beta=1, Scalar alpha=1) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(WithOutDType(kAddmm)))
    .Reference(MatmulKernel(WithOutDType(kAddmm)));
KILN_REGISTER_OP(
    "aten::baddbmm(Tensor self, Tensor batch1, Tensor batch2, *, Scalar "
    "beta=1, Scalar alpha=1) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(kBaddbmm))
    .Reference(MatmulKernel(kBaddbmm));
KILN_REGISTER_OP(
    "aten::baddbmm.dtype(Tensor self, Tensor batch1, Tensor batch2, "
    "ScalarType out_dtype, *, Scalar beta=1, Scalar alpha=1) -> Tensor")
    .Category(OpCategory::kMatmul)
    .Infer(MatmulInfer(WithOutDType(kBaddbmm)))
    .Reference(MatmulKernel(WithOutDType(kBaddbmm)));

}  // namespace
}  // namespace kiln::ops
