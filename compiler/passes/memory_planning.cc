#include "compiler/passes/memory_planning.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "compiler/passes/pass_util.h"
#include "spdlog/spdlog.h"

namespace kiln::passes {
namespace {

using ir::ExprRef;
using ir::Node;
using ir::Value;
using sym::Expr;

// Bytes the storage of a tensor of this type spans from element 0:
// (offset + sum((size - 1) * stride) + 1) * element size, 0 when empty.
ExprRef StorageBytes(const ir::TensorType& t) {
  int64_t es = ir::ElementSize(t.dtype);
  if (t.IsContiguous() && t.storage_offset->AsConst() == 0) {
    return Expr::Mul(t.Numel(), ir::Const(es));
  }
  std::vector<ExprRef> terms = {t.storage_offset, ir::Const(1)};
  for (int d = 0; d < t.rank(); ++d) {
    if (t.sizes[d]->AsConst() == 0) return ir::Const(0);
    terms.push_back(
        Expr::Mul(Expr::Sub(t.sizes[d], ir::Const(1)), t.strides[d]));
  }
  return Expr::Max({ir::Const(0), Expr::Mul(Expr::Add(terms), ir::Const(es))});
}

ExprRef AlignUp(const ExprRef& bytes, int64_t alignment) {
  return Expr::Mul(Expr::FloorDiv(Expr::Add(bytes, ir::Const(alignment - 1)),
                                  ir::Const(alignment)),
                   ir::Const(alignment));
}

struct Buffer {
  Value* root = nullptr;
  int start = 0;  // the producing node
  int end = 0;    // the last node using it (or a value aliasing it)
  ExprRef bytes;
};

}  // namespace

absl::StatusOr<bool> MemoryPlanning::Run(ir::Graph& graph) {
  // Previous annotations, to report whether anything changed.
  absl::flat_hash_map<const Value*, int> old_slots;
  std::string old_plan;
  if (const ir::MemoryPlan* p = graph.memory_plan()) {
    for (const ExprRef& e : p->slot_bytes) old_plan += e->ToString() + ";";
  }
  for (const auto& n : graph.nodes()) {
    for (int o = 0; o < n->num_outputs(); ++o) {
      if (Value* v = n->output(o)) {
        if (v->buffer_slot() >= 0) old_slots[v] = v->buffer_slot();
        v->set_buffer_slot(-1);
      }
    }
  }

  // The storages each value may be part of.
  absl::flat_hash_map<const Value*, std::vector<Value*>> roots;
  auto roots_of = [&](Value* v) -> const std::vector<Value*>& {
    auto it = roots.find(v);
    if (it != roots.end()) return it->second;
    return roots[v] = {v};  // placeholders and constants
  };
  absl::flat_hash_map<Value*, Buffer> buffers;
  std::vector<Value*> order;
  for (const auto& np : graph.nodes()) {
    Node* n = np.get();
    for (int o = 0; o < n->num_outputs(); ++o) {
      Value* v = n->output(o);
      if (v == nullptr) continue;
      std::vector<Value*> r;
      std::vector<int> aliased = AliasedArgs(*n, o);
      // Views and in-place writes use their input's storage; ops that may
      // return their input (reshape, contiguous) may also allocate.
      bool own = !IsView(*n) && !MutatesArguments(*n);
      if (own) {
        r.push_back(v);
        buffers[v] = Buffer{v, n->index(), n->index(), nullptr};
        order.push_back(v);
      }
      for (int a : aliased) {
        n->arg(a).ForEachValue([&](Value* in) {
          for (Value* x : roots_of(in)) {
            if (std::find(r.begin(), r.end(), x) == r.end()) r.push_back(x);
          }
        });
      }
      roots[v] = std::move(r);
    }
  }
  // Lifetimes and escapes.
  absl::flat_hash_set<Value*> escaping;
  auto touch = [&](Value* v, int index) {
    for (Value* r : roots_of(v)) {
      auto it = buffers.find(r);
      if (it != buffers.end()) it->second.end = std::max(it->second.end, index);
    }
  };
  for (const auto& np : graph.nodes()) {
    for (Value* v : np->Operands()) touch(v, np->index());
    // An in-place write keeps the storage it writes alive to this node.
    for (int o = 0; o < np->num_outputs(); ++o) {
      if (np->output(o)) touch(np->output(o), np->index());
    }
  }
  for (const ir::Arg& out : graph.outputs()) {
    out.ForEachValue([&](Value* v) {
      for (Value* r : roots_of(v)) escaping.insert(r);
    });
  }

  std::vector<Buffer> planned;
  ExprRef unshared = ir::Const(0);
  for (Value* v : order) {
    if (escaping.contains(v)) continue;
    Buffer b = buffers[v];
    b.bytes = AlignUp(StorageBytes(v->type()), options_.alignment);
    unshared = Expr::Add(unshared, b.bytes);
    planned.push_back(b);
  }
  std::stable_sort(
      planned.begin(), planned.end(),
      [](const Buffer& a, const Buffer& b) { return a.start < b.start; });

  // Greedy: each buffer, in order of allocation, takes a free slot (one
  // whose last buffer died before this one is made): the smallest that
  // fits, else the largest, grown; else a new slot.
  struct Slot {
    ExprRef bytes;
    int busy_until = -1;
  };
  std::vector<Slot> slots;
  for (const Buffer& b : planned) {
    auto size = b.bytes->AsConst();
    int best = -1;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (slots[s].busy_until >= b.start) continue;
      if (best < 0) {
        best = static_cast<int>(s);
        continue;
      }
      auto cur = slots[s].bytes->AsConst();
      auto prev = slots[best].bytes->AsConst();
      if (size && cur && prev) {
        bool cur_fits = *cur >= *size, prev_fits = *prev >= *size;
        if ((cur_fits && (!prev_fits || *cur < *prev)) ||
            (!cur_fits && !prev_fits && *cur > *prev)) {
          best = static_cast<int>(s);
        }
      } else if (sym::SameExpr(slots[s].bytes, b.bytes)) {
        best = static_cast<int>(s);
      }
    }
    if (best < 0) {
      slots.push_back(Slot{b.bytes, b.end});
      best = static_cast<int>(slots.size()) - 1;
    } else {
      Slot& s = slots[best];
      if (!sym::SameExpr(s.bytes, b.bytes)) {
        s.bytes = Expr::Max({s.bytes, b.bytes});
      }
      s.busy_until = b.end;
    }
    b.root->set_buffer_slot(best);
  }

  auto plan = std::make_unique<ir::MemoryPlan>();
  plan->alignment = options_.alignment;
  ExprRef offset = ir::Const(0);
  for (const Slot& s : slots) {
    plan->slot_bytes.push_back(s.bytes);
    plan->slot_offsets.push_back(offset);
    offset = Expr::Add(offset, s.bytes);
  }
  plan->peak_bytes = offset;
  plan->unshared_bytes = unshared;

  std::string new_plan;
  for (const ExprRef& e : plan->slot_bytes) new_plan += e->ToString() + ";";
  bool changed = graph.memory_plan() == nullptr || new_plan != old_plan;
  for (const auto& n : graph.nodes()) {
    for (int o = 0; o < n->num_outputs(); ++o) {
      Value* v = n->output(o);
      if (v == nullptr) continue;
      auto it = old_slots.find(v);
      int before = it == old_slots.end() ? -1 : it->second;
      changed = changed || before != v->buffer_slot();
    }
  }
  spdlog::debug(
      "memory_planning: {} buffers in {} slots, peak {} bytes "
      "(unshared {})",
      planned.size(), slots.size(), plan->peak_bytes->ToString(),
      plan->unshared_bytes->ToString());
  graph.set_memory_plan(std::move(plan));
  return changed;
}

KILN_REGISTER_PASS(MemoryPlanning::kName, MemoryPlanning);

}  // namespace kiln::passes
