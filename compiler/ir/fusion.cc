#include "compiler/ir/fusion.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::ir {
namespace {

absl::StatusOr<std::vector<ops::InferredOutput>> InferFused(
    const ops::InferContext&) {
  return absl::InvalidArgumentError(
      "kiln::fused is internal to the compiler (a fused node's body does "
      "not travel on the wire)");
}

KILN_REGISTER_OP("kiln::fused(Tensor[] inputs) -> Tensor[]")
    .Category(ops::OpCategory::kOther)
    .Infer(InferFused);

std::string DimsString(const std::vector<int>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// The dims of the iteration space an operand of `in_sizes` runs along when
// it is broadcast (right-aligned, as ATen does) against a result of
// `out_sizes` whose own dims run along `out_dims`.
std::vector<int> BroadcastDims(const std::vector<ExprRef>& in_sizes,
                               const std::vector<ExprRef>& out_sizes,
                               const std::vector<int>& out_dims) {
  int r = static_cast<int>(in_sizes.size());
  int ro = static_cast<int>(out_sizes.size());
  std::vector<int> dims(r, -1);
  for (int j = 0; j < r; ++j) {
    int k = j + ro - r;
    if (k < 0) continue;  // cannot happen for inferred types
    bool broadcast =
        in_sizes[j]->AsConst() == 1 && out_sizes[k]->AsConst() != 1;
    dims[j] = broadcast ? -1 : out_dims[k];
  }
  return dims;
}

}  // namespace

const ops::OpDef& FusedOp() { return ops::GetOp(kFusedOpName); }

bool IsFusedOp(const ops::OpDef& op) { return op.name() == kFusedOpName; }

std::optional<FusionKind> AnchorKind(const ops::OpDef& op) {
  const std::string& name = op.name();
  if (name == "aten::_softmax.default" ||
      name == "aten::_log_softmax.default") {
    return FusionKind::kSoftmax;
  }
  if (name == "aten::native_layer_norm.default") return FusionKind::kLayerNorm;
  if (op.category() == ops::OpCategory::kReduction) {
    const ops::Schema& s = op.schema();
    if (!s.arguments.empty() && s.arguments[0].name == "self" &&
        s.arguments[0].type.base == ops::ArgType::Base::kTensor &&
        !s.arguments[0].type.is_list && !s.arguments[0].type.optional) {
      return FusionKind::kReduction;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<int64_t>> AnchorReduceDims(const Node& anchor) {
  auto kind = AnchorKind(anchor.op());
  if (!kind) {
    return absl::InvalidArgumentError(
        absl::StrCat(anchor.op().name(), " does not anchor a fused kernel"));
  }
  const Arg& self = anchor.arg(0);
  if (self.kind != Arg::Kind::kValue || !self.value ||
      !self.value->is_tensor()) {
    return absl::InvalidArgumentError("the anchor's input is not a tensor");
  }
  int64_t rank = self.value->type().rank();
  std::vector<int64_t> all(rank);
  std::iota(all.begin(), all.end(), 0);
  auto wrap = [&](const ExprRef& e) -> absl::StatusOr<int64_t> {
    auto c = e->AsConst();
    if (!c) return absl::InvalidArgumentError("symbolic dim");
    int64_t d = *c < 0 ? *c + std::max<int64_t>(rank, 1) : *c;
    if (d < 0 || d >= std::max<int64_t>(rank, 1)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("dim %d out of range for rank %d", *c, rank));
    }
    return d;
  };
  std::vector<int64_t> dims;
  const ops::Schema& schema = anchor.op().schema();
  switch (*kind) {
    case FusionKind::kLayerNorm: {
      int i = schema.ArgumentIndex("normalized_shape");
      if (i < 0) return absl::InvalidArgumentError("no normalized_shape");
      int64_t k = static_cast<int64_t>(anchor.arg(i).ints.size());
      for (int64_t d = rank - k; d < rank; ++d) dims.push_back(d);
      return dims;
    }
    case FusionKind::kSoftmax:
    case FusionKind::kReduction: {
      int i = schema.ArgumentIndex("dim");
      if (i < 0) return all;
      const Arg& dim = anchor.arg(i);
      if (dim.is_none()) return all;
      std::vector<ExprRef> list;
      if (dim.kind == Arg::Kind::kInt) {
        list.push_back(dim.i);
      } else if (dim.kind == Arg::Kind::kIntList) {
        if (dim.ints.empty()) return all;
        list = dim.ints;
      } else {
        return absl::InvalidArgumentError("unsupported dim argument");
      }
      for (const ExprRef& e : list) {
        auto d = wrap(e);
        if (!d.ok()) return d.status();
        if (rank > 0) dims.push_back(*d);
      }
      std::sort(dims.begin(), dims.end());
      dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
      return dims;
    }
    case FusionKind::kPointwise:
      break;
  }
  return absl::InvalidArgumentError("not an anchor");
}

const Node* FindAnchor(const Graph& body) {
  for (const auto& n : body.nodes()) {
    if (n->op().pointwise() == nullptr) return n.get();
  }
  return nullptr;
}

absl::StatusOr<FusionLayout> ComputeFusionLayout(FusionKind kind,
                                                 const Graph& body) {
  auto node_error = [](const Node& n, const std::string& msg) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "body node '%s' (%s): %s", n.name(), n.op().name(), msg));
  };
  if (body.num_nodes() == 0) {
    return absl::InvalidArgumentError("the body has no nodes");
  }
  if (body.num_constants() > 0) {
    return absl::InvalidArgumentError(
        "the body has constants (constants are kernel inputs)");
  }
  for (const auto& p : body.placeholders()) {
    if (!p->is_tensor()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "body input '%s' is not a tensor (scalars are not kernel inputs)",
          p->name()));
    }
  }
  const Node* anchor = nullptr;
  for (const auto& n : body.nodes()) {
    if (n->fused() != nullptr) return node_error(*n, "fused nodes do not nest");
    if (n->op().pointwise() != nullptr) {
      if (n->num_outputs() != 1 || n->output(0) == nullptr) {
        return node_error(*n, "a pointwise node has one tensor output");
      }
      continue;
    }
    if (anchor != nullptr) {
      return node_error(*n, absl::StrFormat("a second anchor (the first is "
                                            "'%s')",
                                            anchor->name()));
    }
    if (!AnchorKind(n->op())) {
      return node_error(*n, "neither pointwise nor an anchor");
    }
    anchor = n.get();
  }

  FusionLayout layout;
  std::vector<int> out_dims0;  // dims of the anchor's output 0
  if (kind == FusionKind::kPointwise) {
    if (anchor != nullptr) {
      return node_error(*anchor, "a pointwise kernel has no anchor");
    }
    layout.shape = body.node(0)->output(0)->type().sizes;
  } else {
    if (anchor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("a %s kernel needs an anchor", FusionKindName(kind)));
    }
    if (AnchorKind(anchor->op()) != kind) {
      return node_error(*anchor, absl::StrFormat("does not anchor a %s kernel",
                                                 FusionKindName(kind)));
    }
    auto dims = AnchorReduceDims(*anchor);
    if (!dims.ok())
      return node_error(*anchor, std::string(dims.status().message()));
    layout.shape = anchor->arg(0).value->type().sizes;
    layout.reduce_dims = *dims;
  }
  const int rank = static_cast<int>(layout.shape.size());
  std::vector<int> full(rank);
  std::iota(full.begin(), full.end(), 0);
  auto reduced = [&](int d) {
    return std::find(layout.reduce_dims.begin(), layout.reduce_dims.end(), d) !=
           layout.reduce_dims.end();
  };

  absl::flat_hash_map<const Value*, std::vector<int>> dims_of;
  absl::flat_hash_set<const Value*> after_anchor;
  auto assign = [&](const Value* v, std::vector<int> dims,
                    const Node& user) -> absl::Status {
    auto [it, inserted] = dims_of.emplace(v, dims);
    if (!inserted && it->second != dims) {
      return node_error(
          user,
          absl::StrFormat("reads '%s' along dims %s, elsewhere %s", v->name(),
                          DimsString(dims), DimsString(it->second)));
    }
    return absl::OkStatus();
  };

  for (const auto& np : body.nodes()) {
    const Node& n = *np;
    if (&n == anchor) {
      for (size_t a = 0; a < n.args().size(); ++a) {
        absl::Status st = absl::OkStatus();
        n.arg(a).ForEachValue([&](const Value* v) {
          if (!st.ok()) return;
          if (!v->is_tensor()) {
            st = node_error(n, "scalar values are not kernel inputs");
            return;
          }
          if (a == 0) {
            st = assign(v, full, n);
          } else {
            st = assign(v, BroadcastDims(v->type().sizes, layout.shape, full),
                        n);
          }
        });
        if (!st.ok()) return st;
      }
      for (int o = 0; o < n.num_outputs(); ++o) {
        const Value* out = n.output(o);
        if (out == nullptr) continue;
        const int out_rank = out->type().rank();
        std::vector<int> dims;
        if (kind == FusionKind::kReduction) {
          if (out_rank == rank) {
            for (int d = 0; d < rank; ++d) dims.push_back(reduced(d) ? -1 : d);
          } else if (out_rank ==
                     rank - static_cast<int>(layout.reduce_dims.size())) {
            for (int d = 0; d < rank; ++d) {
              if (!reduced(d)) dims.push_back(d);
            }
          } else {
            return node_error(
                n, absl::StrFormat("output %d has rank %d for an input of "
                                   "rank %d",
                                   o, out_rank, rank));
          }
        } else if (o == 0) {
          if (!SameExprList(out->type().sizes, layout.shape)) {
            return node_error(n, "output 0 is not of the input's sizes");
          }
          dims = full;
        } else {
          // layer norm's mean and rstd: [outer dims..., 1...].
          if (out_rank != rank) {
            return node_error(
                n, absl::StrFormat("output %d has rank %d", o, out_rank));
          }
          for (int d = 0; d < rank; ++d) dims.push_back(reduced(d) ? -1 : d);
        }
        if (o == 0) out_dims0 = dims;
        dims_of[out] = dims;
        after_anchor.insert(out);
      }
      continue;
    }
    // A pointwise node: prologue (iteration space) or epilogue.
    bool depends = false;
    for (const Value* v : n.Operands())
      depends = depends || after_anchor.contains(v);
    const Value* out = n.output(0);
    const std::vector<ExprRef>& sizes = out->type().sizes;
    std::vector<int> space = full;
    if (kind == FusionKind::kReduction) {
      const std::vector<ExprRef>& anchor_sizes =
          anchor->output(0)->type().sizes;
      bool epilogue = depends || (!SameExprList(sizes, layout.shape) &&
                                  SameExprList(sizes, anchor_sizes));
      if (epilogue) {
        if (!SameExprList(sizes, anchor_sizes)) {
          return node_error(n,
                            absl::StrFormat("an epilogue node of sizes %s, the "
                                            "reduction's output has %s",
                                            ExprListToString(sizes),
                                            ExprListToString(anchor_sizes)));
        }
        space = out_dims0;
      }
    }
    if (space == full && !SameExprList(sizes, layout.shape)) {
      return node_error(n, absl::StrFormat("sizes %s, not the iteration "
                                           "shape %s",
                                           ExprListToString(sizes),
                                           ExprListToString(layout.shape)));
    }
    for (size_t a = 0; a < n.args().size(); ++a) {
      absl::Status st = absl::OkStatus();
      n.arg(a).ForEachValue([&](const Value* v) {
        if (!st.ok()) return;
        if (!v->is_tensor()) {
          st = node_error(n, "scalar values are not kernel inputs");
          return;
        }
        st = assign(v, BroadcastDims(v->type().sizes, sizes, space), n);
      });
      if (!st.ok()) return st;
    }
    if (auto st = assign(out, space, n); !st.ok()) return st;
    if (depends) after_anchor.insert(out);
  }
  for (const auto& p : body.placeholders()) {
    auto it = dims_of.find(p.get());
    if (it == dims_of.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("body input '%s' is not used", p->name()));
    }
    layout.input_dims.push_back(it->second);
  }
  return layout;
}

absl::Status FillFusionLayout(FusedKernel* kernel) {
  auto layout = ComputeFusionLayout(kernel->kind, *kernel->body);
  if (!layout.ok()) return layout.status();
  kernel->shape = std::move(layout->shape);
  kernel->reduce_dims = std::move(layout->reduce_dims);
  kernel->input_dims = std::move(layout->input_dims);
  return absl::OkStatus();
}

int CountKernels(const Graph& graph) {
  int count = 0;
  for (const auto& n : graph.nodes()) {
    if (n->op().category() != ops::OpCategory::kView) ++count;
  }
  return count;
}

}  // namespace kiln::ir
