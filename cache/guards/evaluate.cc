// Guard evaluation: Check (the hot path of Lookup) and Explain share one
// evaluator, instantiated twice. With kExplain false it compares integers
// and strings and returns at the first failure without building anything;
// with kExplain true the same walk describes the first failure. Scratch
// (symbol slots, deferred values, alias labels) lives in inline buffers on
// the stack, so a typical call allocates nothing.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/internal.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache {
namespace guards_internal {
namespace {

// String equality for short names (type names, autocast device types),
// inlined: cheaper than a call to memcmp for the dozen bytes they have.
inline bool SameString(const std::string& a, const std::string& b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) {
      if (x[i] != y[i]) return false;
    }
    return true;
  }
  uint64_t u, v;
  for (size_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&u, x + i, 8);
    std::memcpy(&v, y + i, 8);
    if (u != v) return false;
  }
  // The last eight bytes (overlapping the loop's last word).
  std::memcpy(&u, x + n - 8, 8);
  std::memcpy(&v, y + n - 8, 8);
  return u == v;
}

const char* KindName(v1::InputGuard::KindCase kind) {
  switch (kind) {
    case v1::InputGuard::kTensor:
      return "tensor";
    case v1::InputGuard::kSymint:
      return "SymInt";
    case v1::InputGuard::kConstant:
      return "constant";
    default:
      return "nothing";
  }
}

v1::GuardFailure::Kind FailureKind(Component c) {
  switch (c) {
    case Component::kSize:
      return v1::GuardFailure::SIZE;
    case Component::kStride:
      return v1::GuardFailure::STRIDE;
    case Component::kStorageOffset:
      return v1::GuardFailure::STORAGE_OFFSET;
    default:
      return v1::GuardFailure::SYMINT_VALUE;
  }
}

// Where a DimOp is: for paths in explanations.
struct Where {
  int input_index;
  const TensorPlan* tensor;  // null for a SymInt input
  Component component;
  int dim;
};

std::string PathOf(const Where& w) {
  std::string base = w.tensor != nullptr
                         ? w.tensor->path
                         : absl::StrCat("inputs[", w.input_index, "]");
  switch (w.component) {
    case Component::kSize:
      return absl::StrCat(base, ".size(", w.dim, ")");
    case Component::kStride:
      return absl::StrCat(base, ".stride(", w.dim, ")");
    case Component::kStorageOffset:
      return absl::StrCat(base, ".storage_offset()");
    default:
      return absl::StrCat(base, ".value");
  }
}

std::string AutocastWords(const v1::AutocastState& a) {
  return absl::StrCat("enabled ", FormatBool(a.enabled()), ", dtype ",
                      FormatDType(a.dtype()));
}

template <bool kExplain>
class Evaluator {
 public:
  Evaluator(const Plan& g, const EvalOptions& options, int64_t* slots,
            int64_t* deferred, int32_t* labels, v1::GuardFailure* failure)
      : g_(g),
        options_(options),
        slots_(slots),
        deferred_(deferred),
        labels_(labels),
        failure_(failure) {}

  bool Run(const v1::CallSignature& call) {
    if (!Global(g_.canonical.global_state(), call.global_state())) {
      return false;
    }
    const int n = static_cast<int>(g_.inputs.size());
    if (ABSL_PREDICT_FALSE(call.inputs_size() != n)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::INPUT_COUNT, -1, "inputs", absl::StrCat(n),
             absl::StrCat(call.inputs_size()));
      }
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const InputPlan& ip = g_.inputs[i];
      const v1::InputGuard& in = call.inputs(i);
      if (ABSL_PREDICT_FALSE(in.kind_case() != ip.kind)) {
        if constexpr (kExplain) {
          Fail(v1::GuardFailure::INPUT_KIND, i, absl::StrCat("inputs[", i, "]"),
               KindName(ip.kind), KindName(in.kind_case()));
        }
        return false;
      }
      switch (ip.kind) {
        case v1::InputGuard::kTensor:
          if (!Tensor(g_.tensors[ip.tensor], in.tensor())) return false;
          break;
        case v1::InputGuard::kSymint:
          if (!Dim(g_.ops[ip.op], in.symint().expr().constant(),
                   Where{i, nullptr, Component::kValue, 0})) {
            return false;
          }
          break;
        default:
          if (ABSL_PREDICT_FALSE(
                  !ConstantMatches(*ip.constant, in.constant()))) {
            if constexpr (kExplain) {
              Fail(v1::GuardFailure::CONSTANT_VALUE, i,
                   absl::StrCat("inputs[", i, "].value"),
                   FormatConstant(*ip.constant), FormatConstant(in.constant()));
            }
            return false;
          }
      }
    }
    for (size_t k = 0; k < g_.deferred.size(); ++k) {
      const Deferred& d = g_.deferred[k];
      const TensorPlan* t = d.tensor >= 0 ? &g_.tensors[d.tensor] : nullptr;
      if (!Expr(g_.ops[d.op], deferred_[k],
                Where{d.input_index, t, d.component, d.dim})) {
        return false;
      }
    }
    if (labels_set_ > 0 || g_.has_alias_groups) {
      if (ABSL_PREDICT_FALSE(!AliasingHolds())) {
        if constexpr (kExplain) ExplainAliasing();
        return false;
      }
    }
    for (const RangeCheck& r : g_.ranges) {
      const int64_t v = slots_[r.slot];
      if (ABSL_PREDICT_FALSE((r.has_min && v < r.min) ||
                             (r.has_max && v > r.max))) {
        if constexpr (kExplain) {
          std::string s = SymbolName(r.slot);
          std::string expected =
              r.has_min && r.has_max
                  ? absl::StrCat(r.min, " <= ", s, " <= ", r.max)
                  : (r.has_min ? absl::StrCat(s, " >= ", r.min)
                               : absl::StrCat(s, " <= ", r.max));
          Fail(v1::GuardFailure::SYMBOL_RANGE, -1,
               absl::StrCat("symbols[", s, "]"), expected, absl::StrCat(v));
        }
        return false;
      }
    }
    for (size_t k = 0; k < g_.shape_guards.size(); ++k) {
      const CompiledExpr& e = g_.shape_guards[k];
      int64_t r = 0;
      const bool ok = e.program.Eval(slots_, &r);
      if (ABSL_PREDICT_FALSE(!ok || r == 0)) {
        if constexpr (kExplain) {
          Fail(v1::GuardFailure::SHAPE_GUARD, -1,
               absl::StrCat("shape_guards[", k, "]"), e.expr->ToString(),
               absl::StrCat(ok ? "false" : "cannot be evaluated", " (",
                            Bindings(*e.expr), ")"));
        }
        return false;
      }
    }
    return true;
  }

  // Global state: stored `s` vs the call's `c`.
  bool Global(const v1::GlobalState& s, const v1::GlobalState& c) {
    if (ABSL_PREDICT_FALSE(s.grad_mode() != c.grad_mode())) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::GLOBAL_STATE, -1, "global.grad_mode",
             FormatBool(s.grad_mode()), FormatBool(c.grad_mode()));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(s.torch_function() != c.torch_function())) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::GLOBAL_STATE, -1, "global.torch_function",
             FormatTorchFunction(s.torch_function()),
             FormatTorchFunction(c.torch_function()));
      }
      return false;
    }
    // Autocast, compared as a map over the sorted device types.
    int i = 0, j = 0;
    const int ns = s.autocast_size(), nc = c.autocast_size();
    while (i < ns || j < nc) {
      const v1::AutocastState* a = i < ns ? &s.autocast(i) : nullptr;
      const v1::AutocastState* b = j < nc ? &c.autocast(j) : nullptr;
      if (a != nullptr && b != nullptr &&
          SameString(a->device_type(), b->device_type())) {
        if (ABSL_PREDICT_FALSE(a->enabled() != b->enabled())) {
          if constexpr (kExplain) {
            Fail(
                v1::GuardFailure::GLOBAL_STATE, -1,
                absl::StrCat("global.autocast(", a->device_type(), ").enabled"),
                FormatBool(a->enabled()), FormatBool(b->enabled()));
          }
          return false;
        }
        if (ABSL_PREDICT_FALSE(a->dtype() != b->dtype())) {
          if constexpr (kExplain) {
            Fail(v1::GuardFailure::GLOBAL_STATE, -1,
                 absl::StrCat("global.autocast(", a->device_type(), ").dtype"),
                 FormatDType(a->dtype()), FormatDType(b->dtype()));
          }
          return false;
        }
        ++i;
        ++j;
        continue;
      }
      // A device type on one side only.
      if constexpr (kExplain) {
        const bool stored_only =
            b == nullptr ||
            (a != nullptr && a->device_type() < b->device_type());
        const v1::AutocastState& x = stored_only ? *a : *b;
        Fail(v1::GuardFailure::GLOBAL_STATE, -1,
             absl::StrCat("global.autocast(", x.device_type(), ")"),
             stored_only ? AutocastWords(x) : "absent",
             stored_only ? "absent" : AutocastWords(x));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(s.default_dtype() != c.default_dtype())) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::GLOBAL_STATE, -1, "global.default_dtype",
             FormatDType(s.default_dtype()), FormatDType(c.default_dtype()));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(s.deterministic_algorithms() !=
                           c.deterministic_algorithms())) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::GLOBAL_STATE, -1,
             "global.deterministic_algorithms",
             FormatBool(s.deterministic_algorithms()),
             FormatBool(c.deterministic_algorithms()));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(s.fp32_matmul_precision() !=
                           c.fp32_matmul_precision())) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::GLOBAL_STATE, -1, "global.fp32_matmul_precision",
             FormatMatmulPrecision(s.fp32_matmul_precision()),
             FormatMatmulPrecision(c.fp32_matmul_precision()));
      }
      return false;
    }
    return true;
  }

 private:
  bool Tensor(const TensorPlan& p, const v1::TensorGuard& t) {
    if (ABSL_PREDICT_FALSE(!SameString(t.type_name(), p.type_name))) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::TYPE, p.input_index,
             absl::StrCat(p.path, ".type"), p.type_name, t.type_name());
      }
      return false;
    }
    if (p.is_subclass || t.has_subclass()) {
      if (!Subclass(p, t)) return false;
    }
    const v1::TensorMeta& m = t.meta();
    if (ABSL_PREDICT_FALSE(m.dtype() != p.dtype)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::DTYPE, p.input_index,
             absl::StrCat(p.path, ".dtype"), FormatDType(p.dtype),
             FormatDType(m.dtype()));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(m.device().type() != p.device_type ||
                           m.device().index() != p.device_index)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::DEVICE, p.input_index,
             absl::StrCat(p.path, ".device"),
             FormatDevice(p.device_type, p.device_index),
             FormatDevice(m.device().type(), m.device().index()));
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(m.requires_grad() != p.requires_grad)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::REQUIRES_GRAD, p.input_index,
             absl::StrCat(p.path, ".requires_grad"),
             FormatBool(p.requires_grad), FormatBool(m.requires_grad()));
      }
      return false;
    }
    const int rank = p.rank;
    if (ABSL_PREDICT_FALSE(m.sizes_size() != rank ||
                           m.strides_size() != rank)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::RANK, p.input_index,
             absl::StrCat(p.path, ".dim()"), absl::StrCat(rank),
             absl::StrCat(m.sizes_size()));
      }
      return false;
    }
    const DimOp* ops = g_.ops.data() + p.ops;
    for (int d = 0; d < rank; ++d) {
      if (!Dim(ops[d], m.sizes(d).static_size(),
               Where{p.input_index, &p, Component::kSize, d})) {
        return false;
      }
    }
    for (int d = 0; d < rank; ++d) {
      if (!Dim(ops[rank + d], m.strides(d).static_size(),
               Where{p.input_index, &p, Component::kStride, d})) {
        return false;
      }
    }
    if (!Dim(ops[2 * rank],
             m.has_storage_offset() ? m.storage_offset().static_size() : 0,
             Where{p.input_index, &p, Component::kStorageOffset, 0})) {
      return false;
    }
    if (p.leaf >= 0) {
      if (t.has_alias_group()) {
        labels_[p.leaf] = t.alias_group();
        ++labels_set_;
      } else {
        labels_[p.leaf] = -1;
      }
      return true;
    }
    const int inner = static_cast<int>(p.inner_names.size());
    for (int j = 0; j < inner; ++j) {
      if (!Tensor(g_.tensors[p.children + j], t.subclass().inner(j).guard())) {
        return false;
      }
    }
    return true;
  }

  bool Subclass(const TensorPlan& p, const v1::TensorGuard& t) {
    const v1::SubclassInfo& s = t.subclass();
    bool names_match =
        p.is_subclass == t.has_subclass() &&
        static_cast<size_t>(s.inner_size()) == p.inner_names.size();
    for (int j = 0; names_match && j < s.inner_size(); ++j) {
      names_match = SameString(s.inner(j).name(), p.inner_names[j]);
    }
    if (ABSL_PREDICT_FALSE(!names_match)) {
      if constexpr (kExplain) {
        std::vector<std::string> actual;
        for (const v1::InnerTensor& in : s.inner()) actual.push_back(in.name());
        Fail(v1::GuardFailure::SUBCLASS_INNER_NAMES, p.input_index,
             absl::StrCat(SubclassPath(p, t), ".inner_names"),
             p.is_subclass ? FormatNameList(p.inner_names)
                           : "None (not a wrapper subclass)",
             t.has_subclass() ? FormatNameList(actual)
                              : "None (not a wrapper subclass)");
      }
      return false;
    }
    if (ABSL_PREDICT_FALSE(s.has_metadata_guard() != p.has_metadata_guard)) {
      if constexpr (kExplain) {
        auto words = [](bool custom) {
          return custom ? "decided by __metadata_guard__" : "equality";
        };
        Fail(v1::GuardFailure::SUBCLASS_METADATA, p.input_index,
             absl::StrCat(SubclassPath(p, t), ".metadata"),
             words(p.has_metadata_guard), words(s.has_metadata_guard()));
      }
      return false;
    }
    if (p.has_metadata_guard && options_.skip_custom_metadata) return true;
    const v1::MetadataValue* call = s.has_metadata() ? &s.metadata() : nullptr;
    if (ABSL_PREDICT_FALSE(!MetadataMatches(p.metadata, call))) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::SUBCLASS_METADATA, p.input_index,
             absl::StrCat(SubclassPath(p, t), ".metadata"),
             FormatMetadataValue(p.metadata), FormatMetadataValue(call));
      }
      return false;
    }
    return true;
  }

  static std::string SubclassPath(const TensorPlan& p,
                                  const v1::TensorGuard& t) {
    return absl::StrCat(p.path, ".subclass(", ShortTypeName(t.type_name()),
                        ")");
  }

  bool Dim(const DimOp& op, int64_t v, const Where& w) {
    // Static values are the common case: test them before the switch.
    if (ABSL_PREDICT_TRUE(op.kind == DimKind::kStatic)) {
      if (ABSL_PREDICT_FALSE(v != op.value)) {
        if constexpr (kExplain) {
          Fail(FailureKind(w.component), w.input_index, PathOf(w),
               absl::StrCat(op.value), absl::StrCat(v));
        }
        return false;
      }
      return true;
    }
    switch (op.kind) {
      case DimKind::kStatic:
        return false;  // handled above
      case DimKind::kBind:
        slots_[op.slot] = v;
        return SizeSymbolHolds(op, v, w);
      case DimKind::kSame:
        if (ABSL_PREDICT_FALSE(v != slots_[op.slot])) {
          if constexpr (kExplain) {
            Fail(FailureKind(w.component), w.input_index, PathOf(w),
                 absl::StrCat(SymbolName(op.slot), " = ", slots_[op.slot]),
                 absl::StrCat(v));
          }
          return false;
        }
        return SizeSymbolHolds(op, v, w);
      case DimKind::kExpr:
        return Expr(op, v, w);
      case DimKind::kDeferred:
        deferred_[op.deferred] = v;
        return true;
    }
    return false;
  }

  // 0/1 specialization: a dynamic size is never 0 or 1.
  bool SizeSymbolHolds(const DimOp& op, int64_t v, const Where& w) {
    if (ABSL_PREDICT_FALSE(op.size_symbol && v < 2)) {
      if constexpr (kExplain) {
        Fail(v1::GuardFailure::SIZE, w.input_index, PathOf(w),
             absl::StrCat(SymbolName(op.slot), " >= 2"), absl::StrCat(v));
      }
      return false;
    }
    return true;
  }

  bool Expr(const DimOp& op, int64_t v, const Where& w) {
    const CompiledExpr& e = g_.exprs[op.program];
    int64_t r = 0;
    const bool ok =
        op.linear ? !__builtin_mul_overflow(op.coef, slots_[op.slot], &r) &&
                        !__builtin_add_overflow(r, op.value, &r)
                  : e.program.Eval(slots_, &r);
    if (ABSL_PREDICT_FALSE(!ok || r != v)) {
      if constexpr (kExplain) {
        Fail(FailureKind(w.component), w.input_index, PathOf(w),
             ok ? absl::StrCat(e.expr->ToString(), " = ", r)
                : absl::StrCat(e.expr->ToString(), " (cannot be evaluated: ",
                               Bindings(*e.expr), ")"),
             absl::StrCat(v));
      }
      return false;
    }
    return true;
  }

  // The partition of the call's tensors into alias groups equals the
  // stored one: every member of a stored group shares its first member's
  // label, and the first members and ungrouped tensors have distinct labels.
  bool AliasingHolds() const {
    const int n = g_.num_leaves;
    absl::InlinedVector<int32_t, 32> heads;
    for (int k = 0; k < n; ++k) {
      const int32_t first = g_.alias_first[k];
      if (first >= 0 && first != k) {
        if (labels_[k] < 0 || labels_[k] != labels_[first]) return false;
      } else if (labels_[k] >= 0) {
        heads.push_back(labels_[k]);
      }
    }
    std::sort(heads.begin(), heads.end());
    return std::adjacent_find(heads.begin(), heads.end()) == heads.end();
  }

  // The first tensor whose earliest alias partner differs (stored vs call).
  void ExplainAliasing() {
    const int n = g_.num_leaves;
    auto path = [&](int leaf) { return g_.tensors[g_.leaf_tensor[leaf]].path; };
    for (int k = 0; k < n; ++k) {
      int stored = g_.alias_first[k] >= 0 && g_.alias_first[k] != k
                       ? g_.alias_first[k]
                       : -1;
      int call = -1;
      for (int j = 0; j < k && labels_[k] >= 0; ++j) {
        if (labels_[j] == labels_[k]) {
          call = j;
          break;
        }
      }
      if (stored == call) continue;
      auto words = [&](int partner) {
        return partner < 0 ? std::string(
                                 "no storage shared with an earlier "
                                 "tensor")
                           : absl::StrCat("same storage as ", path(partner));
      };
      const TensorPlan& t = g_.tensors[g_.leaf_tensor[k]];
      Fail(v1::GuardFailure::ALIASING, t.input_index,
           absl::StrCat(t.path, ".alias_group"), words(stored), words(call));
      return;
    }
    Fail(v1::GuardFailure::ALIASING, -1, "inputs", "the stored aliasing",
         "different aliasing");
  }

  std::string Bindings(const sym::Expr& e) const {
    std::vector<std::string> names;
    e.CollectSymbols(&names);
    std::sort(names.begin(), names.end(),
              [](const std::string& a, const std::string& b) {
                return std::stoi(a.substr(1)) < std::stoi(b.substr(1));
              });
    std::vector<std::string> parts;
    for (const std::string& s : names) {
      parts.push_back(absl::StrCat(s, " = ", slots_[std::stoi(s.substr(1))]));
    }
    return absl::StrJoin(parts, ", ");
  }

  void Fail(v1::GuardFailure::Kind kind, int input_index, std::string path,
            std::string expected, std::string actual) {
    failure_->set_kind(kind);
    if (input_index >= 0) failure_->set_input_index(input_index);
    failure_->set_message(
        absl::StrCat(path, ": expected ", expected, ", got ", actual));
    failure_->set_path(std::move(path));
    failure_->set_expected(std::move(expected));
    failure_->set_actual(std::move(actual));
  }

  const Plan& g_;
  const EvalOptions& options_;
  int64_t* slots_;
  int64_t* deferred_;
  int32_t* labels_;
  int labels_set_ = 0;
  v1::GuardFailure* failure_;
};

// Uninitialized scratch on the stack (on the heap past N elements). The walk
// writes every slot, deferred value and label before reading it: symbols are
// bound before their first use in walk order, and nothing after the walk runs
// unless the walk completed.
template <typename T, size_t N>
class Scratch {
 public:
  explicit Scratch(size_t n) {
    if (n > N) heap_.reset(new T[n]);
    data_ = n > N ? heap_.get() : inline_;
  }
  T* data() { return data_; }

 private:
  T inline_[N];
  std::unique_ptr<T[]> heap_;
  T* data_;
};

template <bool kExplain>
bool Evaluate(const Plan& g, const v1::CallSignature& call,
              const EvalOptions& options, v1::GuardFailure* failure) {
  Scratch<int64_t, 32> slots(g.num_symbols);
  Scratch<int64_t, 16> deferred(g.deferred.size());
  Scratch<int32_t, 64> labels(g.num_leaves);
  Evaluator<kExplain> e(g, options, slots.data(), deferred.data(),
                        labels.data(), failure);
  return e.Run(call);
}

}  // namespace

bool GlobalStateEqual(const v1::GlobalState& a, const v1::GlobalState& b) {
  static const Plan* const kEmpty = new Plan();
  const EvalOptions options;
  Evaluator<false> e(*kEmpty, options, nullptr, nullptr, nullptr, nullptr);
  return e.Global(a, b);
}

}  // namespace guards_internal

bool GuardSet::Check(const v1::CallSignature& call,
                     const EvalOptions& options) const {
  return guards_internal::Evaluate<false>(*impl_, call, options, nullptr);
}

std::optional<v1::GuardFailure> GuardSet::Explain(
    const v1::CallSignature& call, const EvalOptions& options) const {
  v1::GuardFailure failure;
  if (guards_internal::Evaluate<true>(*impl_, call, options, &failure)) {
    return std::nullopt;
  }
  return failure;
}

}  // namespace kiln::cache
