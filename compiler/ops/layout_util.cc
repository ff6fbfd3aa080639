#include "compiler/ops/layout_util.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/pointwise.h"
#include "compiler/runtime/scalar_math.h"

namespace kiln::ops {

using ir::Arg;
using ir::DType;
using ir::MemoryFormat;
using ir::TensorType;
using sym::Expr;

// --- IntArgs ---------------------------------------------------------------

const Arg& IntArgs::arg(int i) const {
  return infer_ ? infer_->arg(i) : kernel_->arg(i);
}

const std::string& IntArgs::name(int i) const {
  const Schema& s = infer_ ? infer_->schema() : kernel_->node().op().schema();
  return s.arguments[i].name;
}

bool IntArgs::is_none(int i) const { return arg(i).is_none(); }

const ir::TensorType& IntArgs::ir_type(int i) const {
  return arg(i).value->type();
}

absl::StatusOr<ExprRef> IntArgs::Int(int i) const {
  if (kernel_) {
    auto v = kernel_->int_arg(i);
    if (!v.ok()) return v.status();
    return ir::Const(*v);
  }
  const Arg& a = arg(i);
  if (a.kind == Arg::Kind::kInt) return a.i;
  if (a.kind == Arg::Kind::kBool) return ir::Const(a.b ? 1 : 0);
  if (a.kind == Arg::Kind::kValue) {
    return absl::UnimplementedError(absl::StrFormat(
        "argument '%s' is a Python int graph input; only static and SymInt "
        "values are supported here",
        name(i)));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("argument '%s' must be an int", name(i)));
}

absl::StatusOr<std::optional<ExprRef>> IntArgs::OptionalInt(int i) const {
  if (is_none(i)) return std::optional<ExprRef>();
  auto v = Int(i);
  if (!v.ok()) return v.status();
  return std::optional<ExprRef>(*v);
}

absl::StatusOr<std::vector<ExprRef>> IntArgs::IntList(int i) const {
  if (kernel_) {
    auto v = kernel_->int_list(i);
    if (!v.ok()) return v.status();
    return ir::Consts(*v);
  }
  const Arg& a = arg(i);
  if (a.kind == Arg::Kind::kIntList) return a.ints;
  if (a.kind == Arg::Kind::kInt) return std::vector<ExprRef>{a.i};
  return absl::InvalidArgumentError(
      absl::StrFormat("argument '%s' must be an int list", name(i)));
}

absl::StatusOr<int64_t> IntArgs::StaticInt(int i) const {
  auto v = Int(i);
  if (!v.ok()) return v.status();
  if (auto c = (*v)->AsConst()) return *c;
  return absl::UnimplementedError(
      absl::StrFormat("argument '%s' is symbolic (%s); it must be static",
                      name(i), (*v)->ToString()));
}

absl::StatusOr<std::vector<int64_t>> IntArgs::StaticIntList(int i) const {
  auto v = IntList(i);
  if (!v.ok()) return v.status();
  std::vector<int64_t> out;
  for (const ExprRef& e : *v) {
    auto c = e->AsConst();
    if (!c) {
      return absl::UnimplementedError(absl::StrFormat(
          "argument '%s' has a symbolic element (%s); it must be static",
          name(i), e->ToString()));
    }
    out.push_back(*c);
  }
  return out;
}

// --- concrete tensors --------------------------------------------------------

TensorType ConstType(const rt::Tensor& t, ir::Device device) {
  return TensorType::Strided(t.dtype(), ir::Consts(t.sizes()),
                             ir::Consts(t.strides()),
                             ir::Const(t.storage_offset()), device);
}

absl::StatusOr<std::vector<int64_t>> ConstValues(
    const std::vector<ExprRef>& exprs) {
  std::vector<int64_t> out;
  out.reserve(exprs.size());
  for (const ExprRef& e : exprs) {
    auto c = e->AsConst();
    if (!c) {
      return absl::InternalError(
          absl::StrCat("expected a constant, got ", e->ToString()));
    }
    out.push_back(*c);
  }
  return out;
}

absl::StatusOr<rt::Tensor> ViewAs(const rt::Tensor& base,
                                  const TensorType& type) {
  auto sizes = ConstValues(type.sizes);
  if (!sizes.ok()) return sizes.status();
  auto strides = ConstValues(type.strides);
  if (!strides.ok()) return strides.status();
  auto offset = ConstValues({type.storage_offset});
  if (!offset.ok()) return offset.status();
  return rt::Tensor::View(base, *std::move(sizes), *std::move(strides),
                          (*offset)[0]);
}

absl::StatusOr<rt::Tensor> AllocateLike(const TensorType& type) {
  auto sizes = ConstValues(type.sizes);
  if (!sizes.ok()) return sizes.status();
  auto strides = ConstValues(type.strides);
  if (!strides.ok()) return strides.status();
  auto offset = ConstValues({type.storage_offset});
  if (!offset.ok()) return offset.status();
  return rt::Tensor::EmptyStrided(type.dtype, *std::move(sizes),
                                  *std::move(strides), (*offset)[0]);
}

// --- views
// --------------------------------------------------------------------

InferFn InferView(ViewGeometry geometry) {
  return [geometry](const InferContext& ctx)
             -> absl::StatusOr<std::vector<InferredOutput>> {
    auto types = geometry(ctx.tensor(0), IntArgs(ctx));
    if (!types.ok()) return types.status();
    std::vector<InferredOutput> out;
    for (TensorType& t : *types) out.emplace_back(std::move(t));
    return out;
  };
}

ReferenceFn RunView(ViewGeometry geometry) {
  return [geometry](KernelContext& kc) -> absl::Status {
    const rt::Tensor& self = kc.tensor(0);
    auto types = geometry(ConstType(self), IntArgs(kc));
    if (!types.ok()) return types.status();
    if (static_cast<int>(types->size()) != kc.node().num_outputs()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the op gives %d outputs on these inputs, the graph declares %d",
          types->size(), kc.node().num_outputs()));
    }
    for (size_t i = 0; i < types->size(); ++i) {
      auto v = ViewAs(self, (*types)[i]);
      if (!v.ok()) return v.status();
      kc.SetOutput(static_cast<int>(i), *std::move(v));
    }
    return absl::OkStatus();
  };
}

TensorType NarrowType(const TensorType& self, int64_t dim, const ExprRef& start,
                      const ExprRef& length) {
  TensorType out = TensorType::Strided(self.dtype, self.sizes, self.strides,
                                       self.storage_offset, self.device);
  out.sizes[dim] = length;
  out.storage_offset =
      Expr::Add(self.storage_offset, Expr::Mul(start, self.strides[dim]));
  return out;
}

// --- signs -------------------------------------------------------------------

bool KnownNonNegative(const ExprRef& e) {
  if (auto c = e->AsConst()) return *c >= 0;
  switch (e->op()) {
    case sym::Op::kSymbol:
      return true;
    case sym::Op::kAdd:
    case sym::Op::kMul:
    case sym::Op::kMin:
    case sym::Op::kMax:
      for (const ExprRef& a : e->args()) {
        if (!KnownNonNegative(a)) return false;
      }
      return true;
    case sym::Op::kFloorDiv:
    case sym::Op::kMod:
      return KnownNonNegative(e->args()[0]) && KnownNonNegative(e->args()[1]);
    default:
      return false;
  }
}

bool KnownNegative(const ExprRef& e) {
  if (auto c = e->AsConst()) return *c < 0;
  if (e->op() == sym::Op::kMul) {
    // c * x * y with c < 0 and the rest non-negative: negative unless some
    // factor is zero, which a size symbol is never assumed to be.
    int negative = 0;
    for (const ExprRef& a : e->args()) {
      if (auto c = a->AsConst()) {
        if (*c < 0) ++negative;
        continue;
      }
      if (!KnownNonNegative(a)) return false;
    }
    return negative == 1;
  }
  if (e->op() == sym::Op::kAdd) {
    for (const ExprRef& a : e->args()) {
      if (!KnownNegative(a)) return false;
    }
    return true;
  }
  return false;
}

// --- memory formats ----------------------------------------------------------

namespace {

// The dims of a channels-last (3d) tensor from the innermost out.
std::vector<int> ChannelsLastOrder(int rank) {
  if (rank == 4) return {1, 3, 2, 0};
  if (rank == 5) return {1, 4, 3, 2, 0};
  return {};
}

// c10's is_channels_last_strides_2d_s4 / _3d_s5 over static values.
bool IsChannelsLastStrides(const std::vector<int64_t>& sizes,
                           const std::vector<int64_t>& strides) {
  std::vector<int> order = ChannelsLastOrder(static_cast<int>(sizes.size()));
  if (order.empty()) return false;
  int64_t min = 0;
  if (strides[1] == 0) return false;
  for (int d : order) {
    if (sizes[d] == 0) return false;
    if (strides[d] < min) return false;
    if (d == 0 && min == strides[1]) return false;
    min = strides[d];
    if (sizes[d] > 1) min *= sizes[d];
  }
  return true;
}

bool StaticLayout(const TensorType& t, std::vector<int64_t>* sizes,
                  std::vector<int64_t>* strides) {
  for (int d = 0; d < t.rank(); ++d) {
    auto s = t.sizes[d]->AsConst();
    auto st = t.strides[d]->AsConst();
    if (!s || !st) return false;
    sizes->push_back(*s);
    strides->push_back(*st);
  }
  return true;
}

}  // namespace

std::optional<bool> IsContiguousIn(const TensorType& t, MemoryFormat format) {
  std::vector<int> order;
  if (format == MemoryFormat::kContiguous) {
    for (int d = t.rank() - 1; d >= 0; --d) order.push_back(d);
  } else {
    int want = format == MemoryFormat::kChannelsLast ? 4 : 5;
    if (t.rank() != want) return false;
    order = ChannelsLastOrder(want);
  }
  if (format == MemoryFormat::kContiguous) {
    for (const ExprRef& s : t.sizes) {
      if (s->AsConst() == 0) return true;  // no elements: any layout
    }
  }
  ExprRef expected = ir::Const(1);
  for (int d : order) {
    if (t.sizes[d]->AsConst() == 1) continue;
    auto eq = ProvablyEqual(t.strides[d], expected);
    if (!eq) return std::nullopt;
    if (!*eq) return false;
    expected = Expr::Mul(expected, t.sizes[d]);
  }
  return true;
}

std::optional<MemoryFormat> SuggestMemoryFormat(const TensorType& t) {
  if (t.rank() != 4 && t.rank() != 5) return MemoryFormat::kContiguous;
  std::vector<int64_t> sizes, strides;
  if (StaticLayout(t, &sizes, &strides)) {
    if (!IsChannelsLastStrides(sizes, strides)) {
      return MemoryFormat::kContiguous;
    }
    return t.rank() == 4 ? MemoryFormat::kChannelsLast
                         : MemoryFormat::kChannelsLast3d;
  }
  // Symbolic: a contiguous tensor whose channel dim is not the constant 1
  // never looks channels-last (its innermost stride is below the channel
  // stride's requirement).
  if (t.IsContiguous() && t.sizes[1]->AsConst() != 1) {
    return MemoryFormat::kContiguous;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<ExprRef>> FormatStrides(
    const std::vector<ExprRef>& sizes, MemoryFormat format) {
  switch (format) {
    case MemoryFormat::kContiguous:
      return ir::ContiguousStrides(sizes);
    case MemoryFormat::kChannelsLast:
    case MemoryFormat::kChannelsLast3d: {
      int want = format == MemoryFormat::kChannelsLast ? 4 : 5;
      if (static_cast<int>(sizes.size()) != want) {
        return absl::InvalidArgumentError(
            absl::StrFormat("required rank %d tensor to use %s format", want,
                            want == 4 ? "channels_last" : "channels_last_3d"));
      }
      // ATen's get_channels_last_strides: sizes of 0 or 1 count as 1.
      std::vector<ExprRef> strides(sizes.size());
      ExprRef running = ir::Const(1);
      for (int d : ChannelsLastOrder(want)) {
        strides[d] = running;
        ExprRef s = sizes[d];
        if (auto c = s->AsConst(); c && *c <= 1) s = ir::Const(1);
        running = Expr::Mul(running, s);
      }
      return strides;
    }
    case MemoryFormat::kPreserve:
      break;
  }
  return absl::InvalidArgumentError(
      "preserve_format has no strides of its own");
}

absl::StatusOr<LayoutResult> LikeLayout(const TensorType& self,
                                        const Arg& memory_format) {
  MemoryFormat format = memory_format.kind == Arg::Kind::kMemoryFormat
                            ? memory_format.memory_format
                            : MemoryFormat::kPreserve;
  LayoutResult result;
  if (format != MemoryFormat::kPreserve) {
    auto strides = FormatStrides(self.sizes, format);
    if (!strides.ok()) return strides.status();
    result.strides = *std::move(strides);
    return result;
  }
  if (IsNonOverlappingAndDense(self).value_or(false)) {
    result.strides = self.strides;
    return result;
  }
  // infer_dense_strides sorts the dims exactly as TensorIterator does.
  return TensorIteratorLayout(self.sizes, {&self});
}

// --- scalars -----------------------------------------------------------------

std::optional<rt::Scalar> ConstantScalar(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::kInt:
      if (auto c = a.i->AsConst()) return rt::Scalar::Int(*c);
      return std::nullopt;
    case Arg::Kind::kFloat:
      return rt::Scalar::Float(a.f);
    case Arg::Kind::kBool:
      return rt::Scalar::Bool(a.b);
    default:
      return std::nullopt;
  }
}

absl::Status CheckScalarConversion(const rt::Scalar& s, DType dtype) {
  std::string overflow = ScalarOverflow(s, dtype);
  if (!overflow.empty()) return absl::InvalidArgumentError(overflow);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ScalarToInt64(const rt::Scalar& s) {
  if (auto st = CheckScalarConversion(s, DType::kInt64); !st.ok()) return st;
  switch (s.kind) {
    case rt::Scalar::Kind::kInt:
      return s.i;
    case rt::Scalar::Kind::kBool:
      return int64_t{s.b};
    case rt::Scalar::Kind::kFloat:
      break;
  }
  return pw::Convert<int64_t>(s.f);  // 2^63 itself is accepted by c10
}

void FillTensor(const rt::Tensor& t, const rt::Scalar& s) {
  std::vector<uint8_t> element(t.element_size());
  rt::StoreScalar(s, t.dtype(), element.data());
  rt::ForEachIndex(t.sizes(), [&](const int64_t* idx) {
    std::memcpy(t.ElementPtr(idx), element.data(), element.size());
  });
}

}  // namespace kiln::ops
