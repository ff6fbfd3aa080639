// Views: outputs share the input's storage. Inference computes the view's
// strides exactly as ATen (at::detail::computeStride); the reference
// implementation recomputes them from the run-time input so views of views
// stay faithful.
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using sym::Expr;

// at::detail::computeStride over static values; nullopt when the view is
// impossible without a copy.
std::optional<std::vector<int64_t>> ComputeViewStrides(
    const std::vector<int64_t>& oldshape, const std::vector<int64_t>& oldstride,
    const std::vector<int64_t>& newshape) {
  if (oldshape.empty()) return std::vector<int64_t>(newshape.size(), 1);
  int64_t numel = 1;
  for (int64_t s : oldshape) numel *= s;
  if (numel == 0 && oldshape == newshape) return oldstride;
  std::vector<int64_t> newstride(newshape.size());
  if (numel == 0) {
    for (int64_t d = static_cast<int64_t>(newshape.size()) - 1; d >= 0; --d) {
      if (d == static_cast<int64_t>(newshape.size()) - 1) {
        newstride[d] = 1;
      } else {
        newstride[d] = std::max<int64_t>(newshape[d + 1], 1) * newstride[d + 1];
      }
    }
    return newstride;
  }
  int64_t view_d = static_cast<int64_t>(newshape.size()) - 1;
  int64_t chunk_base_stride = oldstride.back();
  int64_t tensor_numel = 1;
  int64_t view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(oldshape.size()) - 1;
       tensor_d >= 0; --tensor_d) {
    tensor_numel *= oldshape[tensor_d];
    if (tensor_d == 0 ||
        (oldshape[tensor_d - 1] != 1 &&
         oldstride[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 &&
             (view_numel < tensor_numel || newshape[view_d] == 1)) {
        newstride[view_d] = view_numel * chunk_base_stride;
        view_numel *= newshape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = oldstride[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return newstride;
}

// Splits a product into its constant coefficient and other factors.
void Factors(const ExprRef& e, int64_t* coef, std::vector<ExprRef>* rest) {
  *coef = 1;
  rest->clear();
  if (auto c = e->AsConst()) {
    *coef = *c;
    return;
  }
  if (e->op() == sym::Op::kMul) {
    for (const ExprRef& f : e->args()) {
      if (auto c = f->AsConst()) {
        *coef *= *c;
      } else {
        rest->push_back(f);
      }
    }
    return;
  }
  rest->push_back(e);
}

// num / den when den's factors divide num's exactly.
std::optional<ExprRef> DivideExact(const ExprRef& num, const ExprRef& den) {
  int64_t nc, dc;
  std::vector<ExprRef> nf, df;
  Factors(num, &nc, &nf);
  Factors(den, &dc, &df);
  if (dc == 0 || nc % dc != 0) return std::nullopt;
  for (const ExprRef& f : df) {
    bool found = false;
    for (size_t i = 0; i < nf.size(); ++i) {
      if (sym::SameExpr(nf[i], f)) {
        nf.erase(nf.begin() + i);
        found = true;
        break;
      }
    }
    if (!found) return std::nullopt;
  }
  nf.push_back(ir::Const(nc / dc));
  return Expr::Mul(nf);
}

// at::infer_size: resolves one -1 and checks the element count.
absl::StatusOr<std::vector<ExprRef>> InferViewSize(
    const std::vector<ExprRef>& shape, const ExprRef& numel) {
  std::vector<ExprRef> out = shape;
  int infer = -1;
  std::vector<ExprRef> known;
  for (size_t i = 0; i < shape.size(); ++i) {
    auto c = shape[i]->AsConst();
    if (c == -1) {
      if (infer >= 0) {
        return absl::InvalidArgumentError("only one dimension can be inferred");
      }
      infer = static_cast<int>(i);
    } else if (c && *c < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid shape dimension %d", *c));
    } else {
      known.push_back(shape[i]);
    }
  }
  ExprRef known_numel = known.empty() ? ir::Const(1) : Expr::Mul(known);
  auto invalid = [&]() {
    return absl::InvalidArgumentError(
        absl::StrFormat("shape '%s' is invalid for input of size %s",
                        ShapeString(shape), numel->ToString()));
  };
  if (infer >= 0) {
    if (known_numel->AsConst() == 0) return invalid();
    auto q = DivideExact(numel, known_numel);
    if (!q) return invalid();
    out[infer] = *q;
    return out;
  }
  if (!ProvablyEqual(known_numel, numel).value_or(false)) return invalid();
  return out;
}

absl::StatusOr<std::vector<InferredOutput>> InferView(const InferContext& ctx) {
  const ir::TensorType& self = ctx.tensor(0);
  auto sizes = InferViewSize(ctx.arg(1).ints, self.Numel());
  if (!sizes.ok()) return sizes.status();
  ir::TensorType out = self;
  out.requires_grad = false;
  out.sizes = *sizes;
  if (self.IsContiguous()) {
    out.strides = ir::ContiguousStrides(out.sizes);
    return std::vector<InferredOutput>{out};
  }
  std::vector<int64_t> old_sizes, old_strides, new_sizes;
  auto all_static = [](const std::vector<ExprRef>& v,
                       std::vector<int64_t>* out) {
    for (const ExprRef& e : v) {
      auto c = e->AsConst();
      if (!c) return false;
      out->push_back(*c);
    }
    return true;
  };
  if (!all_static(self.sizes, &old_sizes) ||
      !all_static(self.strides, &old_strides) ||
      !all_static(out.sizes, &new_sizes)) {
    return absl::UnimplementedError(
        "view of a non-contiguous tensor with symbolic sizes or strides");
  }
  auto strides = ComputeViewStrides(old_sizes, old_strides, new_sizes);
  if (!strides) {
    return absl::InvalidArgumentError(
        "view size is not compatible with input tensor's size and stride (at "
        "least one dimension spans across two contiguous subspaces); use "
        "reshape instead");
  }
  out.strides = ir::Consts(*strides);
  return std::vector<InferredOutput>{out};
}

absl::Status RunView(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  auto sizes = kc.OutputSizes(0);
  if (!sizes.ok()) return sizes.status();
  auto strides = ComputeViewStrides(self.sizes(), self.strides(), *sizes);
  if (!strides) {
    return absl::InvalidArgumentError(
        "view size is not compatible with the input's size and stride");
  }
  auto view = rt::Tensor::View(self, *sizes, *strides, self.storage_offset());
  if (!view.ok()) return view.status();
  kc.SetOutput(0, *std::move(view));
  return absl::OkStatus();
}

KILN_REGISTER_OP("aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)")
    .Category(OpCategory::kView)
    .Infer(InferView)
    .Reference(RunView);

}  // namespace
}  // namespace kiln::ops
