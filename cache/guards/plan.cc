// Builds the evaluation plan of a canonical GuardContext: per-tensor checks
// in flat arrays, symbols as slots bound in walk order, expressions compiled
// into allocation-free programs.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cache/guards/internal.h"
#include "compiler/symbolic/expr.h"

namespace kiln::cache::guards_internal {
namespace {

class PlanBuilder {
 public:
  explicit PlanBuilder(Plan* g) : g_(*g) {}

  absl::Status Build() {
    const v1::GuardContext& c = g_.canonical;
    for (int k = 0; k < c.symbols_size(); ++k) {
      slot_of_.emplace(c.symbols(k).name(), 0);
    }
    // Canonical names are s0 .. s{n-1}; the slot is the number.
    int n = 0;
    for (auto& [name, slot] : slot_of_) {
      slot = std::stoi(name.substr(1));
      n = std::max(n, slot + 1);
    }
    g_.num_symbols = n;
    bound_.assign(n, false);

    for (int i = 0; i < c.inputs_size(); ++i) {
      const v1::InputGuard& in = c.inputs(i);
      InputPlan ip;
      ip.kind = in.kind_case();
      switch (in.kind_case()) {
        case v1::InputGuard::kTensor: {
          ip.tensor = static_cast<int32_t>(g_.tensors.size());
          g_.tensors.emplace_back();
          if (absl::Status s = Tensor(ip.tensor, in.tensor(),
                                      absl::StrCat("inputs[", i, "]"), i);
              !s.ok()) {
            return s;
          }
          break;
        }
        case v1::InputGuard::kSymint: {
          ++g_.placeholder_count;
          absl::StatusOr<uint32_t> op =
              DimOpFor(in.symint().expr(), Component::kValue, -1, i, 0);
          if (!op.ok()) return op.status();
          ip.op = *op;
          break;
        }
        case v1::InputGuard::kConstant:
          ++g_.placeholder_count;
          ip.constant = &in.constant();
          break;
        default:
          return absl::InternalError("input kind not set after validation");
      }
      g_.inputs.push_back(ip);
    }

    // Aliasing: canonical labels are 0, 1, ... by first appearance.
    g_.num_leaves = static_cast<int>(labels_.size());
    g_.alias_first.assign(labels_.size(), -1);
    absl::flat_hash_map<int32_t, int32_t> first;
    for (size_t k = 0; k < labels_.size(); ++k) {
      if (labels_[k] < 0) continue;
      g_.has_alias_groups = true;
      auto [it, fresh] = first.emplace(labels_[k], static_cast<int32_t>(k));
      g_.alias_first[k] = it->second;
    }

    for (const v1::SymbolDecl& d : c.symbols()) {
      if (!d.has_min() && !d.has_max()) continue;
      RangeCheck r;
      r.slot = slot_of_.at(d.name());
      r.has_min = d.has_min();
      r.min = d.min();
      r.has_max = d.has_max();
      r.max = d.max();
      g_.ranges.push_back(r);
    }

    for (int k = 0; k < c.shape_guards_size(); ++k) {
      absl::StatusOr<CompiledExpr> e =
          Compile(c.shape_guards(k), absl::StrCat("shape_guards[", k, "]"),
                  /*want_bool=*/true);
      if (!e.ok()) return e.status();
      g_.shape_guards.push_back(*std::move(e));
    }
    return absl::OkStatus();
  }

 private:
  // Fills tensors[index] (already allocated) and, after it, its inner
  // tensors' plans.
  absl::Status Tensor(int32_t index, const v1::TensorGuard& t, std::string path,
                      int input_index) {
    TensorPlan p;
    p.type_name = t.type_name();
    p.input_index = input_index;
    const v1::TensorMeta& m = t.meta();
    p.dtype = m.dtype();
    p.device_type = m.device().type();
    p.device_index = m.device().index();
    p.requires_grad = m.requires_grad();
    p.rank = m.sizes_size();
    p.ops = static_cast<uint32_t>(g_.ops.size());
    for (int d = 0; d < m.sizes_size(); ++d) {
      absl::Status s = Dim(m.sizes(d), Component::kSize, index, input_index, d);
      if (!s.ok()) return s;
    }
    for (int d = 0; d < m.strides_size(); ++d) {
      absl::Status s =
          Dim(m.strides(d), Component::kStride, index, input_index, d);
      if (!s.ok()) return s;
    }
    v1::Dim zero;
    zero.set_static_size(0);
    absl::Status s = Dim(m.has_storage_offset() ? m.storage_offset() : zero,
                         Component::kStorageOffset, index, input_index, 0);
    if (!s.ok()) return s;

    if (!t.has_subclass()) {
      ++g_.placeholder_count;
      p.leaf = static_cast<int32_t>(labels_.size());
      labels_.push_back(t.has_alias_group() ? t.alias_group() : -1);
      g_.leaf_tensor.push_back(index);
      p.path = std::move(path);
      g_.tensors[index] = std::move(p);
      return absl::OkStatus();
    }

    const v1::SubclassInfo& sub = t.subclass();
    p.is_subclass = true;
    p.has_metadata_guard = sub.has_metadata_guard();
    g_.has_custom_metadata_guard |= sub.has_metadata_guard();
    p.metadata = sub.has_metadata() ? &sub.metadata() : nullptr;
    p.short_name = ShortTypeName(t.type_name());
    for (const v1::InnerTensor& inner : sub.inner()) {
      p.inner_names.push_back(inner.name());
    }
    p.children = static_cast<uint32_t>(g_.tensors.size());
    g_.tensors.resize(g_.tensors.size() + sub.inner_size());
    std::string prefix = absl::StrCat(path, ".subclass(", p.short_name, ")");
    p.path = std::move(path);
    const uint32_t children = p.children;
    g_.tensors[index] = std::move(p);
    for (int j = 0; j < sub.inner_size(); ++j) {
      absl::Status s =
          Tensor(static_cast<int32_t>(children + j), sub.inner(j).guard(),
                 absl::StrCat(prefix, ".inner(", sub.inner(j).name(), ")"),
                 input_index);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Dim(const v1::Dim& d, Component component, int32_t tensor,
                   int input_index, int dim) {
    if (d.has_static_size()) {
      DimOp op;
      op.value = d.static_size();
      g_.ops.push_back(op);
      return absl::OkStatus();
    }
    return DimOpFor(d.expr(), component, tensor, input_index, dim).status();
  }

  absl::StatusOr<uint32_t> DimOpFor(const v1::SymExpr& proto,
                                    Component component, int32_t tensor,
                                    int input_index, int dim) {
    const uint32_t index = static_cast<uint32_t>(g_.ops.size());
    DimOp op;
    absl::StatusOr<sym::ExprRef> e =
        sym::FromProto(proto, "", /*want_bool=*/false, /*max_depth=*/1 << 20);
    if (!e.ok()) return e.status();
    if (auto c = (*e)->AsConst()) {
      op.value = *c;
    } else if ((*e)->IsSymbol()) {
      op.slot = slot_of_.at((*e)->name());
      op.kind = bound_[op.slot] ? DimKind::kSame : DimKind::kBind;
      bound_[op.slot] = true;
      op.size_symbol = component == Component::kSize;
    } else {
      absl::StatusOr<CompiledExpr> compiled =
          Compile(proto, "", /*want_bool=*/false);
      if (!compiled.ok()) return compiled.status();
      std::vector<std::string> symbols;
      compiled->expr->CollectSymbols(&symbols);
      bool ready = true;
      for (const std::string& s : symbols) ready &= bound_[slot_of_.at(s)];
      Linear(*compiled->expr, &op);
      op.program = static_cast<int32_t>(g_.exprs.size());
      g_.exprs.push_back(*std::move(compiled));
      if (ready) {
        op.kind = DimKind::kExpr;
      } else {
        op.kind = DimKind::kDeferred;
        op.deferred = static_cast<int32_t>(g_.deferred.size());
        Deferred d;
        d.op = index;
        d.tensor = tensor;
        d.input_index = input_index;
        d.component = component;
        d.dim = dim;
        g_.deferred.push_back(d);
      }
    }
    g_.ops.push_back(op);
    return index;
  }

  // Recognizes coef * s + constant in normal form (`4*s1`, `s0 + 1`,
  // `2*s0 - 3`).
  void Linear(const sym::Expr& e, DimOp* op) {
    const sym::Expr* term = &e;
    int64_t constant = 0;
    if (e.op() == sym::Op::kAdd && e.args().size() == 2 &&
        e.args()[1]->AsConst()) {
      term = e.args()[0].get();
      constant = *e.args()[1]->AsConst();
    }
    int64_t coef = 1;
    const sym::Expr* symbol = term;
    if (term->op() == sym::Op::kMul && term->args().size() == 2 &&
        term->args()[0]->AsConst()) {
      coef = *term->args()[0]->AsConst();
      symbol = term->args()[1].get();
    }
    if (!symbol->IsSymbol()) return;
    op->linear = true;
    op->coef = coef;
    op->value = constant;
    op->slot = slot_of_.at(symbol->name());
  }

  absl::StatusOr<CompiledExpr> Compile(const v1::SymExpr& proto,
                                       const std::string& path,
                                       bool want_bool) {
    absl::StatusOr<sym::ExprRef> e =
        sym::FromProto(proto, path, want_bool, /*max_depth=*/1 << 20);
    if (!e.ok()) return e.status();
    absl::StatusOr<sym::Program> program =
        sym::Program::Compile(**e, [this](const std::string& name) {
          auto it = slot_of_.find(name);
          return it == slot_of_.end() ? -1 : it->second;
        });
    if (!program.ok()) return program.status();
    return CompiledExpr{*std::move(e), *std::move(program)};
  }

  Plan& g_;
  absl::flat_hash_map<std::string, int> slot_of_;
  std::vector<bool> bound_;
  std::vector<int32_t> labels_;  // canonical alias label per leaf, or -1
};

}  // namespace

absl::Status BuildPlan(Plan* impl) { return PlanBuilder(impl).Build(); }

}  // namespace kiln::cache::guards_internal
