#include "compiler/ops/shape_util.h"

#include <algorithm>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace kiln::ops {

using sym::Expr;

std::string ShapeString(const std::vector<ExprRef>& sizes) {
  return ir::ExprListToString(sizes);
}

namespace {

// `e` with products distributed over sums ((s0 - 2)*s1 -> s0*s1 - 2*s1), so
// that polynomials have one normal form; nullptr when that would take more
// than `budget` terms.
ExprRef Expand(const ExprRef& e, int budget = 64) {
  switch (e->op()) {
    case sym::Op::kConst:
    case sym::Op::kSymbol:
      return e;
    case sym::Op::kAdd: {
      std::vector<ExprRef> terms;
      for (const ExprRef& a : e->args()) {
        ExprRef x = Expand(a, budget);
        if (!x) return nullptr;
        terms.push_back(x);
      }
      return Expr::Add(std::move(terms));
    }
    case sym::Op::kMul: {
      std::vector<ExprRef> terms = {ir::Const(1)};
      for (const ExprRef& a : e->args()) {
        ExprRef x = Expand(a, budget);
        if (!x) return nullptr;
        std::vector<ExprRef> parts =
            x->op() == sym::Op::kAdd ? x->args() : std::vector<ExprRef>{x};
        if (terms.size() * parts.size() > static_cast<size_t>(budget)) {
          return nullptr;
        }
        std::vector<ExprRef> next;
        for (const ExprRef& t : terms) {
          for (const ExprRef& p : parts) next.push_back(Expr::Mul(t, p));
        }
        terms = std::move(next);
      }
      return Expr::Add(std::move(terms));
    }
    default:
      return e;  // FloorDiv, Min, ...: compared structurally
  }
}

}  // namespace

std::optional<bool> ProvablyEqual(const ExprRef& a, const ExprRef& b) {
  if (sym::SameExpr(a, b)) return true;
  ExprRef d = Expr::Sub(a, b);
  if (auto c = d->AsConst()) return *c == 0;
  // Polynomials written differently: (s0 - 2)*s1 == s0*s1 - 2*s1.
  ExprRef ea = Expand(a), eb = Expand(b);
  if (ea && eb) {
    if (auto c = Expr::Sub(ea, eb)->AsConst()) return *c == 0;
  }
  return std::nullopt;
}

namespace {

// A lower bound of an integer expression when every symbol is at least 2,
// for sums and products with non-negative coefficients (sizes and strides);
// nullopt for anything else.
std::optional<int64_t> MinValue(const Expr& e) {
  switch (e.op()) {
    case sym::Op::kConst:
      return e.value();
    case sym::Op::kSymbol:
      return 2;
    case sym::Op::kAdd: {
      int64_t total = 0;
      for (const ExprRef& a : e.args()) {
        auto m = MinValue(*a);
        if (!m || __builtin_add_overflow(total, *m, &total)) {
          return std::nullopt;
        }
      }
      return total;
    }
    case sym::Op::kMul: {
      int64_t product = 1;
      for (const ExprRef& a : e.args()) {
        auto m = MinValue(*a);
        if (!m || *m < 0 || __builtin_mul_overflow(product, *m, &product)) {
          return std::nullopt;
        }
      }
      return product;
    }
    case sym::Op::kMax: {
      std::optional<int64_t> best;
      for (const ExprRef& a : e.args()) {
        auto m = MinValue(*a);
        if (m && (!best || *m > *best)) best = m;
      }
      return best;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<bool> ProvablyLess(const ExprRef& a, const ExprRef& b) {
  ExprRef d = Expr::Sub(b, a);
  if (auto c = d->AsConst()) return *c > 0;
  if (auto m = MinValue(*d); m && *m > 0) return true;
  if (auto m = MinValue(*Expr::Sub(a, b)); m && *m >= 0) return false;
  return std::nullopt;
}

absl::StatusOr<std::vector<ExprRef>> BroadcastShapes(
    const std::vector<std::vector<ExprRef>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<ExprRef> out(rank, ir::Const(1));
  std::vector<int> source(rank, -1);  // which shape set out[i]
  for (size_t k = 0; k < shapes.size(); ++k) {
    const auto& s = shapes[k];
    size_t offset = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const ExprRef& cur = out[offset + i];
      const ExprRef& size = s[i];
      if (sym::SameExpr(cur, size)) continue;
      if (size->AsConst() == 1) continue;
      if (cur->AsConst() == 1) {
        out[offset + i] = size;
        source[offset + i] = static_cast<int>(k);
        continue;
      }
      const auto& other = shapes[source[offset + i]];
      return absl::InvalidArgumentError(absl::StrFormat(
          "shapes %s and %s do not broadcast: %s vs %s at dimension %d",
          ShapeString(other), ShapeString(s), cur->ToString(), size->ToString(),
          offset + i));
    }
  }
  return out;
}

std::vector<ExprRef> ChannelsLastStrides(const std::vector<ExprRef>& sizes) {
  std::vector<ExprRef> strides(sizes.size());
  if (sizes.size() == 4) {
    strides[1] = ir::Const(1);
    strides[3] = sizes[1];
    strides[2] = Expr::Mul(strides[3], sizes[3]);
    strides[0] = Expr::Mul(strides[2], sizes[2]);
  } else if (sizes.size() == 5) {
    strides[1] = ir::Const(1);
    strides[4] = sizes[1];
    strides[3] = Expr::Mul(strides[4], sizes[4]);
    strides[2] = Expr::Mul(strides[3], sizes[3]);
    strides[0] = Expr::Mul(strides[2], sizes[2]);
  }
  return strides;
}

namespace {

// ATen's is_contiguous(memory_format=channels_last[_3d]); nullopt if unknown.
std::optional<bool> IsChannelsLast(const ir::TensorType& t) {
  std::vector<int> order;
  if (t.rank() == 4) {
    order = {1, 3, 2, 0};
  } else if (t.rank() == 5) {
    order = {1, 4, 3, 2, 0};
  } else {
    return false;
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

}  // namespace

std::optional<bool> IsNonOverlappingAndDense(const ir::TensorType& t) {
  std::vector<int64_t> sizes, strides;
  for (int i = 0; i < t.rank(); ++i) {
    auto s = t.sizes[i]->AsConst();
    auto st = t.strides[i]->AsConst();
    if (!s || !st) return std::nullopt;
    sizes.push_back(*s);
    strides.push_back(*st);
  }
  std::vector<int> perm(sizes.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) {
    if (sizes[a] < 2) return false;
    if (sizes[b] < 2) return true;
    return strides[a] < strides[b];
  });
  int64_t require = 1;
  for (int d : perm) {
    if (sizes[d] < 2) return true;
    if (strides[d] != require) return false;
    require *= sizes[d];
  }
  return true;
}

LayoutResult TensorIteratorLayout(
    const std::vector<ExprRef>& out_sizes,
    const std::vector<const ir::TensorType*>& inputs) {
  const int ndim = static_cast<int>(out_sizes.size());
  LayoutResult result;
  result.strides = ir::ContiguousStrides(out_sizes);
  if (ndim == 0 || inputs.empty()) return result;

  // Fast setup: every operand has the output's shape.
  bool same_shape = true;
  for (const ir::TensorType* t : inputs) {
    same_shape = same_shape && ir::SameExprList(t->sizes, out_sizes);
  }
  if (same_shape) {
    bool contiguous = true;
    for (const ir::TensorType* t : inputs) {
      contiguous = contiguous && t->IsContiguous();
    }
    if (contiguous) return result;
    bool channels_last = true, unknown = false;
    for (const ir::TensorType* t : inputs) {
      auto cl = IsChannelsLast(*t);
      if (!cl) unknown = true;
      channels_last = channels_last && cl.value_or(false);
    }
    if (channels_last && !unknown) {
      result.strides = ChannelsLastStrides(out_sizes);
      return result;
    }
    bool dense = true;
    for (const ir::TensorType* t : inputs) {
      auto d = IsNonOverlappingAndDense(*t);
      dense = dense && d.value_or(false);
    }
    if (dense) {
      bool all_same = true;
      for (const ir::TensorType* t : inputs) {
        all_same =
            all_same && ir::SameExprList(t->strides, inputs.back()->strides);
      }
      if (all_same) {
        result.strides = inputs.back()->strides;
        return result;
      }
    }
  }

  // Per-operand strides over the output's dims (0 where broadcast).
  std::vector<std::vector<ExprRef>> strides;
  for (const ir::TensorType* t : inputs) {
    std::vector<ExprRef> s(ndim, ir::Const(0));
    int offset = ndim - t->rank();
    for (int i = 0; i < t->rank(); ++i) {
      bool broadcast =
          t->sizes[i]->AsConst() == 1 && out_sizes[offset + i]->AsConst() != 1;
      s[offset + i] = broadcast ? ir::Const(0) : t->strides[i];
    }
    strides.push_back(std::move(s));
  }
  bool exact = true;
  auto should_swap = [&](int dim0, int dim1) -> int {
    for (const auto& s : strides) {
      const ExprRef& s0 = s[dim0];
      const ExprRef& s1 = s[dim1];
      if (s0->AsConst() == 0 || s1->AsConst() == 0) continue;
      auto less = ProvablyLess(s0, s1);
      auto greater = ProvablyLess(s1, s0);
      if (!less || !greater) {
        exact = false;
        return 0;
      }
      if (*less) return -1;
      if (*greater) return 1;
      auto size_greater = ProvablyLess(out_sizes[dim1], out_sizes[dim0]);
      if (!size_greater) {
        exact = false;
        return 0;
      }
      if (*size_greater) return 1;
    }
    return 0;
  };
  std::vector<int> perm(ndim);
  for (int i = 0; i < ndim; ++i) perm[i] = ndim - 1 - i;
  for (int i = 1; i < ndim; ++i) {
    int dim1 = i;
    for (int dim0 = i - 1; dim0 >= 0; --dim0) {
      int cmp = should_swap(perm[dim0], perm[dim1]);
      if (cmp > 0) {
        std::swap(perm[dim0], perm[dim1]);
        dim1 = dim0;
      } else if (cmp < 0) {
        break;
      }
    }
  }
  if (!exact) {
    result.exact = false;
    return result;
  }
  bool inverted = true;
  for (int j = 0; j < ndim; ++j) inverted = inverted && perm[j] == ndim - 1 - j;
  if (inverted) return result;
  std::vector<ExprRef> out(ndim);
  ExprRef next = ir::Const(1);
  for (int j = 0; j < ndim; ++j) {
    out[perm[j]] = next;
    next = Expr::Mul(next, out_sizes[perm[j]]);
  }
  result.strides = std::move(out);
  return result;
}

absl::StatusOr<int64_t> WrapDim(int64_t dim, int64_t rank) {
  int64_t r = rank == 0 ? 1 : rank;
  if (dim < -r || dim >= r) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dimension out of range (expected to be in range of [%d, %d], but "
        "got %d)",
        -r, r - 1, dim));
  }
  return dim < 0 ? dim + r : dim;
}

std::optional<DType> ScalarArgDType(const ir::Arg& a) {
  switch (a.kind) {
    case ir::Arg::Kind::kInt:
      return DType::kInt64;
    case ir::Arg::Kind::kFloat:
      return DType::kFloat64;
    case ir::Arg::Kind::kBool:
      return DType::kBool;
    case ir::Arg::Kind::kValue:
      if (a.value == nullptr) return std::nullopt;
      if (a.value->kind() == ir::Value::Kind::kSymInt) return DType::kInt64;
      if (a.value->kind() == ir::Value::Kind::kScalar) {
        switch (a.value->scalar_kind()) {
          case ir::ScalarKind::kInt:
            return DType::kInt64;
          case ir::ScalarKind::kFloat:
            return DType::kFloat64;
          case ir::ScalarKind::kBool:
            return DType::kBool;
          default:
            return std::nullopt;
        }
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace kiln::ops
