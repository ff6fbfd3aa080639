#include "compiler/passes/fusion.h"

#include <algorithm>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_replace.h"
#include "compiler/ir/fusion.h"
#include "compiler/passes/pass_util.h"
#include "spdlog/spdlog.h"

namespace kiln::passes {
namespace {

using ir::Arg;
using ir::Node;
using ir::Value;

// A node reads no scalar graph input (kernels take tensors only).
bool TensorOperandsOnly(const Node& n) {
  for (const Arg& a : n.args()) {
    if (a.kind == Arg::Kind::kValue && !a.value->is_tensor()) return false;
    if (a.kind == Arg::Kind::kValueList) return false;
  }
  return true;
}

bool SameDevice(const Node& n) {
  const ir::Device& d = n.output(0)->type().device;
  for (const Value* v : n.Operands()) {
    if (v->type().device != d) return false;
  }
  return true;
}

bool IsPointwiseCandidate(const Node& n) {
  return n.op().pointwise() != nullptr && n.num_outputs() == 1 &&
         n.output(0) != nullptr && TensorOperandsOnly(n) && SameDevice(n);
}

bool IsAnchorCandidate(const Node& n) {
  if (!ir::AnchorKind(n.op())) return false;
  if (n.num_outputs() == 0) return false;
  for (int o = 0; o < n.num_outputs(); ++o) {
    if (n.output(o) == nullptr) return false;
  }
  const Arg& self = n.arg(0);
  if (self.kind != Arg::Kind::kValue || !self.value->is_tensor()) return false;
  return TensorOperandsOnly(n) && SameDevice(n) && ir::AnchorReduceDims(n).ok();
}

struct Group {
  std::vector<Node*> members;
  Node* anchor = nullptr;
  std::vector<ir::ExprRef> shape;  // the pointwise members' sizes
  ir::Device device;
  int segment = 0;
  bool alive = true;
};

// Builds a kernel body for `members` (in graph order): placeholders for
// the values they read from outside, the members' nodes, and outputs for
// the values used outside the group. Fills `inputs` and `outputs` with the
// outer values.
std::unique_ptr<ir::Graph> BuildBody(const std::vector<Node*>& members,
                                     std::vector<Value*>* inputs,
                                     std::vector<Value*>* outputs) {
  absl::flat_hash_set<const Node*> in_group(members.begin(), members.end());
  auto body = std::make_unique<ir::Graph>();
  absl::flat_hash_map<const Value*, Value*> map;
  for (const Node* m : members) {
    for (Value* v : m->Operands()) {
      if (map.contains(v) ||
          (v->producer() != nullptr && in_group.contains(v->producer()))) {
        continue;
      }
      std::string name = absl::StrReplaceAll(v->name(), {{"#", "_"}});
      map[v] = body->AddTensorInput(body->FreshName(name), v->type());
      inputs->push_back(v);
    }
  }
  for (const Node* m : members) {
    std::vector<Arg> args = m->args();
    for (Arg& a : args) {
      if (a.kind == Arg::Kind::kValue) a.value = map.at(a.value);
    }
    std::vector<std::optional<ir::TensorType>> types;
    for (int o = 0; o < m->num_outputs(); ++o) {
      types.push_back(m->output(o) ? std::optional(m->output(o)->type())
                                   : std::nullopt);
    }
    Node* copy = body->AddNode(m->op(), std::move(args), std::move(types),
                               body->FreshName(m->name()));
    for (int o = 0; o < m->num_outputs(); ++o) {
      if (m->output(o)) map[m->output(o)] = copy->output(o);
    }
  }
  std::vector<Arg> body_outputs;
  for (const Node* m : members) {
    for (int o = 0; o < m->num_outputs(); ++o) {
      Value* v = m->output(o);
      if (v == nullptr) continue;
      bool escapes = v->num_output_uses() > 0;
      for (const Node* u : v->users())
        escapes = escapes || !in_group.contains(u);
      if (!escapes) continue;
      outputs->push_back(v);
      body_outputs.push_back(Arg::OfValue(map.at(v)));
    }
  }
  body->SetOutputs(std::move(body_outputs));
  return body;
}

class Fuser {
 public:
  Fuser(ir::Graph& graph, const FusionOptions& options)
      : graph_(graph), options_(options) {}

  absl::StatusOr<bool> Run() {
    // Nodes that write an argument order what reads and writes it around
    // them without a data edge: kernels do not span them, and the final
    // sort keeps every node on its side of each.
    int segment = 0;
    for (const auto& n : graph_.nodes()) {
      segment_[n.get()] = segment;
      if (MutatesArguments(*n)) {
        mutations_.push_back(n.get());
        ++segment;
      }
    }
    for (const auto& n : graph_.nodes()) {
      if (IsPointwiseCandidate(*n)) AddPointwise(n.get());
    }
    if (options_.fuse_anchors) {
      for (const auto& n : graph_.nodes()) {
        if (IsAnchorCandidate(*n)) AddAnchor(n.get());
      }
    } else if (options_.wrap_single_nodes) {
      for (const auto& n : graph_.nodes()) {
        if (IsAnchorCandidate(*n)) NewGroup(n.get(), n.get());
      }
    }
    bool changed = false;
    std::vector<int> order;
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].alive) order.push_back(static_cast<int>(g));
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return First(groups_[a]) < First(groups_[b]);
    });
    for (int g : order) {
      Group& group = groups_[g];
      if (group.members.size() < 2 && !options_.wrap_single_nodes) continue;
      if (Materialize(group)) changed = true;
    }
    if (changed) SortTopologically();
    return changed;
  }

 private:
  static int First(const Group& g) {
    int first = g.members.front()->index();
    for (const Node* m : g.members) first = std::min(first, m->index());
    return first;
  }

  int NewGroup(Node* n, Node* anchor) {
    Group g;
    g.members = {n};
    g.anchor = anchor;
    g.shape = anchor ? anchor->arg(0).value->type().sizes
                     : n->output(0)->type().sizes;
    g.device = n->output(0)->type().device;
    g.segment = segment_.at(n);
    groups_.push_back(std::move(g));
    int id = static_cast<int>(groups_.size()) - 1;
    group_of_[n] = id;
    return id;
  }

  int GroupOf(const Node* n) const {
    auto it = group_of_.find(n);
    return it == group_of_.end() ? -1 : it->second;
  }

  // Whether some node outside both groups lies on a path from `from` to
  // `to`.
  bool PathThroughOutside(int from, int to) const {
    int limit = 0;
    for (const Node* m : groups_[to].members)
      limit = std::max(limit, m->index());
    std::vector<const Node*> stack;
    absl::flat_hash_set<const Node*> visited;
    auto push_users = [&](const Node* n, bool from_inside) {
      for (int o = 0; o < n->num_outputs(); ++o) {
        const Value* v = n->output(o);
        if (v == nullptr) continue;
        for (const Node* u : v->users()) {
          int g = GroupOf(u);
          if (g == from) continue;
          if (g == to) {
            if (!from_inside) stack.push_back(nullptr);  // reached
            continue;
          }
          if (u->index() < limit && visited.insert(u).second) {
            stack.push_back(u);
          }
        }
      }
    };
    for (const Node* m : groups_[from].members) push_users(m, true);
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      if (n == nullptr) return true;
      push_users(n, false);
    }
    return false;
  }

  bool CanMerge(int a, int b) const {
    if (a == b || !groups_[a].alive || !groups_[b].alive) return false;
    if (groups_[a].anchor != nullptr && groups_[b].anchor != nullptr) {
      return false;
    }
    if (groups_[a].device != groups_[b].device) return false;
    if (groups_[a].segment != groups_[b].segment) return false;
    if (static_cast<int>(groups_[a].members.size() +
                         groups_[b].members.size()) >
        options_.max_kernel_nodes) {
      return false;
    }
    return !PathThroughOutside(a, b) && !PathThroughOutside(b, a);
  }

  // Whether `a` and `b` together make a kernel ComputeFusionLayout
  // accepts.
  bool ValidKernel(int a, int b) const {
    std::vector<Node*> members = groups_[a].members;
    members.insert(members.end(), groups_[b].members.begin(),
                   groups_[b].members.end());
    std::sort(members.begin(), members.end(), [](const Node* x, const Node* y) {
      return x->index() < y->index();
    });
    Node* anchor = groups_[a].anchor ? groups_[a].anchor : groups_[b].anchor;
    std::vector<Value*> inputs, outputs;
    auto body = BuildBody(members, &inputs, &outputs);
    ir::FusionKind kind =
        anchor ? *ir::AnchorKind(anchor->op()) : ir::FusionKind::kPointwise;
    return ir::ComputeFusionLayout(kind, *body).ok();
  }

  // Moves b's members into a.
  void Merge(int a, int b) {
    Group& ga = groups_[a];
    Group& gb = groups_[b];
    for (Node* m : gb.members) {
      group_of_[m] = a;
      ga.members.push_back(m);
    }
    if (gb.anchor) {
      ga.anchor = gb.anchor;
      ga.shape = gb.shape;
    }
    gb.members.clear();
    gb.alive = false;
  }

  void AddPointwise(Node* n) {
    int g = NewGroup(n, nullptr);
    for (Value* v : n->Operands()) {
      int p = v->producer() ? GroupOf(v->producer()) : -1;
      if (p < 0 || p == g || groups_[p].anchor != nullptr) continue;
      if (!ir::SameExprList(groups_[p].shape, groups_[g].shape)) continue;
      if (CanMerge(p, g)) {
        Merge(p, g);
        g = p;
      }
    }
  }

  void AddAnchor(Node* a) {
    int g = NewGroup(a, a);
    // Prologue: the pointwise group producing the anchor's input.
    const Node* producer = a->arg(0).value->producer();
    int p = producer ? GroupOf(producer) : -1;
    if (p >= 0 && groups_[p].anchor == nullptr &&
        ir::SameExprList(groups_[p].shape, groups_[g].shape) &&
        CanMerge(p, g) && ValidKernel(p, g)) {
      Merge(g, p);
    }
    // Epilogue: pointwise groups consuming its outputs.
    std::vector<Node*> users;
    for (int o = 0; o < a->num_outputs(); ++o) {
      for (Node* u : a->output(o)->users()) users.push_back(u);
    }
    std::sort(users.begin(), users.end(), [](const Node* x, const Node* y) {
      return x->index() < y->index();
    });
    for (Node* u : users) {
      int e = GroupOf(u);
      if (e < 0 || e == g || groups_[e].anchor != nullptr) continue;
      if (CanMerge(g, e) && ValidKernel(g, e)) Merge(g, e);
    }
  }

  bool Materialize(Group& group) {
    std::sort(
        group.members.begin(), group.members.end(),
        [](const Node* x, const Node* y) { return x->index() < y->index(); });
    std::vector<Value*> inputs, outputs;
    auto kernel = std::make_unique<ir::FusedKernel>();
    kernel->body = BuildBody(group.members, &inputs, &outputs);
    kernel->kind = group.anchor ? *ir::AnchorKind(group.anchor->op())
                                : ir::FusionKind::kPointwise;
    if (outputs.empty()) return false;  // dead group: DCE's business
    if (auto st = ir::FillFusionLayout(kernel.get()); !st.ok()) {
      spdlog::debug("fusion: group of {} left unfused: {}",
                    group.members.front()->name(), st.ToString());
      return false;
    }
    Node* fused =
        graph_.AddFusedNode(ir::FusedOp(), inputs, std::move(kernel),
                            graph_.FreshName("fused"), group.members.front());
    segment_[fused] = group.segment;
    for (size_t i = 0; i < outputs.size(); ++i) {
      graph_.ReplaceAllUsesWith(outputs[i], fused->output(i));
    }
    for (auto it = group.members.rbegin(); it != group.members.rend(); ++it) {
      group_of_.erase(*it);
      segment_.erase(*it);
      graph_.RemoveNode(*it);
    }
    return true;
  }

  // Stable topological order: among ready nodes, the earliest first. Each
  // argument-writing node comes after every node of its segment and before
  // every node of later segments.
  void SortTopologically() {
    const int n = graph_.num_nodes();
    std::vector<int> pending(n, 0);
    std::vector<std::vector<int>> users(n);
    for (int i = 0; i < n; ++i) {
      const Node* node = graph_.node(i);
      absl::flat_hash_set<int> producers;
      for (const Value* v : node->Operands()) {
        if (v->producer()) producers.insert(v->producer()->index());
      }
      int s = segment_.at(node);
      bool mutation =
          s < static_cast<int>(mutations_.size()) && mutations_[s] == node;
      if (mutation) {
        for (int j = 0; j < n; ++j) {
          const Node* other = graph_.node(j);
          if (j != i && segment_.at(other) == s) producers.insert(j);
        }
        if (s > 0) producers.insert(mutations_[s - 1]->index());
      } else if (s > 0) {
        producers.insert(mutations_[s - 1]->index());
      }
      pending[i] = static_cast<int>(producers.size());
      for (int p : producers) users[p].push_back(i);
    }
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (int i = 0; i < n; ++i) {
      if (pending[i] == 0) ready.push(i);
    }
    std::vector<Node*> order;
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      order.push_back(graph_.node(i));
      for (int u : users[i]) {
        if (--pending[u] == 0) ready.push(u);
      }
    }
    if (static_cast<int>(order.size()) == n) graph_.ReorderNodes(order);
  }

  ir::Graph& graph_;
  const FusionOptions& options_;
  std::vector<Group> groups_;
  absl::flat_hash_map<const Node*, int> group_of_;
  absl::flat_hash_map<const Node*, int> segment_;
  std::vector<const Node*> mutations_;
};

}  // namespace

absl::StatusOr<bool> Fusion::Run(ir::Graph& graph) {
  return Fuser(graph, options_).Run();
}

KILN_REGISTER_PASS(Fusion::kName, Fusion);

}  // namespace kiln::passes
