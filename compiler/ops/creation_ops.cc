// Creation ops: full, zeros, ones, empty, empty_strided, scalar_tensor,
// arange and the *_like family.
//
// Dtypes as ATen infers them: full's from its fill value (bool -> bool, int
// -> int64, float -> the default float), arange's from start/end/step (any
// float -> the default float, else int64), the *_like ops' from `self`,
// the rest the default float. Fill values are converted with c10's checked
// Scalar::to<T>() (300 into uint8 is an error). Fresh tensors are
// contiguous (or in the requested memory format); the *_like ops take
// empty_like's layout (layout_util.h).
//
// `empty` is uninitialized in ATen; here it is zero-filled, which is one of
// the values ATen may give. Tests must not compare its values.
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/layout_util.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::ops {
namespace {

using ir::Arg;
using ir::DType;
using ir::MemoryFormat;
using ir::TensorType;
using sym::Expr;

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

// The `dtype` / `device` keyword arguments, or the defaults.
DType DTypeArg(const Arg& a, DType otherwise) {
  return a.kind == Arg::Kind::kDType ? a.dtype : otherwise;
}
ir::Device DeviceArg(const Arg& a, ir::Device otherwise) {
  return a.kind == Arg::Kind::kDevice ? a.device : otherwise;
}

absl::Status CheckSizes(const std::vector<ExprRef>& sizes) {
  for (const ExprRef& s : sizes) {
    if (KnownNegative(s)) {
      return Invalid(absl::StrFormat(
          "Trying to create tensor with negative dimension %s: %s",
          s->ToString(), ShapeString(sizes)));
    }
  }
  return absl::OkStatus();
}

// A Scalar argument's dtype class when wrapped: bool, int64 or float64
// (constants and graph inputs alike); nullopt for anything else.
std::optional<DType> ScalarKindDType(const Arg& a) { return ScalarArgDType(a); }

// The fill value at run time, checked against the output dtype.
absl::StatusOr<rt::Scalar> FillValue(const KernelContext& kc, int i,
                                     DType dtype) {
  auto s = kc.scalar(i);
  if (!s.ok()) return s.status();
  if (auto st = CheckScalarConversion(*s, dtype); !st.ok()) return st;
  return *s;
}

// A constant fill value is checked at inference.
absl::Status CheckConstantFill(const Arg& a, DType dtype) {
  if (auto s = ConstantScalar(a)) return CheckScalarConversion(*s, dtype);
  return absl::OkStatus();
}

// Allocates output 0 (the node's declared layout) and fills it.
absl::Status AllocateAndFill(KernelContext& kc, const rt::Scalar& value) {
  auto out = kc.AllocateOutput(0);
  if (!out.ok()) return out.status();
  FillTensor(*out, value);
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

// --- full, zeros, ones, empty, empty_strided --------------------------------

// Output of a factory taking `SymInt[] size` first, in `format`.
absl::StatusOr<std::vector<InferredOutput>> FactoryOutput(
    const InferContext& ctx, DType dtype, MemoryFormat format) {
  IntArgs args(ctx);
  auto sizes = args.IntList(0);
  if (!sizes.ok()) return sizes.status();
  if (auto st = CheckSizes(*sizes); !st.ok()) return st;
  auto strides = FormatStrides(*sizes, format);
  if (!strides.ok()) return strides.status();
  return std::vector<InferredOutput>{
      TensorType::Strided(dtype, *sizes, *strides, ir::Const(0),
                          DeviceArg(ctx.arg("device"), ir::Device::Cpu()))};
}

DType FullDType(const InferContext& ctx) {
  const Arg& dtype = ctx.arg("dtype");
  if (dtype.kind == Arg::Kind::kDType) return dtype.dtype;
  auto wrapped = ScalarKindDType(ctx.arg(1));
  if (wrapped == DType::kBool) return DType::kBool;
  if (wrapped == DType::kInt64) return DType::kInt64;
  return ir::kDefaultFloat;
}

absl::StatusOr<std::vector<InferredOutput>> InferFull(const InferContext& ctx) {
  DType dtype = FullDType(ctx);
  if (auto st = CheckConstantFill(ctx.arg(1), dtype); !st.ok()) return st;
  return FactoryOutput(ctx, dtype, MemoryFormat::kContiguous);
}

absl::Status RunFull(KernelContext& kc) {
  auto value = FillValue(kc, 1, kc.node().output(0)->type().dtype);
  if (!value.ok()) return value.status();
  return AllocateAndFill(kc, *value);
}

KILN_REGISTER_OP(
    "aten::full(SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, "
    "Layout? layout=None, Device? device=None, bool? pin_memory=None) -> "
    "Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferFull)
    .Reference(RunFull);

absl::StatusOr<std::vector<InferredOutput>> InferConstantFactory(
    const InferContext& ctx) {
  return FactoryOutput(ctx, DTypeArg(ctx.arg("dtype"), ir::kDefaultFloat),
                       MemoryFormat::kContiguous);
}

KILN_REGISTER_OP(
    "aten::zeros(SymInt[] size, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferConstantFactory)
    .Reference([](KernelContext& kc) {
      return AllocateAndFill(kc, rt::Scalar::Int(0));
    });

KILN_REGISTER_OP(
    "aten::ones(SymInt[] size, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferConstantFactory)
    .Reference([](KernelContext& kc) {
      return AllocateAndFill(kc, rt::Scalar::Int(1));
    });

absl::StatusOr<MemoryFormat> EmptyFormat(const Arg& a) {
  if (a.kind != Arg::Kind::kMemoryFormat) return MemoryFormat::kContiguous;
  if (a.memory_format == MemoryFormat::kPreserve) {
    return Invalid("unsupported memory format Preserve");
  }
  return a.memory_format;
}

absl::StatusOr<std::vector<InferredOutput>> InferEmpty(
    const InferContext& ctx) {
  auto format = EmptyFormat(ctx.arg("memory_format"));
  if (!format.ok()) return format.status();
  return FactoryOutput(ctx, DTypeArg(ctx.arg("dtype"), ir::kDefaultFloat),
                       *format);
}

// Uninitialized in ATen: a fresh zero-filled tensor here.
absl::Status RunEmpty(KernelContext& kc) {
  auto out = kc.AllocateOutput(0);
  if (!out.ok()) return out.status();
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::empty.memory_format(SymInt[] size, *, ScalarType? dtype=None, "
    "Layout? layout=None, Device? device=None, bool? pin_memory=None, "
    "MemoryFormat? memory_format=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferEmpty)
    .Reference(RunEmpty);

absl::StatusOr<std::vector<InferredOutput>> InferEmptyStrided(
    const InferContext& ctx) {
  IntArgs args(ctx);
  auto sizes = args.IntList(0);
  if (!sizes.ok()) return sizes.status();
  auto strides = args.IntList(1);
  if (!strides.ok()) return strides.status();
  if (sizes->size() != strides->size()) {
    return Invalid(absl::StrFormat(
        "dimensionality of sizes (%d) must match dimensionality of strides "
        "(%d)",
        sizes->size(), strides->size()));
  }
  if (auto st = CheckSizes(*sizes); !st.ok()) return st;
  for (const ExprRef& s : *strides) {
    if (KnownNegative(s)) {
      return Invalid(absl::StrFormat(
          "Storage size calculation overflowed with sizes=%s and strides=%s",
          ShapeString(*sizes), ShapeString(*strides)));
    }
  }
  return std::vector<InferredOutput>{TensorType::Strided(
      DTypeArg(ctx.arg("dtype"), ir::kDefaultFloat), *sizes, *strides,
      ir::Const(0), DeviceArg(ctx.arg("device"), ir::Device::Cpu()))};
}

KILN_REGISTER_OP(
    "aten::empty_strided(SymInt[] size, SymInt[] stride, *, ScalarType? "
    "dtype=None, Layout? layout=None, Device? device=None, bool? "
    "pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferEmptyStrided)
    .Reference(RunEmpty);

// --- scalar_tensor -----------------------------------------------------------

absl::StatusOr<std::vector<InferredOutput>> InferScalarTensor(
    const InferContext& ctx) {
  DType dtype = DTypeArg(ctx.arg("dtype"), ir::kDefaultFloat);
  if (auto st = CheckConstantFill(ctx.arg(0), dtype); !st.ok()) return st;
  return std::vector<InferredOutput>{TensorType::Contiguous(
      dtype, {}, DeviceArg(ctx.arg("device"), ir::Device::Cpu()))};
}

absl::Status RunScalarTensor(KernelContext& kc) {
  auto value = FillValue(kc, 0, kc.node().output(0)->type().dtype);
  if (!value.ok()) return value.status();
  return AllocateAndFill(kc, *value);
}

KILN_REGISTER_OP(
    "aten::scalar_tensor(Scalar s, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferScalarTensor)
    .Reference(RunScalarTensor);

// --- arange ------------------------------------------------------------------

// Schema positions of start, end and step (-1 when the overload lacks one).
struct RangeArgs {
  int start = -1, end = -1, step = -1;
};

RangeArgs RangeArgsOf(const Schema& schema) {
  return RangeArgs{schema.ArgumentIndex("start"), schema.ArgumentIndex("end"),
                   schema.ArgumentIndex("step")};
}

bool IsFloatScalar(const Arg& a) {
  return ScalarKindDType(a) == DType::kFloat64;
}

DType ArangeDType(const InferContext& ctx, const RangeArgs& r) {
  const Arg& dtype = ctx.arg("dtype");
  if (dtype.kind == Arg::Kind::kDType) return dtype.dtype;
  for (int i : {r.start, r.end, r.step}) {
    if (i >= 0 && IsFloatScalar(ctx.arg(i))) return ir::kDefaultFloat;
  }
  return DType::kInt64;
}

// acc_type<scalar_t, /*is_cuda=*/false>: int64 for integers, float for
// float16/bfloat16, double for float32/float64.
enum class Acc { kInt64, kFloat, kDouble };
Acc AccOf(DType dtype) {
  if (!ir::IsFloating(dtype)) return Acc::kInt64;
  if (ir::IsReducedFloat(dtype)) return Acc::kFloat;
  return Acc::kDouble;
}

// Scalar::to<acc>() (checked), as a double for the float accumulators.
struct AccValue {
  int64_t i = 0;
  double f = 0;
};
absl::StatusOr<AccValue> ToAcc(const rt::Scalar& s, Acc acc) {
  AccValue v;
  if (acc == Acc::kInt64) {
    auto i = ScalarToInt64(s);
    if (!i.ok()) return i.status();
    v.i = *i;
    v.f = static_cast<double>(*i);
    return v;
  }
  if (acc == Acc::kFloat) {
    if (auto st = CheckScalarConversion(s, DType::kFloat32); !st.ok()) {
      return st;
    }
    v.f = static_cast<float>(s.AsDouble());
    return v;
  }
  v.f = s.AsDouble();
  return v;
}

std::string FormatAcc(const AccValue& v, Acc acc) {
  if (acc == Acc::kInt64) return absl::StrFormat("%d", v.i);
  return absl::StrFormat("%g", v.f);
}

// ATen's arange_out (torch 1.13, CPU): the checks and the element count.
absl::StatusOr<int64_t> ArangeSize(DType dtype, const rt::Scalar& start,
                                   const rt::Scalar& end,
                                   const rt::Scalar& step) {
  if (dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        "\"arange_cpu\" not implemented for 'Bool'");
  }
  Acc acc = AccOf(dtype);
  auto xstart = ToAcc(start, acc);
  if (!xstart.ok()) return xstart.status();
  auto xend = ToAcc(end, acc);
  if (!xend.ok()) return xend.status();
  auto xstep = ToAcc(step, acc);
  if (!xstep.ok()) return xstep.status();
  bool step_pos = acc == Acc::kInt64 ? xstep->i > 0 : xstep->f > 0;
  bool step_neg = acc == Acc::kInt64 ? xstep->i < 0 : xstep->f < 0;
  if (!step_pos && !step_neg) return Invalid("step must be nonzero");
  if (!std::isfinite(xstart->f) || !std::isfinite(xend->f)) {
    return Invalid(absl::StrFormat("unsupported range: %s -> %s",
                                   FormatAcc(*xstart, acc),
                                   FormatAcc(*xend, acc)));
  }
  bool consistent = acc == Acc::kInt64 ? (step_pos && xend->i >= xstart->i) ||
                                             (step_neg && xend->i <= xstart->i)
                                       : (step_pos && xend->f >= xstart->f) ||
                                             (step_neg && xend->f <= xstart->f);
  if (!consistent) {
    return Invalid("upper bound and larger bound inconsistent with step sign");
  }
  double size_d;
  if (dtype == DType::kInt64) {
    int64_t sgn = step_pos ? 1 : -1;
    uint64_t num = static_cast<uint64_t>(xend->i) -
                   static_cast<uint64_t>(xstart->i) +
                   static_cast<uint64_t>(xstep->i) - static_cast<uint64_t>(sgn);
    size_d =
        std::ceil(static_cast<double>(static_cast<int64_t>(num) / xstep->i));
  } else {
    size_d = std::ceil((end.AsDouble() - start.AsDouble()) / step.AsDouble());
  }
  if (!(size_d >= 0 &&
        size_d <= static_cast<double>(std::numeric_limits<int64_t>::max()))) {
    return Invalid("invalid size, possible overflow?");
  }
  return static_cast<int64_t>(size_d);
}

absl::StatusOr<std::vector<InferredOutput>> InferArange(
    const InferContext& ctx) {
  RangeArgs r = RangeArgsOf(ctx.schema());
  DType dtype = ArangeDType(ctx, r);
  ir::Device device = DeviceArg(ctx.arg("device"), ir::Device::Cpu());
  std::optional<rt::Scalar> start = rt::Scalar::Int(0), end,
                            step = rt::Scalar::Int(1);
  if (r.start >= 0) start = ConstantScalar(ctx.arg(r.start));
  end = ConstantScalar(ctx.arg(r.end));
  if (r.step >= 0) step = ConstantScalar(ctx.arg(r.step));
  if (start && end && step) {
    auto size = ArangeSize(dtype, *start, *end, *step);
    if (!size.ok()) return size.status();
    return std::vector<InferredOutput>{
        TensorType::Contiguous(dtype, {ir::Const(*size)}, device)};
  }
  // Symbolic integer bounds with a constant step: the count is
  // (end - start + step - sign(step)) // step.
  auto int_expr = [&](int i, int64_t otherwise) -> std::optional<ExprRef> {
    if (i < 0) return ir::Const(otherwise);
    const Arg& a = ctx.arg(i);
    if (a.kind == Arg::Kind::kInt) return a.i;
    return std::nullopt;
  };
  auto s = int_expr(r.start, 0), e = int_expr(r.end, 0),
       st = int_expr(r.step, 1);
  if (!s || !e || !st || !(*st)->AsConst()) {
    return absl::UnimplementedError(
        "arange with bounds given by graph inputs (the size would not be "
        "known); only constants and SymInt bounds with a constant step are "
        "supported");
  }
  if (dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        "\"arange_cpu\" not implemented for 'Bool'");
  }
  int64_t step_value = *(*st)->AsConst();
  if (step_value == 0) return Invalid("step must be nonzero");
  ExprRef count = Expr::FloorDiv(
      Expr::Add({*e, Expr::Neg(*s),
                 ir::Const(step_value - (step_value > 0 ? 1 : -1))}),
      ir::Const(step_value));
  return std::vector<InferredOutput>{
      TensorType::Contiguous(dtype, {count}, device)};
}

absl::Status RunArange(KernelContext& kc) {
  RangeArgs r = RangeArgsOf(kc.node().op().schema());
  DType dtype = kc.node().output(0)->type().dtype;
  rt::Scalar start = rt::Scalar::Int(0), step = rt::Scalar::Int(1);
  if (r.start >= 0) {
    auto v = kc.scalar(r.start);
    if (!v.ok()) return v.status();
    start = *v;
  }
  auto end = kc.scalar(r.end);
  if (!end.ok()) return end.status();
  if (r.step >= 0) {
    auto v = kc.scalar(r.step);
    if (!v.ok()) return v.status();
    step = *v;
  }
  auto size = ArangeSize(dtype, start, *end, step);
  if (!size.ok()) return size.status();
  auto declared = kc.OutputSizes(0);
  if (!declared.ok()) return declared.status();
  if ((*declared)[0] != *size) {
    return Invalid(absl::StrFormat(
        "arange gives %d elements on these inputs, the graph declares %d",
        *size, (*declared)[0]));
  }
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  Acc acc = AccOf(dtype);
  auto xstart = ToAcc(start, acc);
  if (!xstart.ok()) return xstart.status();
  auto xstep = ToAcc(step, acc);
  if (!xstep.ok()) return xstep.status();
  rt::DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < *size; ++i) {
      T value;
      if (acc == Acc::kInt64) {
        // Wrapping int64 arithmetic, then a wrapping cast.
        uint64_t v = static_cast<uint64_t>(xstart->i) +
                     static_cast<uint64_t>(xstep->i) * static_cast<uint64_t>(i);
        value = pw::Convert<T>(static_cast<int64_t>(v));
      } else if (acc == Acc::kFloat) {
        float v = static_cast<float>(xstart->f) +
                  static_cast<float>(xstep->f) * static_cast<float>(i);
        value = pw::Convert<T>(v);
      } else {
        value = pw::Convert<T>(xstart->f + xstep->f * static_cast<double>(i));
      }
      int64_t idx = i;
      std::memcpy(out.ElementPtr(&idx), &value, sizeof(T));
    }
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::arange(Scalar end, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferArange)
    .Reference(RunArange);

KILN_REGISTER_OP(
    "aten::arange.start(Scalar start, Scalar end, *, ScalarType? dtype=None, "
    "Layout? layout=None, Device? device=None, bool? pin_memory=None) -> "
    "Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferArange)
    .Reference(RunArange);

KILN_REGISTER_OP(
    "aten::arange.start_step(Scalar start, Scalar end, Scalar step=1, *, "
    "ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? "
    "pin_memory=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferArange)
    .Reference(RunArange);

// --- full_like, zeros_like, ones_like, empty_like
// ------------------------------

absl::StatusOr<InferredOutput> LikeOutput(const TensorType& self,
                                          const Arg& dtype, const Arg& device,
                                          const Arg& memory_format) {
  auto layout = LikeLayout(self, memory_format);
  if (!layout.ok()) return layout.status();
  return InferredOutput(
      TensorType::Strided(DTypeArg(dtype, self.dtype), self.sizes,
                          layout->strides, ir::Const(0),
                          DeviceArg(device, self.device)),
      layout->exact);
}

absl::StatusOr<std::vector<InferredOutput>> InferLike(const InferContext& ctx) {
  auto out = LikeOutput(ctx.tensor(0), ctx.arg("dtype"), ctx.arg("device"),
                        ctx.arg("memory_format"));
  if (!out.ok()) return out.status();
  int fill = ctx.schema().ArgumentIndex("fill_value");
  if (fill >= 0) {
    if (auto st = CheckConstantFill(ctx.arg(fill), out->type->dtype);
        !st.ok()) {
      return st;
    }
  }
  return std::vector<InferredOutput>{*std::move(out)};
}

// The *_like reference: empty_like's layout for these very inputs, filled
// with `value` (nullopt: empty_like, zero-filled).
absl::Status RunLike(KernelContext& kc, std::optional<rt::Scalar> value) {
  const rt::Tensor& self = kc.tensor(0);
  const Arg& dtype = kc.arg(kc.index("dtype"));
  auto type = LikeOutput(ConstType(self), dtype, Arg::None(),
                         kc.arg(kc.index("memory_format")));
  if (!type.ok()) return type.status();
  auto out = AllocateLike(*type->type);
  if (!out.ok()) return out.status();
  if (value) FillTensor(*out, *value);
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::full_like(Tensor self, Scalar fill_value, *, ScalarType? "
    "dtype=None, Layout? layout=None, Device? device=None, bool? "
    "pin_memory=None, MemoryFormat? memory_format=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferLike)
    .Reference([](KernelContext& kc) -> absl::Status {
      auto value = FillValue(kc, 1, kc.node().output(0)->type().dtype);
      if (!value.ok()) return value.status();
      return RunLike(kc, *value);
    });

KILN_REGISTER_OP(
    "aten::zeros_like(Tensor self, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? "
    "memory_format=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferLike)
    .Reference([](KernelContext& kc) {
      return RunLike(kc, rt::Scalar::Int(0));
    });

KILN_REGISTER_OP(
    "aten::ones_like(Tensor self, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? "
    "memory_format=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferLike)
    .Reference([](KernelContext& kc) {
      return RunLike(kc, rt::Scalar::Int(1));
    });

KILN_REGISTER_OP(
    "aten::empty_like(Tensor self, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? "
    "memory_format=None) -> Tensor")
    .Category(OpCategory::kCreation)
    .Infer(InferLike)
    .Reference([](KernelContext& kc) { return RunLike(kc, std::nullopt); });

}  // namespace
}  // namespace kiln::ops
