// Views and layout ops.
//
// Views (view, _unsafe_view, _reshape_alias, permute, transpose, t,
// unsqueeze, squeeze, expand, slice, select, alias, detach, as_strided,
// split) share their input's storage. Each is one *geometry* function from
// the input's type and the integer arguments to the output types, written
// over symbolic expressions: inference runs it on the IR type, the
// reference implementation on the run-time input's constant type (so views
// of views, and inputs with unusual strides, get exactly ATen's strides).
// Strides are ATen's: at::detail::computeStride for view/reshape,
// inferExpandGeometry for expand, inferUnsqueezeGeometry for unsqueeze.
//
// Symbolic sizes follow PyTorch's specialization of 0 and 1: a symbolic
// size is never 1 (squeeze keeps it) nor 0. Where a symbolic comparison
// cannot be decided, inference says UNIMPLEMENTED (view) or builds a Min /
// Max expression (slice bounds) rather than guessing.
//
// Layout ops copy: clone, _to_copy and contiguous/reshape when the input
// does not already have the layout (then they return the input itself, as
// ATen does). Their outputs get ATen's empty_like layout (layout_util.h).
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ops/layout_util.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::Arg;
using ir::MemoryFormat;
using ir::TensorType;
using sym::Expr;

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

// --- symbolic arithmetic ---------------------------------------------------

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

ExprRef Product(const std::vector<ExprRef>& v) {
  if (v.empty()) return ir::Const(1);
  return Expr::Mul(v);
}

bool IsOne(const ExprRef& e) { return e->AsConst() == 1; }

// a < b for products of sizes (symbols >= 2): decided by constants, or when
// one divides the other.
std::optional<bool> SizeLess(const ExprRef& a, const ExprRef& b) {
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return *ca < *cb;
  if (ProvablyEqual(a, b).value_or(false)) return false;
  if (auto q = DivideExact(b, a)) {
    if (auto c = (*q)->AsConst()) return *c > 1;
    return true;
  }
  if (DivideExact(a, b)) return false;
  return ProvablyLess(a, b);
}

// a == b for sizes and strides: provable equality, or a provable order
// (symbols >= 2) for inequality.
std::optional<bool> SizeEqual(const ExprRef& a, const ExprRef& b) {
  if (auto eq = ProvablyEqual(a, b)) return eq;
  if (ProvablyLess(a, b) == true || ProvablyLess(b, a) == true) return false;
  return std::nullopt;
}

absl::Status Undecidable(const std::string& what) {
  return absl::UnimplementedError(
      absl::StrCat("cannot decide ", what, " with symbolic sizes or strides"));
}

// at::infer_size: resolves one -1 and checks the element count. With
// symbolic sizes an inferred dim is the exact quotient when the factors
// divide, else FloorDiv (checked again at run time).
absl::StatusOr<std::vector<ExprRef>> InferSize(
    const std::vector<ExprRef>& shape, const ExprRef& numel) {
  std::vector<ExprRef> out = shape;
  int infer = -1;
  std::vector<ExprRef> known;
  for (size_t i = 0; i < shape.size(); ++i) {
    auto c = shape[i]->AsConst();
    if (c == -1) {
      if (infer >= 0) return Invalid("only one dimension can be inferred");
      infer = static_cast<int>(i);
    } else if (c && *c < 0) {
      return Invalid(absl::StrFormat("invalid shape dimension %d", *c));
    } else {
      known.push_back(shape[i]);
    }
  }
  ExprRef newsize = Product(known);
  auto invalid = [&]() {
    return Invalid(absl::StrFormat("shape '%s' is invalid for input of size %s",
                                   ShapeString(shape), numel->ToString()));
  };
  auto cn = numel->AsConst(), cs = newsize->AsConst();
  if (cn && cs) {
    if (*cn == *cs || (infer >= 0 && *cs > 0 && *cn % *cs == 0)) {
      if (infer >= 0) {
        if (*cs == 0) {
          return Invalid(absl::StrFormat(
              "cannot reshape tensor of 0 elements into shape %s because the "
              "unspecified dimension size -1 can be any value and is "
              "ambiguous",
              ShapeString(shape)));
        }
        out[infer] = ir::Const(*cn / *cs);
      }
      return out;
    }
    return invalid();
  }
  if (infer >= 0) {
    if (cs == 0) return invalid();  // a symbolic numel is never 0
    if (auto q = DivideExact(numel, newsize)) {
      out[infer] = *q;
    } else {
      out[infer] = Expr::FloorDiv(numel, newsize);
    }
    return out;
  }
  // Undecidable counts are checked at run time, where everything is known.
  if (ProvablyEqual(numel, newsize) == false) return invalid();
  return out;
}

// at::detail::computeStride over expressions: the strides of a view of
// `newshape` on a tensor of `oldshape`/`oldstride`, nullopt when no view
// exists, UNIMPLEMENTED when symbolic comparisons cannot decide.
absl::StatusOr<std::optional<std::vector<ExprRef>>> ComputeStride(
    const std::vector<ExprRef>& oldshape, const std::vector<ExprRef>& oldstride,
    const std::vector<ExprRef>& newshape) {
  using Result = std::optional<std::vector<ExprRef>>;
  const int64_t n = static_cast<int64_t>(newshape.size());
  if (oldshape.empty()) return Result(std::vector<ExprRef>(n, ir::Const(1)));
  ExprRef numel = Product(oldshape);
  if (numel->AsConst() == 0) {
    if (ir::SameExprList(oldshape, newshape)) return Result(oldstride);
    return Result(ir::ContiguousStrides(newshape));  // max(size, 1) products
  }
  std::vector<ExprRef> newstride(n);
  int64_t view_d = n - 1;
  ExprRef chunk_base_stride = oldstride.back();
  ExprRef tensor_numel = ir::Const(1);
  ExprRef view_numel = ir::Const(1);
  for (int64_t tensor_d = static_cast<int64_t>(oldshape.size()) - 1;
       tensor_d >= 0; --tensor_d) {
    tensor_numel = Expr::Mul(tensor_numel, oldshape[tensor_d]);
    bool boundary = tensor_d == 0;
    if (!boundary && !IsOne(oldshape[tensor_d - 1])) {
      auto eq = SizeEqual(oldstride[tensor_d - 1],
                          Expr::Mul(tensor_numel, chunk_base_stride));
      if (!eq) return Undecidable("whether the view is possible");
      boundary = !*eq;
    }
    if (!boundary) continue;
    while (view_d >= 0) {
      bool take = IsOne(newshape[view_d]);
      if (!take) {
        auto less = SizeLess(view_numel, tensor_numel);
        if (!less) return Undecidable("whether the view is possible");
        take = *less;
      }
      if (!take) break;
      newstride[view_d] = Expr::Mul(view_numel, chunk_base_stride);
      view_numel = Expr::Mul(view_numel, newshape[view_d]);
      --view_d;
    }
    auto eq = SizeEqual(view_numel, tensor_numel);
    if (!eq) return Undecidable("whether the view is possible");
    if (!*eq) return Result();
    if (tensor_d > 0) {
      chunk_base_stride = oldstride[tensor_d - 1];
      tensor_numel = ir::Const(1);
      view_numel = ir::Const(1);
    }
  }
  if (view_d != -1) return Result();
  return Result(std::move(newstride));
}

bool AllStatic(const TensorType& t) {
  for (const ExprRef& e : t.sizes) {
    if (!e->AsConst()) return false;
  }
  for (const ExprRef& e : t.strides) {
    if (!e->AsConst()) return false;
  }
  return true;
}

// The strides of viewing `self` as `sizes` (already inferred), nullopt when
// impossible. A contiguous symbolic input gives contiguous strides
// directly (they agree with computeStride except on size-1 dims).
absl::StatusOr<std::optional<std::vector<ExprRef>>> ViewStrides(
    const TensorType& self, const std::vector<ExprRef>& sizes) {
  if (!AllStatic(self) && self.IsContiguous()) {
    return std::optional<std::vector<ExprRef>>(ir::ContiguousStrides(sizes));
  }
  return ComputeStride(self.sizes, self.strides, sizes);
}

TensorType Like(const TensorType& self, std::vector<ExprRef> sizes,
                std::vector<ExprRef> strides, ExprRef offset) {
  return TensorType::Strided(self.dtype, std::move(sizes), std::move(strides),
                             std::move(offset), self.device);
}

// --- geometry plumbing -----------------------------------------------------

using Types = ViewTypes;

// Registers a view op from its geometry.
#define KILN_REGISTER_VIEW(schema, geometry) \
  KILN_REGISTER_OP(schema)                   \
      .Category(OpCategory::kView)           \
      .Infer(InferView(geometry))            \
      .Reference(RunView(geometry))

// --- view, _unsafe_view, _reshape_alias, as_strided --------------------------

absl::StatusOr<Types> ViewOpGeometry(const TensorType& self,
                                     const IntArgs& args) {
  auto shape = args.IntList(1);
  if (!shape.ok()) return shape.status();
  auto sizes = InferSize(*shape, self.Numel());
  if (!sizes.ok()) return sizes.status();
  auto strides = ViewStrides(self, *sizes);
  if (!strides.ok()) return strides.status();
  if (!*strides) {
    return Invalid(
        "view size is not compatible with input tensor's size and stride (at "
        "least one dimension spans across two contiguous subspaces). Use "
        ".reshape(...) instead.");
  }
  return Types{Like(self, *sizes, **strides, self.storage_offset)};
}

absl::Status CheckSizesStrides(const std::vector<ExprRef>& sizes,
                               const std::vector<ExprRef>& strides,
                               const char* op) {
  if (sizes.size() != strides.size()) {
    return Invalid("mismatch in length of strides and shape");
  }
  for (const ExprRef& s : sizes) {
    if (KnownNegative(s)) {
      return Invalid(
          absl::StrFormat("%s: negative size %s", op, s->ToString()));
    }
  }
  for (const ExprRef& s : strides) {
    if (KnownNegative(s)) {
      std::vector<std::string> parts;
      for (const ExprRef& e : strides) parts.push_back(e->ToString());
      return Invalid(absl::StrFormat(
          "%s: Negative strides are not supported at the moment, got "
          "strides: [%s]",
          op, absl::StrJoin(parts, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Types> ReshapeAliasGeometry(const TensorType& self,
                                           const IntArgs& args) {
  auto sizes = args.IntList(1);
  if (!sizes.ok()) return sizes.status();
  auto strides = args.IntList(2);
  if (!strides.ok()) return strides.status();
  if (auto st = CheckSizesStrides(*sizes, *strides, "_reshape_alias");
      !st.ok()) {
    return st;
  }
  return Types{Like(self, *sizes, *strides, self.storage_offset)};
}

absl::StatusOr<Types> AsStridedGeometry(const TensorType& self,
                                        const IntArgs& args) {
  auto sizes = args.IntList(1);
  if (!sizes.ok()) return sizes.status();
  auto strides = args.IntList(2);
  if (!strides.ok()) return strides.status();
  auto offset = args.OptionalInt(3);
  if (!offset.ok()) return offset.status();
  if (auto st = CheckSizesStrides(*sizes, *strides, "as_strided"); !st.ok()) {
    return st;
  }
  ExprRef off = offset->value_or(self.storage_offset);
  if (KnownNegative(off)) {
    return Invalid(
        absl::StrFormat("Tensor: invalid storage offset %s", off->ToString()));
  }
  // The storage bounds are checked at run time (the graph does not know
  // how large an input's storage is).
  return Types{Like(self, *sizes, *strides, off)};
}

// --- permute, transpose, t, unsqueeze, squeeze, alias ----------------------

absl::StatusOr<Types> PermuteGeometry(const TensorType& self,
                                      const IntArgs& args) {
  auto dims = args.StaticIntList(1);
  if (!dims.ok()) return dims.status();
  const int rank = self.rank();
  if (static_cast<int>(dims->size()) != rank) {
    return Invalid(absl::StrFormat(
        "permute(sparse_coo): number of dimensions in the tensor input does "
        "not match the length of the desired ordering of dimensions i.e. "
        "input.dim() = %d is not equal to len(dims) = %d",
        rank, dims->size()));
  }
  std::vector<bool> seen(rank, false);
  std::vector<ExprRef> sizes, strides;
  for (int64_t d : *dims) {
    auto w = WrapDim(d, rank);
    if (!w.ok()) return w.status();
    if (seen[*w]) return Invalid("permute(): duplicate dims are not allowed.");
    seen[*w] = true;
    sizes.push_back(self.sizes[*w]);
    strides.push_back(self.strides[*w]);
  }
  return Types{Like(self, sizes, strides, self.storage_offset)};
}

absl::StatusOr<TensorType> Transpose(const TensorType& self, int64_t d0,
                                     int64_t d1) {
  auto w0 = WrapDim(d0, self.rank());
  if (!w0.ok()) return w0.status();
  auto w1 = WrapDim(d1, self.rank());
  if (!w1.ok()) return w1.status();
  TensorType out = Like(self, self.sizes, self.strides, self.storage_offset);
  if (self.rank() == 0) return out;
  std::swap(out.sizes[*w0], out.sizes[*w1]);
  std::swap(out.strides[*w0], out.strides[*w1]);
  return out;
}

absl::StatusOr<Types> TransposeGeometry(const TensorType& self,
                                        const IntArgs& args) {
  auto d0 = args.StaticInt(1);
  if (!d0.ok()) return d0.status();
  auto d1 = args.StaticInt(2);
  if (!d1.ok()) return d1.status();
  auto t = Transpose(self, *d0, *d1);
  if (!t.ok()) return t.status();
  return Types{*std::move(t)};
}

absl::StatusOr<Types> TGeometry(const TensorType& self, const IntArgs&) {
  if (self.rank() > 2) {
    return Invalid(absl::StrFormat(
        "t() expects a tensor with <= 2 dimensions, but self is %dD",
        self.rank()));
  }
  auto t = Transpose(self, 0, self.rank() < 2 ? 0 : 1);
  if (!t.ok()) return t.status();
  return Types{*std::move(t)};
}

absl::StatusOr<Types> UnsqueezeGeometry(const TensorType& self,
                                        const IntArgs& args) {
  auto dim = args.StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank() + 1);
  if (!w.ok()) return w.status();
  TensorType out = Like(self, self.sizes, self.strides, self.storage_offset);
  ExprRef stride = *w >= self.rank()
                       ? ir::Const(1)
                       : Expr::Mul(self.sizes[*w], self.strides[*w]);
  out.sizes.insert(out.sizes.begin() + *w, ir::Const(1));
  out.strides.insert(out.strides.begin() + *w, stride);
  return Types{std::move(out)};
}

// Drops the dims marked in `drop` whose size the graph's input type says is
// 1 (a symbolic size is never 1; at run time the IR type decides, so the
// output always has the rank inference gave it).
Types Squeeze(const TensorType& self, const IntArgs& args,
              const std::vector<bool>& drop) {
  const TensorType& declared = args.ir_type(0);
  TensorType out = Like(self, {}, {}, self.storage_offset);
  for (int d = 0; d < self.rank(); ++d) {
    if (drop[d] && IsOne(declared.sizes[d])) continue;
    out.sizes.push_back(self.sizes[d]);
    out.strides.push_back(self.strides[d]);
  }
  return Types{std::move(out)};
}

absl::StatusOr<Types> SqueezeGeometry(const TensorType& self,
                                      const IntArgs& args) {
  return Squeeze(self, args, std::vector<bool>(self.rank(), true));
}

absl::StatusOr<Types> SqueezeDimGeometry(const TensorType& self,
                                         const IntArgs& args) {
  auto dim = args.StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  std::vector<bool> drop(self.rank(), false);
  if (self.rank() > 0) drop[*w] = true;
  return Squeeze(self, args, drop);
}

absl::StatusOr<Types> SqueezeDimsGeometry(const TensorType& self,
                                          const IntArgs& args) {
  auto dims = args.StaticIntList(1);
  if (!dims.ok()) return dims.status();
  std::vector<bool> drop(self.rank(), false);
  for (int64_t d : *dims) {
    auto w = WrapDim(d, self.rank());
    if (!w.ok()) return w.status();
    if (self.rank() == 0) continue;
    if (drop[*w]) {
      return Invalid(absl::StrFormat(
          "dim %d appears multiple times in the list of dims", *w));
    }
    drop[*w] = true;
  }
  return Squeeze(self, args, drop);
}

absl::StatusOr<Types> AliasGeometry(const TensorType& self, const IntArgs&) {
  return Types{Like(self, self.sizes, self.strides, self.storage_offset)};
}

// --- expand ------------------------------------------------------------------

// at::inferExpandGeometry.
absl::StatusOr<Types> ExpandGeometry(const TensorType& self,
                                     const IntArgs& args) {
  auto target = args.IntList(1);
  if (!target.ok()) return target.status();
  const int64_t ndim = static_cast<int64_t>(target->size());
  const int64_t tensor_dim = self.rank();
  if (ndim < tensor_dim) {
    return Invalid(absl::StrFormat(
        "expand(%s, size=%s): the number of sizes provided (%d) must be "
        "greater or equal to the number of dimensions in the tensor (%d)",
        self.ToString(), ShapeString(*target), ndim, tensor_dim));
  }
  for (int64_t i = 0; i < ndim; ++i) {
    auto c = (*target)[i]->AsConst();
    if ((c && *c < -1) || (!c && KnownNegative((*target)[i]))) {
      return Invalid(absl::StrFormat("expand: invalid size %s at dimension %d",
                                     (*target)[i]->ToString(), i));
    }
  }
  std::vector<ExprRef> sizes(ndim), strides(ndim);
  if (tensor_dim == 0) {
    for (int64_t i = 0; i < ndim; ++i) {
      if ((*target)[i]->AsConst() == -1) {
        return Invalid(absl::StrFormat(
            "The expanded size of the tensor (-1) isn't allowed in a "
            "leading, non-existing dimension %d",
            i));
      }
      sizes[i] = (*target)[i];
      strides[i] = ir::Const(0);
    }
    return Types{Like(self, sizes, strides, self.storage_offset)};
  }
  for (int64_t i = ndim - 1; i >= 0; --i) {
    int64_t offset = ndim - 1 - i;
    int64_t dim = tensor_dim - 1 - offset;
    ExprRef size = dim >= 0 ? self.sizes[dim] : ir::Const(1);
    ExprRef stride =
        dim >= 0 ? self.strides[dim] : Expr::Mul(sizes[i + 1], strides[i + 1]);
    ExprRef target_size = (*target)[i];
    if (target_size->AsConst() == -1) {
      if (dim < 0) {
        return Invalid(absl::StrFormat(
            "The expanded size of the tensor (-1) isn't allowed in a "
            "leading, non-existing dimension %d",
            i));
      }
      target_size = size;
    }
    if (!ProvablyEqual(size, target_size).value_or(false)) {
      if (!IsOne(size)) {
        return Invalid(absl::StrFormat(
            "The expanded size of the tensor (%s) must match the existing "
            "size (%s) at non-singleton dimension %d.  Target sizes: %s.  "
            "Tensor sizes: %s",
            target_size->ToString(), size->ToString(), i, ShapeString(*target),
            ShapeString(self.sizes)));
      }
      size = target_size;
      stride = ir::Const(0);
    }
    sizes[i] = size;
    strides[i] = stride;
  }
  return Types{Like(self, sizes, strides, self.storage_offset)};
}

// --- slice, select, split ----------------------------------------------------

// Comparisons of slice bounds: decided when possible (a huge constant such
// as sys.maxsize is past every size), else nullopt.
std::optional<bool> BoundLess(const ExprRef& a, const ExprRef& b) {
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return *ca < *cb;
  constexpr int64_t kHuge = int64_t{1} << 62;
  if (ca && *ca >= kHuge) return false;  // a >= every size
  if (cb && *cb >= kHuge) return true;
  return ProvablyLess(a, b);
}

// ATen's slice: negative bounds wrap once, then clamp to [0, size] with
// end >= start; the size rounds up by the step.
absl::StatusOr<TensorType> Slice(const TensorType& self, int64_t dim_arg,
                                 std::optional<ExprRef> start_arg,
                                 std::optional<ExprRef> end_arg, int64_t step) {
  if (self.rank() == 0) {
    return Invalid("slice() cannot be applied to a 0-dim tensor.");
  }
  auto w = WrapDim(dim_arg, self.rank());
  if (!w.ok()) return w.status();
  const int64_t dim = *w;
  if (step <= 0) return Invalid("slice step must be positive");
  const ExprRef& size = self.sizes[dim];
  ExprRef start = start_arg.value_or(ir::Const(0));
  ExprRef end =
      end_arg.value_or(ir::Const(std::numeric_limits<int64_t>::max()));
  auto wrap = [&](ExprRef v, const char* what) -> absl::StatusOr<ExprRef> {
    if (auto c = v->AsConst(); c && *c < 0) {
      if (auto s = size->AsConst()) return ir::Const(*c + *s);
      return Expr::Add(v, size);
    }
    if (KnownNegative(v)) return Expr::Add(v, size);
    if (KnownNonNegative(v)) return v;
    return absl::UnimplementedError(absl::StrFormat(
        "slice: the sign of %s %s is unknown", what, v->ToString()));
  };
  auto s = wrap(start, "start");
  if (!s.ok()) return s.status();
  auto e = wrap(end, "end");
  if (!e.ok()) return e.status();
  start = *s;
  end = *e;
  // start = clamp(start, 0, size)
  if (auto neg = BoundLess(start, ir::Const(0)); neg == true) {
    start = ir::Const(0);
  } else if (!neg) {
    start = Expr::Max({start, ir::Const(0)});
  }
  if (auto past = BoundLess(start, size); past == false) {
    start = size;
  } else if (!past) {
    start = Expr::Min({start, size});
  }
  // end = start if end < start, else min(end, size)
  auto before = BoundLess(end, start);
  if (before == true) {
    end = start;
  } else {
    auto inside = BoundLess(end, size);
    if (inside == false) {
      end = size;
    } else if (!inside) {
      end = Expr::Min({end, size});
    }
    if (!before) end = Expr::Max({end, start});
  }
  ExprRef len = Expr::Sub(end, start);
  TensorType out = Like(self, self.sizes, self.strides, self.storage_offset);
  out.storage_offset =
      Expr::Add(self.storage_offset, Expr::Mul(start, self.strides[dim]));
  out.sizes[dim] = step == 1
                       ? len
                       : Expr::FloorDiv(Expr::Add(len, ir::Const(step - 1)),
                                        ir::Const(step));
  out.strides[dim] = Expr::Mul(self.strides[dim], ir::Const(step));
  return out;
}

absl::StatusOr<Types> SliceGeometry(const TensorType& self,
                                    const IntArgs& args) {
  auto dim = args.StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto start = args.OptionalInt(2);
  if (!start.ok()) return start.status();
  auto end = args.OptionalInt(3);
  if (!end.ok()) return end.status();
  auto step = args.StaticInt(4);
  if (!step.ok()) return step.status();
  auto t = Slice(self, *dim, *start, *end, *step);
  if (!t.ok()) return t.status();
  return Types{*std::move(t)};
}

absl::StatusOr<Types> SelectGeometry(const TensorType& self,
                                     const IntArgs& args) {
  if (self.rank() == 0) {
    return Invalid("select() cannot be applied to a 0-dim tensor.");
  }
  auto dim = args.StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  auto index = args.Int(2);
  if (!index.ok()) return index.status();
  const ExprRef& size = self.sizes[*w];
  ExprRef i = *index;
  auto out_of_range = [&]() {
    return Invalid(absl::StrFormat(
        "select(): index %s out of range for tensor of size %s at dimension "
        "%d",
        (*index)->ToString(), ShapeString(self.sizes), *w));
  };
  if (auto c = i->AsConst(); c && *c < 0) {
    if (auto s = size->AsConst()) {
      if (*c < -*s) return out_of_range();
      i = ir::Const(*c + *s);
    } else {
      i = Expr::Add(i, size);
    }
  } else if (KnownNegative(i)) {
    i = Expr::Add(i, size);
  } else if (!KnownNonNegative(i)) {
    return absl::UnimplementedError(absl::StrFormat(
        "select: the sign of index %s is unknown", i->ToString()));
  }
  if (ProvablyLess(i, size) == false) return out_of_range();
  TensorType out =
      Like(self, {}, {},
           Expr::Add(self.storage_offset, Expr::Mul(i, self.strides[*w])));
  for (int d = 0; d < self.rank(); ++d) {
    if (d == *w) continue;
    out.sizes.push_back(self.sizes[d]);
    out.strides.push_back(self.strides[d]);
  }
  return Types{std::move(out)};
}

absl::StatusOr<Types> SplitGeometry(const TensorType& self,
                                    const IntArgs& args) {
  if (self.rank() == 0) {
    return Invalid("split expects at least a 1-dimensional tensor");
  }
  auto split_size = args.StaticInt(1);
  if (!split_size.ok()) return split_size.status();
  auto dim_arg = args.StaticInt(2);
  if (!dim_arg.ok()) return dim_arg.status();
  auto w = WrapDim(*dim_arg, self.rank());
  if (!w.ok()) return w.status();
  const int64_t split = *split_size;
  if (split < 0) {
    return Invalid(absl::StrFormat(
        "split expects split_size be non-negative, but got split_size=%d",
        split));
  }
  auto dim_size = self.sizes[*w]->AsConst();
  if (!dim_size) {
    return absl::UnimplementedError(absl::StrFormat(
        "split along dimension %d of symbolic size %s (the number of outputs "
        "would be symbolic)",
        *w, self.sizes[*w]->ToString()));
  }
  if (split == 0 && *dim_size != 0) {
    return Invalid(absl::StrFormat(
        "split_size can only be 0 if dimension size is 0, but got dimension "
        "size of %d",
        *dim_size));
  }
  int64_t num_splits = 1;
  if (split != 0) {
    num_splits = std::max<int64_t>((*dim_size + split - 1) / split, 1);
  }
  int64_t last = split - (split * num_splits - *dim_size);
  Types out;
  for (int64_t i = 0; i < num_splits; ++i) {
    int64_t length = i < num_splits - 1 ? split : last;
    out.push_back(
        NarrowType(self, *w, ir::Const(i * split), ir::Const(length)));
  }
  return out;
}

KILN_REGISTER_VIEW("aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)",
                   ViewOpGeometry);
KILN_REGISTER_VIEW("aten::_unsafe_view(Tensor self, SymInt[] size) -> Tensor",
                   ViewOpGeometry);
KILN_REGISTER_VIEW(
    "aten::_reshape_alias(Tensor(a) self, SymInt[] size, SymInt[] stride) -> "
    "Tensor(a)",
    ReshapeAliasGeometry);
KILN_REGISTER_VIEW(
    "aten::as_strided(Tensor(a) self, SymInt[] size, SymInt[] stride, SymInt? "
    "storage_offset=None) -> Tensor(a)",
    AsStridedGeometry);
KILN_REGISTER_VIEW("aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)",
                   PermuteGeometry);
KILN_REGISTER_VIEW(
    "aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
    TransposeGeometry);
KILN_REGISTER_VIEW("aten::t(Tensor(a) self) -> Tensor(a)", TGeometry);
KILN_REGISTER_VIEW("aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)",
                   UnsqueezeGeometry);
KILN_REGISTER_VIEW("aten::squeeze(Tensor(a) self) -> Tensor(a)",
                   SqueezeGeometry);
KILN_REGISTER_VIEW("aten::squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)",
                   SqueezeDimGeometry);
KILN_REGISTER_VIEW("aten::squeeze.dims(Tensor(a) self, int[] dim) -> Tensor(a)",
                   SqueezeDimsGeometry);
KILN_REGISTER_VIEW(
    "aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> "
    "Tensor(a)",
    ExpandGeometry);
KILN_REGISTER_VIEW(
    "aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, "
    "SymInt? end=None, SymInt step=1) -> Tensor(a)",
    SliceGeometry);
KILN_REGISTER_VIEW(
    "aten::select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)",
    SelectGeometry);
KILN_REGISTER_VIEW("aten::alias(Tensor(a) self) -> Tensor(a)", AliasGeometry);
KILN_REGISTER_VIEW("aten::detach(Tensor(a) self) -> Tensor(a)", AliasGeometry);
KILN_REGISTER_VIEW(
    "aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> "
    "Tensor(a)[]",
    SplitGeometry);

// --- reshape and contiguous: a view when possible, else a copy ---------------

// The copy's type: `sizes` in `format`, offset 0.
absl::StatusOr<TensorType> CopyType(const TensorType& self,
                                    std::vector<ExprRef> sizes,
                                    MemoryFormat format) {
  auto strides = FormatStrides(sizes, format);
  if (!strides.ok()) return strides.status();
  return Like(self, std::move(sizes), *std::move(strides), ir::Const(0));
}

absl::StatusOr<std::vector<InferredOutput>> InferReshape(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  IntArgs args(ctx);
  auto shape = args.IntList(1);
  if (!shape.ok()) return shape.status();
  auto sizes = InferSize(*shape, self.Numel());
  if (!sizes.ok()) return sizes.status();
  auto copy = CopyType(self, *sizes, MemoryFormat::kContiguous);
  if (!copy.ok()) return copy.status();
  auto strides = ViewStrides(self, *sizes);
  if (!strides.ok()) {
    if (strides.status().code() != absl::StatusCode::kUnimplemented) {
      return strides.status();
    }
    // View or copy is decided at run time.
    return std::vector<InferredOutput>{InferredOutput(*copy, false)};
  }
  if (!*strides) return std::vector<InferredOutput>{*copy};
  return std::vector<InferredOutput>{
      Like(self, *sizes, **strides, self.storage_offset)};
}

absl::Status RunReshape(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  TensorType t = ConstType(self);
  IntArgs args(kc);
  auto shape = args.IntList(1);
  if (!shape.ok()) return shape.status();
  auto sizes = InferSize(*shape, t.Numel());
  if (!sizes.ok()) return sizes.status();
  auto strides = ComputeStride(t.sizes, t.strides, *sizes);
  if (!strides.ok()) return strides.status();
  if (*strides) {
    auto v = ViewAs(self, Like(t, *sizes, **strides, t.storage_offset));
    if (!v.ok()) return v.status();
    kc.SetOutput(0, *std::move(v));
    return absl::OkStatus();
  }
  // ATen: _unsafe_view(clone(self, contiguous), shape).
  rt::Tensor copy = self.Contiguous();
  auto v = ViewAs(copy,
                  Like(t, *sizes, ir::ContiguousStrides(*sizes), ir::Const(0)));
  if (!v.ok()) return v.status();
  kc.SetOutput(0, *std::move(v));
  return absl::OkStatus();
}

KILN_REGISTER_OP("aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)")
    .Category(OpCategory::kLayout)
    .Infer(InferReshape)
    .Reference(RunReshape);

// ATen's contiguous: the input itself when it is contiguous in the format
// (preserve_format asks for plain contiguity there), else a clone in the
// format (an error for preserve_format).
MemoryFormat ContiguousFormat(const Arg& a) {
  return a.kind == Arg::Kind::kMemoryFormat ? a.memory_format
                                            : MemoryFormat::kContiguous;
}

absl::Status NoPreserve(MemoryFormat f) {
  if (f == MemoryFormat::kPreserve) {
    return Invalid(
        "preserve memory format is unsupported by the contiguous operator");
  }
  return absl::OkStatus();
}

MemoryFormat CheckedFormat(MemoryFormat f) {
  return f == MemoryFormat::kPreserve ? MemoryFormat::kContiguous : f;
}

absl::StatusOr<std::vector<InferredOutput>> InferContiguous(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  MemoryFormat format = ContiguousFormat(ctx.arg(1));
  auto already = IsContiguousIn(self, CheckedFormat(format));
  if (already == true) {
    return std::vector<InferredOutput>{
        Like(self, self.sizes, self.strides, self.storage_offset)};
  }
  if (auto st = NoPreserve(format); !st.ok()) {
    if (already == false) return st;
    // Undecidable: the run decides (and fails if it must copy).
    format = MemoryFormat::kContiguous;
  }
  auto copy = CopyType(self, self.sizes, format);
  if (!copy.ok()) return copy.status();
  return std::vector<InferredOutput>{
      InferredOutput(*copy, /*exact=*/already.has_value())};
}

absl::Status RunContiguous(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  MemoryFormat format = ContiguousFormat(kc.arg(1));
  TensorType t = ConstType(self);
  if (IsContiguousIn(t, CheckedFormat(format)) == true) {
    kc.SetOutput(0, self);
    return absl::OkStatus();
  }
  if (auto st = NoPreserve(format); !st.ok()) return st;
  auto type = CopyType(t, t.sizes, format);
  if (!type.ok()) return type.status();
  auto out = AllocateLike(*type);
  if (!out.ok()) return out.status();
  if (auto st = out->CopyFrom(self); !st.ok()) return st;
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::contiguous(Tensor(a) self, *, MemoryFormat "
    "memory_format=contiguous_format) -> Tensor(a)")
    .Category(OpCategory::kLayout)
    .Infer(InferContiguous)
    .Reference(RunContiguous);

// --- clone and _to_copy ------------------------------------------------------

// Output type of a copy of `self` with `dtype` on `device`, laid out as
// empty_like(self, memory_format) would.
absl::StatusOr<InferredOutput> CopyOutput(const TensorType& self,
                                          ir::DType dtype, ir::Device device,
                                          const Arg& memory_format) {
  auto layout = LikeLayout(self, memory_format);
  if (!layout.ok()) return layout.status();
  TensorType t = TensorType::Strided(dtype, self.sizes, layout->strides,
                                     ir::Const(0), device);
  return InferredOutput(std::move(t), layout->exact);
}

absl::Status RunCopy(KernelContext& kc, ir::DType dtype,
                     const Arg& memory_format) {
  const rt::Tensor& self = kc.tensor(0);
  // The layout ATen gives these very inputs (exact at run time).
  auto out_type =
      CopyOutput(ConstType(self), dtype, ir::Device::Cpu(), memory_format);
  if (!out_type.ok()) return out_type.status();
  auto out = AllocateLike(*out_type->type);
  if (!out.ok()) return out.status();
  if (auto st = out->CopyFrom(self); !st.ok()) return st;
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<InferredOutput>> InferClone(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  auto out = CopyOutput(self, self.dtype, self.device, ctx.arg(1));
  if (!out.ok()) return out.status();
  return std::vector<InferredOutput>{*std::move(out)};
}

absl::Status RunClone(KernelContext& kc) {
  return RunCopy(kc, kc.tensor(0).dtype(), kc.arg(1));
}

KILN_REGISTER_OP(
    "aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor")
    .Category(OpCategory::kLayout)
    .Infer(InferClone)
    .Reference(RunClone);

// lift_fresh_copy(self): what a traced `torch.tensor(...)` constant becomes
// under functionalization; a clone that keeps the layout.
absl::StatusOr<std::vector<InferredOutput>> InferLiftFreshCopy(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  auto out = CopyOutput(self, self.dtype, self.device, Arg{});
  if (!out.ok()) return out.status();
  return std::vector<InferredOutput>{*std::move(out)};
}

absl::Status RunLiftFreshCopy(KernelContext& kc) {
  return RunCopy(kc, kc.tensor(0).dtype(), Arg{});
}

KILN_REGISTER_OP("aten::lift_fresh_copy(Tensor self) -> Tensor")
    .Category(OpCategory::kLayout)
    .Infer(InferLiftFreshCopy)
    .Reference(RunLiftFreshCopy);

absl::StatusOr<std::vector<InferredOutput>> InferToCopy(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  const Arg& dtype = ctx.arg("dtype");
  const Arg& device = ctx.arg("device");
  // `layout` can only be None or torch.strided (the converter rejects
  // others).
  auto out = CopyOutput(
      self, dtype.kind == Arg::Kind::kDType ? dtype.dtype : self.dtype,
      device.kind == Arg::Kind::kDevice ? device.device : self.device,
      ctx.arg("memory_format"));
  if (!out.ok()) return out.status();
  return std::vector<InferredOutput>{*std::move(out)};
}

absl::Status RunToCopy(KernelContext& kc) {
  const Arg& dtype = kc.arg(kc.index("dtype"));
  return RunCopy(
      kc, dtype.kind == Arg::Kind::kDType ? dtype.dtype : kc.tensor(0).dtype(),
      kc.arg(kc.index("memory_format")));
}

KILN_REGISTER_OP(
    "aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? "
    "layout=None, Device? device=None, bool? pin_memory=None, bool "
    "non_blocking=False, MemoryFormat? memory_format=None) -> Tensor")
    .Category(OpCategory::kLayout)
    .Infer(InferToCopy)
    .Reference(RunToCopy);

}  // namespace
}  // namespace kiln::ops
