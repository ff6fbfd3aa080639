#include "compiler/passes/view_simplification.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "compiler/ops/op_def.h"
#include "compiler/passes/pass_util.h"

namespace kiln::passes {
namespace {

using ir::Arg;
using ir::ExprRef;
using ir::Node;
using ir::Value;

bool Is(const Node* n, std::string_view name) {
  return n != nullptr && n->op().name() == name;
}

// The same tensor: dtype, device, sizes, strides and offset (requires_grad
// does not matter to the compiled graph).
bool SameTensor(const ir::TensorType& a, const ir::TensorType& b) {
  return a.dtype == b.dtype && a.device == b.device &&
         ir::SameExprList(a.sizes, b.sizes) &&
         ir::SameExprList(a.strides, b.strides) &&
         sym::SameExpr(a.storage_offset, b.storage_offset);
}

// The first tensor argument of a single-output view node, else nullptr.
Value* ViewBase(const Node* n) {
  if (n == nullptr || !IsView(*n) || n->num_outputs() != 1) return nullptr;
  const Arg& a = n->arg(0);
  if (a.kind != Arg::Kind::kValue || !a.value->is_tensor()) return nullptr;
  return a.value;
}

// The inferred type of `op` on `args`, if inference decides it exactly.
std::optional<ir::TensorType> InferExact(const ops::OpDef& op,
                                         const std::vector<Arg>& args) {
  ops::InferContext ctx(op.schema(), args);
  auto inferred = op.Infer(ctx);
  if (!inferred.ok() || inferred->size() != 1 || !(*inferred)[0].type ||
      !(*inferred)[0].exact_strides) {
    return std::nullopt;
  }
  return *(*inferred)[0].type;
}

// The permutation a permute/transpose/t node applies (output dim i is input
// dim perm[i]).
std::optional<std::vector<int64_t>> Permutation(const Node* n) {
  if (n == nullptr || n->num_outputs() != 1) return std::nullopt;
  const Value* self = ViewBase(n);
  if (self == nullptr) return std::nullopt;
  int64_t rank = self->type().rank();
  auto wrap = [&](const ExprRef& e) -> std::optional<int64_t> {
    auto c = e->AsConst();
    if (!c) return std::nullopt;
    int64_t d = *c < 0 ? *c + rank : *c;
    if (d < 0 || d >= rank) return std::nullopt;
    return d;
  };
  std::vector<int64_t> perm(rank);
  for (int64_t i = 0; i < rank; ++i) perm[i] = i;
  if (Is(n, "aten::permute.default")) {
    const Arg& dims = n->arg(1);
    if (static_cast<int64_t>(dims.ints.size()) != rank) return std::nullopt;
    for (int64_t i = 0; i < rank; ++i) {
      auto d = wrap(dims.ints[i]);
      if (!d) return std::nullopt;
      perm[i] = *d;
    }
    return perm;
  }
  if (Is(n, "aten::transpose.int")) {
    if (rank == 0) return perm;
    auto a = wrap(n->arg(1).i), b = wrap(n->arg(2).i);
    if (!a || !b) return std::nullopt;
    std::swap(perm[*a], perm[*b]);
    return perm;
  }
  if (Is(n, "aten::t.default")) {
    if (rank == 2) std::swap(perm[0], perm[1]);
    return perm;
  }
  return std::nullopt;
}

bool IsReshapeLike(const Node* n) {
  return Is(n, "aten::view.default") || Is(n, "aten::_unsafe_view.default") ||
         Is(n, "aten::reshape.default");
}

class Simplifier {
 public:
  explicit Simplifier(ir::Graph& graph) : graph_(graph) {
    for (const auto& n : graph_.nodes()) {
      has_mutations_ = has_mutations_ || MutatesArguments(*n);
    }
  }

  bool Run() {
    bool changed = false;
    for (int round = 0; round < 8; ++round) {
      bool round_changed = false;
      for (int i = 0; i < graph_.num_nodes(); ++i) {
        Node* n = graph_.node(i);
        if (n->num_outputs() != 1 || n->output(0) == nullptr ||
            !n->output(0)->HasUses()) {
          continue;
        }
        if (Bypass(n) || CollapseReshapes(n) || CollapsePermutes(n) ||
            CollapseExpands(n)) {
          round_changed = true;
        }
      }
      changed = changed || round_changed;
      if (!round_changed) break;
    }
    RemoveDead();
    return changed;
  }

 private:
  void Replace(Value* from, Value* to) {
    NoteProducer(from);
    graph_.ReplaceAllUsesWith(from, to);
  }
  void NoteProducer(const Value* v) {
    if (v->producer() != nullptr) maybe_dead_.insert(v->producer());
  }
  void SetSelf(Node* n, Value* self) {
    NoteProducer(n->arg(0).value);
    graph_.SetArg(n, 0, Arg::OfValue(self));
  }

  // A view equal to a tensor up its chain of views is that tensor.
  bool Bypass(Node* n) {
    Value* out = n->output(0);
    if (!out->HasUses()) return false;
    if (Is(n, "aten::contiguous.default") || Is(n, "aten::reshape.default")) {
      Value* self = n->arg(0).value;
      if (SameTensor(out->type(), self->type())) {
        Replace(out, self);
        return true;
      }
      return false;
    }
    for (Value* base = ViewBase(n); base != nullptr;
         base = ViewBase(base->producer())) {
      if (SameTensor(out->type(), base->type())) {
        Replace(out, base);
        return true;
      }
    }
    return false;
  }

  bool CollapseReshapes(Node* n) {
    if (!IsReshapeLike(n)) return false;
    Node* p = n->arg(0).value->producer();
    if (!IsReshapeLike(p)) return false;
    // Through a reshape that may copy, the result would alias the input
    // instead of a snapshot: only when nothing in the graph writes.
    if (Is(p, "aten::reshape.default") && has_mutations_) return false;
    std::vector<Arg> args = n->args();
    args[0] = p->arg(0);
    auto type = InferExact(n->op(), args);
    if (!type || !SameTensor(*type, n->output(0)->type())) return false;
    SetSelf(n, p->arg(0).value);
    return true;
  }

  bool CollapsePermutes(Node* n) {
    auto outer = Permutation(n);
    if (!outer) return false;
    Node* p = n->arg(0).value->producer();
    auto inner = Permutation(p);
    if (!inner) return false;
    std::vector<int64_t> perm(outer->size());
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) {
      perm[i] = (*inner)[(*outer)[i]];
      identity = identity && perm[i] == static_cast<int64_t>(i);
    }
    Value* x = p->arg(0).value;
    if (identity) {
      if (!SameTensor(x->type(), n->output(0)->type())) return false;
      Replace(n->output(0), x);
      return true;
    }
    const ops::OpDef* permute =
        ops::OpRegistry::Global().Find("aten::permute.default");
    if (permute == nullptr) return false;
    std::vector<ExprRef> dims;
    for (int64_t d : perm) dims.push_back(ir::Const(d));
    std::vector<Arg> args = {Arg::OfValue(x), Arg::IntList(dims)};
    auto type = InferExact(*permute, args);
    if (!type || !SameTensor(*type, n->output(0)->type())) return false;
    if (Is(n, "aten::permute.default")) {
      SetSelf(n, x);
      graph_.SetArg(n, 1, Arg::IntList(dims));
      return true;
    }
    Node* q = graph_.AddNode(*permute, std::move(args), {n->output(0)->type()},
                             graph_.FreshName("permute"), n);
    Replace(n->output(0), q->output(0));
    return true;
  }

  bool CollapseExpands(Node* n) {
    if (!Is(n, "aten::expand.default")) return false;
    Node* p = n->arg(0).value->producer();
    if (!Is(p, "aten::expand.default")) return false;
    std::vector<Arg> args = n->args();
    args[0] = p->arg(0);
    auto type = InferExact(n->op(), args);
    if (!type || !SameTensor(*type, n->output(0)->type())) return false;
    SetSelf(n, p->arg(0).value);
    return true;
  }

  // Removes the nodes the rewrites left without uses (and, transitively,
  // their producers that only they used).
  void RemoveDead() {
    std::vector<Node*> work(maybe_dead_.begin(), maybe_dead_.end());
    absl::flat_hash_set<Node*> removed;
    while (!work.empty()) {
      Node* n = work.back();
      work.pop_back();
      if (removed.contains(n) || HasSideEffects(*n)) continue;
      bool used = false;
      for (int o = 0; o < n->num_outputs(); ++o) {
        used = used || (n->output(o) && n->output(o)->HasUses());
      }
      if (used) continue;
      std::vector<Node*> producers;
      for (Value* v : n->Operands()) {
        if (v->producer()) producers.push_back(v->producer());
      }
      graph_.RemoveNode(n);
      removed.insert(n);
      work.insert(work.end(), producers.begin(), producers.end());
    }
  }

  ir::Graph& graph_;
  bool has_mutations_ = false;
  absl::flat_hash_set<Node*> maybe_dead_;
};

}  // namespace

absl::StatusOr<bool> ViewSimplification::Run(ir::Graph& graph) {
  return Simplifier(graph).Run();
}

KILN_REGISTER_PASS(ViewSimplification::kName, ViewSimplification);

}  // namespace kiln::passes
