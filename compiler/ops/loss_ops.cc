// Losses of the captured training graphs: nll_loss_forward and
// nll_loss_backward.
//
// ATen's rules: `self` holds log-probabilities, [N, C] or [C] (then the
// target is 0-d); the target is int64 (or uint8) of shape [N] (or []);
// weight, when given, has C elements and self's dtype; reduction is 0
// (none), 1 (mean) or 2 (sum). A target equal to ignore_index counts for
// nothing; any other target outside [0, C) is an error at run time.
//
//   none (2-d self): output[i] = -w[t_i] * self[i, t_i], total_weight 0
//   sum:  output = sum_i -w[t_i] * self[i, t_i], total_weight = sum_i w[t_i]
//   mean: sum / total_weight (NaN when every target is ignored)
//
// A 1-d self with reduction none takes the sum path, as ATen's kernels do
// (output and total_weight 0-d). nll_loss_backward scatters
// -w[t_i] * grad (divided by total_weight for mean) into zeros shaped like
// self. The reference kernels compute in double and round once; outputs
// are contiguous.
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/op_util.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::TensorType;

enum Reduction : int64_t { kNone = 0, kMean = 1, kSum = 2 };

absl::StatusOr<int64_t> GetReduction(const ir::Arg& a) {
  auto r = StaticInt(a, "reduction");
  if (!r.ok()) return r.status();
  if (*r < kNone || *r > kSum) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "reduction must be 0 (none), 1 (mean) or 2 (sum), got %d", *r));
  }
  return *r;
}

// Checks self, target and weight; returns the reduction.
absl::StatusOr<int64_t> CheckNll(const InferContext& ctx) {
  const TensorType& self = ctx.tensor(ctx.index("self"));
  const TensorType& target = ctx.tensor(ctx.index("target"));
  if (self.rank() < 1 || self.rank() > 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "input tensor should be 1D or 2D, got %d-d", self.rank()));
  }
  if (!ir::IsFloating(self.dtype)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "nll_loss is not supported for %s (floating dtypes only)",
        ir::ShortName(self.dtype)));
  }
  if (target.rank() > 1) {
    return absl::InvalidArgumentError(
        "0D or 1D target tensor expected, multi-target not supported");
  }
  bool sizes_match =
      self.rank() == 1
          ? target.rank() == 0
          : target.rank() == 1 &&
                ProvablyEqual(self.sizes[0], target.sizes[0]).value_or(false);
  if (!sizes_match) {
    return absl::InvalidArgumentError(
        absl::StrFormat("size mismatch (got input: %s, target: %s)",
                        ShapeString(self.sizes), ShapeString(target.sizes)));
  }
  if (target.dtype != DType::kInt64 && target.dtype != DType::kUInt8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("expected target of dtype i64 (or u8), got %s",
                        ir::ShortName(target.dtype)));
  }
  int wi = ctx.index("weight");
  if (!ctx.is_none(wi)) {
    const TensorType& w = ctx.tensor(wi);
    const ExprRef& classes = self.sizes[self.rank() - 1];
    if (!ProvablyEqual(w.Numel(), classes).value_or(false)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "weight tensor should be defined either for all %s classes or no "
          "classes but got weight tensor of shape: %s",
          classes->ToString(), ShapeString(w.sizes)));
    }
    if (w.dtype != self.dtype) {
      return absl::InvalidArgumentError(
          absl::StrFormat("expected weight of dtype %s, got %s",
                          ir::ShortName(self.dtype), ir::ShortName(w.dtype)));
    }
  }
  return GetReduction(ctx.arg("reduction"));
}

absl::StatusOr<std::vector<InferredOutput>> InferNllForward(
    const InferContext& ctx) {
  auto reduction = CheckNll(ctx);
  if (!reduction.ok()) return reduction.status();
  const TensorType& self = ctx.tensor(0);
  std::vector<ExprRef> sizes;
  if (*reduction == kNone && self.rank() == 2) sizes = {self.sizes[0]};
  return std::vector<InferredOutput>{
      TensorType::Contiguous(self.dtype, sizes, self.device),
      TensorType::Contiguous(self.dtype, {}, self.device)};
}

absl::StatusOr<std::vector<InferredOutput>> InferNllBackward(
    const InferContext& ctx) {
  auto reduction = CheckNll(ctx);
  if (!reduction.ok()) return reduction.status();
  const TensorType& self = ctx.tensor(ctx.index("self"));
  const TensorType& grad = ctx.tensor(ctx.index("grad_output"));
  const TensorType& total = ctx.tensor(ctx.index("total_weight"));
  if (*reduction == kNone && self.rank() == 2) {
    if (grad.rank() != 1 ||
        !ProvablyEqual(grad.sizes[0], self.sizes[0]).value_or(false)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("grad_output must be [%s] for reduction none, got %s",
                          self.sizes[0]->ToString(), ShapeString(grad.sizes)));
    }
  } else if (!ProvablyEqual(grad.Numel(), ir::Const(1)).value_or(false)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Expected a single element grad_output tensor, but got: %s",
        ShapeString(grad.sizes)));
  }
  if (!ProvablyEqual(total.Numel(), ir::Const(1)).value_or(false)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "expected total_weight to be a single element tensor, got: %s",
        ShapeString(total.sizes)));
  }
  for (const TensorType* t : {&grad, &total}) {
    if (t->dtype != self.dtype) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "expected grad_output and total_weight of dtype %s, got %s",
          ir::ShortName(self.dtype), ir::ShortName(t->dtype)));
    }
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(self.dtype, self.sizes, self.device)};
}

// What both kernels read: self's geometry, the targets, the weights and
// ignore_index.
struct NllCall {
  int64_t batch = 1;        // N (1 for a 1-d self)
  int64_t classes = 0;      // C
  bool per_sample = false;  // reduction none with a 2-d self
  int64_t reduction = kMean;
  std::vector<int64_t> target;
  std::vector<double> weight;  // empty: all 1
  int64_t ignore_index = -100;

  // The class of sample i, or -1 when ignored; OUT_OF_RANGE-free
  // INVALID_ARGUMENT for a target outside [0, C).
  absl::StatusOr<int64_t> Class(int64_t i) const {
    int64_t t = target[i];
    if (t == ignore_index) return -1;
    if (t < 0 || t >= classes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("Target %d is out of bounds.", t));
    }
    return t;
  }
  double Weight(int64_t c) const { return weight.empty() ? 1.0 : weight[c]; }
};

absl::StatusOr<NllCall> ReadNll(const KernelContext& kc) {
  NllCall call;
  const rt::Tensor& self = kc.tensor(kc.index("self"));
  call.batch = self.rank() == 2 ? self.sizes()[0] : 1;
  call.classes = self.sizes()[self.rank() - 1];
  auto reduction = GetReduction(kc.arg(kc.index("reduction")));
  if (!reduction.ok()) return reduction.status();
  call.reduction = *reduction;
  call.per_sample = call.reduction == kNone && self.rank() == 2;
  call.target = kc.tensor(kc.index("target")).ToInts();
  int wi = kc.index("weight");
  if (!kc.is_none(wi)) call.weight = kc.tensor(wi).ToDoubles();
  auto ignore = kc.int_arg(kc.index("ignore_index"));
  if (!ignore.ok()) return ignore.status();
  call.ignore_index = *ignore;
  return call;
}

absl::Status RunNllForward(KernelContext& kc) {
  auto call = ReadNll(kc);
  if (!call.ok()) return call.status();
  std::vector<double> x = kc.tensor(0).ToDoubles();
  std::vector<double> losses(call->batch, 0.0);
  double total = 0, sum = 0;
  for (int64_t i = 0; i < call->batch; ++i) {
    auto c = call->Class(i);
    if (!c.ok()) return c.status();
    if (*c < 0) continue;
    double w = call->Weight(*c);
    losses[i] = -w * x[i * call->classes + *c];
    sum += losses[i];
    total += w;
  }
  if (call->per_sample) {
    if (auto st = SetOutputDoubles(kc, 0, losses); !st.ok()) return st;
    return SetOutputDoubles(kc, 1, {0.0});
  }
  double out = call->reduction == kMean ? sum / total : sum;
  if (auto st = SetOutputDoubles(kc, 0, {out}); !st.ok()) return st;
  return SetOutputDoubles(kc, 1, {total});
}

absl::Status RunNllBackward(KernelContext& kc) {
  auto call = ReadNll(kc);
  if (!call.ok()) return call.status();
  std::vector<double> grad = kc.tensor(kc.index("grad_output")).ToDoubles();
  double total = kc.tensor(kc.index("total_weight")).ToDoubles()[0];
  std::vector<double> out(call->batch * call->classes, 0.0);
  for (int64_t i = 0; i < call->batch; ++i) {
    auto c = call->Class(i);
    if (!c.ok()) return c.status();
    if (*c < 0) continue;
    double g = call->per_sample ? grad[i] : grad[0];
    if (call->reduction == kMean) g /= total;
    out[i * call->classes + *c] = -call->Weight(*c) * g;
  }
  return SetOutputDoubles(kc, 0, out);
}

// ignore_index is a SymInt in PyTorch 2's schema (an int in 1.13's); the
// SymInt schema accepts both.
KILN_REGISTER_OP(
    "aten::nll_loss_forward(Tensor self, Tensor target, Tensor? weight, int "
    "reduction, SymInt ignore_index) -> (Tensor output, Tensor total_weight)")
    .Category(OpCategory::kOther)
    .Infer(InferNllForward)
    .Reference(RunNllForward);
KILN_REGISTER_OP(
    "aten::nll_loss_backward(Tensor grad_output, Tensor self, Tensor target, "
    "Tensor? weight, int reduction, SymInt ignore_index, Tensor total_weight) "
    "-> Tensor")
    .Category(OpCategory::kOther)
    .Infer(InferNllBackward)
    .Reference(RunNllBackward);

}  // namespace
}  // namespace kiln::ops
