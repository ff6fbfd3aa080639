// Normalization: _softmax, _log_softmax and their backward ops,
// native_layer_norm and native_layer_norm_backward.
//
// ATen's rules, per device where they differ:
//   * softmax: floating inputs; `half_to_float` (float16 in, float32 out)
//     exists on CUDA only. The backward ops take grad and output of one
//     dtype and size; their result has the grad's dtype, except float32 grads
//     of a float16 softmax (`input_dtype` float16), which give float16 (CUDA
//     only, as the forward).
//   * layer norm: floating input; weight and bias shaped like
//     normalized_shape and of the input's dtype, or (CPU, PyTorch 2) float32
//     for a float16/bfloat16 input ("mixed"); mean and rstd keep the kept
//     dims with size 1 in place of the normalized ones and are float32 for
//     float16/bfloat16 inputs on CUDA (and mixed CPU calls), else of the
//     input's dtype. The backward returns None where output_mask is false;
//     grad_weight and grad_bias need weight and bias.
// Every output is contiguous, as ATen allocates them.
//
// The reference kernels compute in double and round once: softmax as
// exp(x - max) / sum, log_softmax as x - max - log(sum) (so a row holding
// NaN, or +inf, or only -inf gives NaN, as in ATen), layer norm with the
// biased variance and rstd = 1 / sqrt(var + eps) (an empty normalized
// shape gives mean 0 and rstd NaN, as ATen's kernels do).
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/op_util.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::Arg;
using ir::TensorType;

bool IsCuda(const ir::Device& d) { return d.type == ir::Device::Type::kCuda; }

absl::Status NotFloating(std::string_view op, DType dtype) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s is not supported for %s (floating dtypes only)", op,
                      ir::ShortName(dtype)));
}

// ---------------------------------------------------------------------------
// Softmax.

absl::StatusOr<std::vector<InferredOutput>> InferSoftmax(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  auto dim = StaticInt(ctx.arg("dim"), "dim");
  if (!dim.ok()) return dim.status();
  if (auto w = WrapDim(*dim, self.rank()); !w.ok()) return w.status();
  auto half_to_float = StaticBool(ctx.arg("half_to_float"), "half_to_float");
  if (!half_to_float.ok()) return half_to_float.status();
  if (!ir::IsFloating(self.dtype)) {
    return NotFloating(ctx.schema().name, self.dtype);
  }
  DType result = self.dtype;
  if (*half_to_float) {
    if (!IsCuda(self.device)) {
      return absl::InvalidArgumentError(
          "softmax with half to float conversion is not supported on CPU");
    }
    if (self.dtype != DType::kFloat16) {
      return absl::InvalidArgumentError(
          "softmax: half to float conversion is supported for f16 only");
    }
    result = DType::kFloat32;
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(result, self.sizes, self.device)};
}

// The dims a softmax normalizes over: `dim` (none for a 0-d tensor).
absl::StatusOr<std::vector<bool>> SoftmaxDims(const KernelContext& kc,
                                              int rank) {
  auto dim = kc.int_arg(kc.index("dim"));
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, rank);
  if (!w.ok()) return w.status();
  std::vector<bool> reduced(rank, false);
  if (rank > 0) reduced[*w] = true;
  return reduced;
}

absl::Status RunSoftmax(KernelContext& kc, bool log) {
  const rt::Tensor& self = kc.tensor(0);
  auto reduced = SoftmaxDims(kc, self.rank());
  if (!reduced.ok()) return reduced.status();
  const std::vector<int64_t>& sizes = self.sizes();
  const int64_t rows = CountElements(sizes, *reduced, /*kept=*/true);
  std::vector<double> x = self.ToDoubles();
  std::vector<double> max(rows, -std::numeric_limits<double>::infinity());
  std::vector<double> sum(rows, 0.0);
  size_t k = 0;
  ForEachReduced(sizes, *reduced, [&](int64_t o, int64_t) {
    double v = x[k++];
    if (v > max[o] || v != v) max[o] = v;  // a NaN sticks
  });
  k = 0;
  ForEachReduced(sizes, *reduced, [&](int64_t o, int64_t) {
    sum[o] += std::exp(x[k++] - max[o]);
  });
  std::vector<double> out(x.size());
  k = 0;
  ForEachReduced(sizes, *reduced, [&](int64_t o, int64_t) {
    double shifted = x[k] - max[o];
    out[k] = log ? shifted - std::log(sum[o]) : std::exp(shifted) / sum[o];
    ++k;
  });
  return SetOutputDoubles(kc, 0, out);
}

absl::StatusOr<std::vector<InferredOutput>> InferSoftmaxBackward(
    const InferContext& ctx) {
  const TensorType& grad = ctx.tensor(0);
  const TensorType& output = ctx.tensor(1);
  auto dim = StaticInt(ctx.arg("dim"), "dim");
  if (!dim.ok()) return dim.status();
  if (auto w = WrapDim(*dim, grad.rank()); !w.ok()) return w.status();
  bool same_sizes = grad.rank() == output.rank();
  for (int d = 0; same_sizes && d < grad.rank(); ++d) {
    same_sizes = ProvablyEqual(grad.sizes[d], output.sizes[d]).value_or(false);
  }
  if (!same_sizes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Expected tensor for argument #1 'grad' to have same "
                        "size as tensor for argument #2 'output'; but %s does "
                        "not equal %s",
                        ShapeString(grad.sizes), ShapeString(output.sizes)));
  }
  if (grad.dtype != output.dtype) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "grad_output and output must have the same dtype, got %s and %s",
        ir::ShortName(grad.dtype), ir::ShortName(output.dtype)));
  }
  if (!ir::IsFloating(grad.dtype)) {
    return NotFloating(ctx.schema().name, grad.dtype);
  }
  DType input_dtype = ctx.arg("input_dtype").dtype;
  DType result = grad.dtype;
  if (grad.dtype != input_dtype) {
    bool half_to_float =
        grad.dtype == DType::kFloat32 && input_dtype == DType::kFloat16;
    if (half_to_float && !IsCuda(grad.device)) {
      return absl::InvalidArgumentError(
          "softmax backward with half to float conversion is not supported "
          "on CPU");
    }
    if (half_to_float) {
      result = DType::kFloat16;
    } else if (IsCuda(grad.device)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "expected input and grad types to match, or input to be f16 and "
          "grad to be f32; got input_dtype %s and grad %s",
          ir::ShortName(input_dtype), ir::ShortName(grad.dtype)));
    }
    // ATen's CPU kernels ignore any other input_dtype.
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(result, grad.sizes, grad.device)};
}

// softmax: grad_input = y * (g - sum(g * y)); log_softmax: grad_input =
// g - exp(y) * sum(g), sums along dim.
absl::Status RunSoftmaxBackward(KernelContext& kc, bool log) {
  const rt::Tensor& grad = kc.tensor(0);
  const rt::Tensor& output = kc.tensor(1);
  auto reduced = SoftmaxDims(kc, grad.rank());
  if (!reduced.ok()) return reduced.status();
  const std::vector<int64_t>& sizes = grad.sizes();
  const int64_t rows = CountElements(sizes, *reduced, /*kept=*/true);
  std::vector<double> g = grad.ToDoubles(), y = output.ToDoubles();
  std::vector<double> sum(rows, 0.0);
  size_t k = 0;
  ForEachReduced(sizes, *reduced, [&](int64_t o, int64_t) {
    sum[o] += log ? g[k] : g[k] * y[k];
    ++k;
  });
  std::vector<double> out(g.size());
  k = 0;
  ForEachReduced(sizes, *reduced, [&](int64_t o, int64_t) {
    out[k] = log ? g[k] - std::exp(y[k]) * sum[o] : y[k] * (g[k] - sum[o]);
    ++k;
  });
  return SetOutputDoubles(kc, 0, out);
}

KILN_REGISTER_OP(
    "aten::_softmax(Tensor self, int dim, bool half_to_float) -> Tensor")
    .Category(OpCategory::kNormalization)
    .Infer(InferSoftmax)
    .Reference([](KernelContext& kc) { return RunSoftmax(kc, /*log=*/false); });
KILN_REGISTER_OP(
    "aten::_log_softmax(Tensor self, int dim, bool half_to_float) -> Tensor")
    .Category(OpCategory::kNormalization)
    .Infer(InferSoftmax)
    .Reference([](KernelContext& kc) { return RunSoftmax(kc, /*log=*/true); });
KILN_REGISTER_OP(
    "aten::_softmax_backward_data(Tensor grad_output, Tensor output, int dim, "
    "ScalarType input_dtype) -> Tensor")
    .Category(OpCategory::kNormalization)
    .Infer(InferSoftmaxBackward)
    .Reference([](KernelContext& kc) {
      return RunSoftmaxBackward(kc, /*log=*/false);
    });
KILN_REGISTER_OP(
    "aten::_log_softmax_backward_data(Tensor grad_output, Tensor output, int "
    "dim, ScalarType input_dtype) -> Tensor")
    .Category(OpCategory::kNormalization)
    .Infer(InferSoftmaxBackward)
    .Reference([](KernelContext& kc) {
      return RunSoftmaxBackward(kc, /*log=*/true);
    });

// ---------------------------------------------------------------------------
// Layer norm.

// The checked geometry and dtypes of a layer norm call.
struct LayerNormInfo {
  int axis = 0;                      // first normalized dim
  std::vector<ExprRef> stats_sizes;  // mean / rstd
  DType stats_dtype = DType::kFloat32;
};

// Checks input, normalized_shape, weight and bias (shared by the forward and
// the backward op).
absl::StatusOr<LayerNormInfo> CheckLayerNorm(const InferContext& ctx) {
  const TensorType& input = ctx.tensor(ctx.index("input"));
  const Arg& shape_arg = ctx.arg("normalized_shape");
  const std::vector<ExprRef>& shape = shape_arg.ints;
  if (shape.empty()) {
    return absl::InvalidArgumentError(
        "Expected normalized_shape to be at least 1-dimensional, i.e., "
        "containing at least one element, but got normalized_shape = []");
  }
  const int n = static_cast<int>(shape.size());
  bool matches = input.rank() >= n;
  for (int i = 0; matches && i < n; ++i) {
    matches = ProvablyEqual(input.sizes[input.rank() - n + i], shape[i])
                  .value_or(false);
  }
  if (!matches) {
    std::string dims = ShapeString(shape);  // "[2, 3]"
    return absl::InvalidArgumentError(absl::StrFormat(
        "Given normalized_shape=%s, expected input with shape [*, %s], but "
        "got input of size%s",
        dims, dims.substr(1, dims.size() - 2), ShapeString(input.sizes)));
  }
  if (!ir::IsFloating(input.dtype)) {
    return NotFloating(ctx.schema().name, input.dtype);
  }
  std::optional<DType> param_dtype;
  for (const char* name : {"weight", "bias"}) {
    int i = ctx.index(name);
    if (ctx.is_none(i)) continue;
    const TensorType& p = ctx.tensor(i);
    bool same_shape = p.rank() == n;
    for (int d = 0; same_shape && d < n; ++d) {
      same_shape = ProvablyEqual(p.sizes[d], shape[d]).value_or(false);
    }
    if (!same_shape) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Expected %s to be of same shape as normalized_shape, but got %s of "
          "shape %s and normalized_shape = %s",
          name, name, ShapeString(p.sizes), ShapeString(shape)));
    }
    // PyTorch 2's CPU kernel also takes float32 parameters for a
    // float16/bfloat16 input; weight and bias then share that dtype.
    bool mixed = !IsCuda(input.device) && ir::IsReducedFloat(input.dtype) &&
                 p.dtype == DType::kFloat32;
    if (p.dtype != input.dtype && !mixed) {
      return absl::InvalidArgumentError(
          absl::StrFormat("expected %s of dtype %s, got %s", name,
                          ir::ShortName(input.dtype), ir::ShortName(p.dtype)));
    }
    if (param_dtype && *param_dtype != p.dtype) {
      return absl::InvalidArgumentError(
          "mixed dtype (CPU): weight and bias must share one dtype");
    }
    param_dtype = p.dtype;
    if (p.device != input.device) {
      return absl::InvalidArgumentError(
          absl::StrFormat("expected %s on %s, got %s", name,
                          input.device.ToString(), p.device.ToString()));
    }
  }
  LayerNormInfo info;
  info.axis = input.rank() - n;
  for (int d = 0; d < input.rank(); ++d) {
    info.stats_sizes.push_back(d < info.axis ? input.sizes[d] : ir::Const(1));
  }
  bool mixed = param_dtype && *param_dtype != input.dtype;
  info.stats_dtype =
      IsCuda(input.device) || mixed ? ir::OpMathType(input.dtype) : input.dtype;
  return info;
}

absl::StatusOr<std::vector<InferredOutput>> InferLayerNorm(
    const InferContext& ctx) {
  auto info = CheckLayerNorm(ctx);
  if (!info.ok()) return info.status();
  const TensorType& input = ctx.tensor(0);
  TensorType stats = TensorType::Contiguous(info->stats_dtype,
                                            info->stats_sizes, input.device);
  return std::vector<InferredOutput>{
      TensorType::Contiguous(input.dtype, input.sizes, input.device), stats,
      stats};
}

// The row-major values of an optional tensor argument (empty when None).
std::vector<double> OptionalDoubles(const KernelContext& kc,
                                    std::string_view name) {
  int i = kc.index(name);
  return kc.is_none(i) ? std::vector<double>() : kc.tensor(i).ToDoubles();
}

// Rows (the kept dims) times columns (the normalized ones) of the input.
std::pair<int64_t, int64_t> LayerNormRowsCols(const rt::Tensor& input,
                                              int normalized_dims) {
  int64_t rows = 1, cols = 1;
  for (int d = 0; d < input.rank(); ++d) {
    (d < input.rank() - normalized_dims ? rows : cols) *= input.sizes()[d];
  }
  return {rows, cols};
}

absl::Status RunLayerNorm(KernelContext& kc) {
  const rt::Tensor& input = kc.tensor(0);
  auto eps = kc.scalar(kc.index("eps"));
  if (!eps.ok()) return eps.status();
  const int n =
      static_cast<int>(kc.arg(kc.index("normalized_shape")).ints.size());
  auto [rows, cols] = LayerNormRowsCols(input, n);
  std::vector<double> x = input.ToDoubles();
  std::vector<double> w = OptionalDoubles(kc, "weight");
  std::vector<double> b = OptionalDoubles(kc, "bias");
  std::vector<double> out(x.size()), mean(rows), rstd(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * cols;
    if (cols == 0) {
      mean[r] = 0;
      rstd[r] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += row[c];
    double m = sum / static_cast<double>(cols);
    double m2 = 0;
    for (int64_t c = 0; c < cols; ++c) m2 += (row[c] - m) * (row[c] - m);
    double s =
        1.0 / std::sqrt(m2 / static_cast<double>(cols) + eps->AsDouble());
    mean[r] = m;
    rstd[r] = s;
    for (int64_t c = 0; c < cols; ++c) {
      double y = (row[c] - m) * s;
      if (!w.empty()) y *= w[c];
      if (!b.empty()) y += b[c];
      out[r * cols + c] = y;
    }
  }
  if (auto st = SetOutputDoubles(kc, 0, out); !st.ok()) return st;
  if (auto st = SetOutputDoubles(kc, 1, mean); !st.ok()) return st;
  return SetOutputDoubles(kc, 2, rstd);
}

absl::StatusOr<std::vector<InferredOutput>> InferLayerNormBackward(
    const InferContext& ctx) {
  auto info = CheckLayerNorm(ctx);
  if (!info.ok()) return info.status();
  const TensorType& grad = ctx.tensor(ctx.index("grad_out"));
  const TensorType& input = ctx.tensor(ctx.index("input"));
  bool same_sizes = grad.rank() == input.rank();
  for (int d = 0; same_sizes && d < grad.rank(); ++d) {
    same_sizes = ProvablyEqual(grad.sizes[d], input.sizes[d]).value_or(false);
  }
  if (!same_sizes || grad.dtype != input.dtype) {
    return absl::InvalidArgumentError(
        absl::StrFormat("grad_out %s must have the size and dtype of input %s",
                        grad.ToString(), input.ToString()));
  }
  ExprRef rows =
      TensorType::Contiguous(info->stats_dtype, info->stats_sizes).Numel();
  for (const char* name : {"mean", "rstd"}) {
    const TensorType& t = ctx.tensor(ctx.index(name));
    if (!ProvablyEqual(t.Numel(), rows).value_or(false)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s must have %s elements (one per normalized row), got %s", name,
          rows->ToString(), ShapeString(t.sizes)));
    }
    if (t.dtype != info->stats_dtype) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "expected %s of dtype %s, got %s", name,
          ir::ShortName(info->stats_dtype), ir::ShortName(t.dtype)));
    }
  }
  const Arg& mask = ctx.arg("output_mask");
  std::vector<InferredOutput> out;
  out.push_back(mask.bools[0] ? InferredOutput(TensorType::Contiguous(
                                    input.dtype, input.sizes, input.device))
                              : InferredOutput::None());
  for (int k = 1; k <= 2; ++k) {
    const char* name = k == 1 ? "weight" : "bias";
    if (!mask.bools[k]) {
      out.push_back(InferredOutput::None());
      continue;
    }
    int i = ctx.index(name);
    if (ctx.is_none(i)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "output_mask[%d] asks for the gradient of %s, which is None", k,
          name));
    }
    const TensorType& p = ctx.tensor(i);
    out.push_back(TensorType::Contiguous(p.dtype, p.sizes, p.device));
  }
  return out;
}

absl::Status RunLayerNormBackward(KernelContext& kc) {
  const rt::Tensor& input = kc.tensor(kc.index("input"));
  const int n =
      static_cast<int>(kc.arg(kc.index("normalized_shape")).ints.size());
  auto [rows, cols] = LayerNormRowsCols(input, n);
  std::vector<double> dy = kc.tensor(kc.index("grad_out")).ToDoubles();
  std::vector<double> x = input.ToDoubles();
  std::vector<double> mean = kc.tensor(kc.index("mean")).ToDoubles();
  std::vector<double> rstd = kc.tensor(kc.index("rstd")).ToDoubles();
  std::vector<double> w = OptionalDoubles(kc, "weight");
  std::vector<double> dx(x.size()), dw(cols, 0.0), db(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * cols;
    double sum_dyg = 0, sum_dyg_xhat = 0;
    for (int64_t c = 0; c < cols; ++c) {
      double xhat = (x[base + c] - mean[r]) * rstd[r];
      double dyg = dy[base + c] * (w.empty() ? 1.0 : w[c]);
      sum_dyg += dyg;
      sum_dyg_xhat += dyg * xhat;
      dw[c] += dy[base + c] * xhat;
      db[c] += dy[base + c];
    }
    const double inv_n = 1.0 / static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      double xhat = (x[base + c] - mean[r]) * rstd[r];
      double dyg = dy[base + c] * (w.empty() ? 1.0 : w[c]);
      dx[base + c] =
          rstd[r] * (dyg - sum_dyg * inv_n - xhat * sum_dyg_xhat * inv_n);
    }
  }
  const Arg& mask = kc.arg(kc.index("output_mask"));
  if (mask.bools[0]) {
    if (auto st = SetOutputDoubles(kc, 0, dx); !st.ok()) return st;
  }
  if (mask.bools[1]) {
    if (auto st = SetOutputDoubles(kc, 1, dw); !st.ok()) return st;
  }
  if (mask.bools[2]) {
    if (auto st = SetOutputDoubles(kc, 2, db); !st.ok()) return st;
  }
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::native_layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? "
    "weight, Tensor? bias, float eps) -> (Tensor, Tensor, Tensor)")
    .Category(OpCategory::kNormalization)
    .Infer(InferLayerNorm)
    .Reference(RunLayerNorm);
KILN_REGISTER_OP(
    "aten::native_layer_norm_backward(Tensor grad_out, Tensor input, SymInt[] "
    "normalized_shape, Tensor mean, Tensor rstd, Tensor? weight, Tensor? "
    "bias, bool[3] output_mask) -> (Tensor, Tensor, Tensor)")
    .Category(OpCategory::kNormalization)
    .Infer(InferLayerNormBackward)
    .Reference(RunLayerNormBackward);

}  // namespace
}  // namespace kiln::ops
