#include "compiler/ir/verifier.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/ir/fusion.h"
#include "compiler/ops/op_def.h"

namespace kiln::ir {
namespace {

using Base = ops::ArgType::Base;

bool KindFits(const Arg& a, const ops::ArgType& type, bool wrapped_numbers) {
  if (a.is_none()) return type.optional || type.base == Base::kGenerator;
  if (type.is_list) {
    switch (type.base) {
      case Base::kTensor:
        return a.kind == Arg::Kind::kValueList;
      case Base::kInt:
      case Base::kSymInt:
        return a.kind == Arg::Kind::kIntList;
      case Base::kFloat:
        return a.kind == Arg::Kind::kFloatList;
      case Base::kBool:
        return a.kind == Arg::Kind::kBoolList;
      default:
        return false;
    }
  }
  bool scalar_value =
      a.kind == Arg::Kind::kValue && a.value && !a.value->is_tensor();
  switch (type.base) {
    case Base::kTensor:
      if (wrapped_numbers &&
          (a.kind == Arg::Kind::kInt || a.kind == Arg::Kind::kFloat ||
           a.kind == Arg::Kind::kBool || scalar_value)) {
        return true;  // a Python number (pointwise ops, as in ATen)
      }
      return a.kind == Arg::Kind::kValue && a.value && a.value->is_tensor();
    case Base::kScalar:
      return a.kind == Arg::Kind::kInt || a.kind == Arg::Kind::kFloat ||
             a.kind == Arg::Kind::kBool || scalar_value;
    case Base::kInt:
    case Base::kSymInt:
      return a.kind == Arg::Kind::kInt || scalar_value;
    case Base::kFloat:
      return a.kind == Arg::Kind::kFloat || scalar_value;
    case Base::kBool:
      return a.kind == Arg::Kind::kBool || scalar_value;
    case Base::kStr:
      return a.kind == Arg::Kind::kString;
    case Base::kScalarType:
      return a.kind == Arg::Kind::kDType;
    case Base::kDevice:
      return a.kind == Arg::Kind::kDevice;
    case Base::kLayout:
      return a.kind == Arg::Kind::kLayout;
    case Base::kMemoryFormat:
      return a.kind == Arg::Kind::kMemoryFormat;
    case Base::kGenerator:
      return false;
  }
  return false;
}

void CollectSymbols(const ExprRef& e, std::vector<std::string>* out) {
  if (e) e->CollectSymbols(out);
}

absl::Status VerifyGraphIn(const Graph& graph,
                           const absl::flat_hash_set<std::string>& outer);

bool StaticList(const std::vector<ExprRef>& list) {
  for (const ExprRef& e : list) {
    if (!e || !e->AsConst()) return false;
  }
  return true;
}

absl::Status VerifyConstant(const Value* c, int i) {
  std::string where = absl::StrFormat("constants[%d] (\"%s\")", i, c->name());
  if (!c->is_tensor() || c->producer() != nullptr || c->index() != i) {
    return absl::InternalError(absl::StrCat(where, ": bad bookkeeping"));
  }
  const TensorType& t = c->type();
  if (!StaticList(t.sizes) || !StaticList(t.strides) || !t.storage_offset ||
      !t.storage_offset->AsConst()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": a constant's type is static, got ", t.ToString()));
  }
  int64_t numel = 1;
  for (const ExprRef& e : t.sizes) numel *= *e->AsConst();
  int64_t want = numel * ElementSize(t.dtype);
  if (static_cast<int64_t>(c->constant_data().size()) != want) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d bytes of data for %s (%d expected)", where,
                        c->constant_data().size(), t.ToString(), want));
  }
  return absl::OkStatus();
}

// A kiln::fused node against its kernel: the body (verified with the
// enclosing graph's symbols bound), its signature and its layout.
absl::Status VerifyFusedNode(const Node& n, const std::string& where,
                             const absl::flat_hash_set<std::string>& bound) {
  const FusedKernel* k = n.fused();
  if (!IsFusedOp(n.op())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": only kiln::fused nodes carry a kernel"));
  }
  if (k == nullptr || k->body == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": a kiln::fused node without a kernel body"));
  }
  const Graph& body = *k->body;
  if (auto st = VerifyGraphIn(body, bound); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat(where, ": body: ", st.message()));
  }
  const Arg& inputs = n.arg(0);
  if (inputs.kind != Arg::Kind::kValueList ||
      static_cast<int>(inputs.values.size()) != body.num_placeholders()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d inputs for a body of %d placeholders", where,
                        inputs.values.size(), body.num_placeholders()));
  }
  for (int i = 0; i < body.num_placeholders(); ++i) {
    const Value* in = inputs.values[i];
    const Value* p = body.placeholder(i);
    if (in == nullptr || !in->is_tensor() || !p->is_tensor() ||
        in->type() != p->type()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: input %d ('%s') does not match body input '%s' (%s)", where, i,
          in ? in->name() : "None", p->name(),
          p->is_tensor() ? p->type().ToString() : "not a tensor"));
    }
  }
  if (static_cast<int>(body.outputs().size()) != n.num_outputs()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d outputs for a body of %d outputs", where,
                        n.num_outputs(), body.outputs().size()));
  }
  for (int o = 0; o < n.num_outputs(); ++o) {
    const Arg& bo = body.outputs()[o];
    const Value* v = n.output(o);
    if (bo.kind != Arg::Kind::kValue || !bo.value->is_tensor() ||
        v == nullptr || v->type() != bo.value->type()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: output %d does not match body output %d", where, o, o));
    }
  }
  auto layout = ComputeFusionLayout(k->kind, body);
  if (!layout.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s kernel: %s", where, FusionKindName(k->kind),
                        layout.status().message()));
  }
  if (!SameExprList(layout->shape, k->shape) ||
      layout->reduce_dims != k->reduce_dims ||
      layout->input_dims != k->input_dims) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the kernel's shape, reduce_dims or input_dims differ from its "
        "body's (shape %s)",
        where, ExprListToString(layout->shape)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyGraph(const Graph& graph) {
  return VerifyGraphIn(graph, {});
}

namespace {

absl::Status VerifyGraphIn(const Graph& graph,
                           const absl::flat_hash_set<std::string>& outer) {
  absl::flat_hash_set<std::string> names;
  absl::flat_hash_set<const Value*> defined;
  absl::flat_hash_set<std::string> bound = outer;
  absl::flat_hash_map<const Value*, std::vector<const Node*>> expected_users;
  absl::flat_hash_map<const Value*, int> expected_output_uses;

  for (int i = 0; i < graph.num_placeholders(); ++i) {
    const Value* p = graph.placeholder(i);
    if (p->name().empty() || !names.insert(p->name()).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "placeholders[%d]: name '%s' is empty or not unique", i, p->name()));
    }
    if (p->producer() != nullptr || p->index() != i) {
      return absl::InternalError(
          absl::StrFormat("placeholders[%d]: bad bookkeeping", i));
    }
    defined.insert(p);
    auto bind = [&](const ExprRef& e) {
      if (e && e->IsSymbol()) bound.insert(e->name());
    };
    if (p->is_tensor()) {
      for (const ExprRef& e : p->type().sizes) bind(e);
      for (const ExprRef& e : p->type().strides) bind(e);
      bind(p->type().storage_offset);
    } else if (p->kind() == Value::Kind::kSymInt) {
      bind(p->symint());
    }
  }
  auto check_symbols = [&](const std::vector<std::string>& syms,
                           const std::string& where) -> absl::Status {
    for (const std::string& s : syms) {
      if (!bound.contains(s)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: symbol %s is not bound by a placeholder", where, s));
      }
    }
    return absl::OkStatus();
  };
  for (int i = 0; i < graph.num_placeholders(); ++i) {
    const Value* p = graph.placeholder(i);
    std::vector<std::string> syms;
    if (p->is_tensor()) {
      for (const ExprRef& e : p->type().sizes) CollectSymbols(e, &syms);
      for (const ExprRef& e : p->type().strides) CollectSymbols(e, &syms);
      CollectSymbols(p->type().storage_offset, &syms);
    } else if (p->kind() == Value::Kind::kSymInt) {
      CollectSymbols(p->symint(), &syms);
    }
    if (auto st = check_symbols(syms, absl::StrFormat("placeholders[%d]", i));
        !st.ok()) {
      return st;
    }
  }
  for (int i = 0; i < graph.num_constants(); ++i) {
    const Value* c = graph.constants()[i].get();
    if (c->name().empty() || !names.insert(c->name()).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "constants[%d]: name '%s' is empty or not unique", i, c->name()));
    }
    if (auto st = VerifyConstant(c, i); !st.ok()) return st;
    defined.insert(c);
  }

  for (int i = 0; i < graph.num_nodes(); ++i) {
    const Node* n = graph.node(i);
    const ops::Schema& schema = n->op().schema();
    std::string where =
        absl::StrFormat("nodes[%d] (%s, \"%s\")", i, n->op().name(), n->name());
    if (n->index() != i) {
      return absl::InternalError(absl::StrCat(where, ": wrong index"));
    }
    if (n->name().empty() || !names.insert(n->name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": name is empty or not unique"));
    }
    if (n->args().size() != schema.arguments.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: has %d arguments, the schema %d", where,
                          n->args().size(), schema.arguments.size()));
    }
    std::vector<std::string> syms;
    for (size_t a = 0; a < n->args().size(); ++a) {
      const Arg& arg = n->arg(a);
      if (!KindFits(arg, schema.arguments[a].type,
                    /*wrapped_numbers=*/n->op().pointwise() != nullptr)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: argument '%s' is a %s, the schema wants %s", where,
            schema.arguments[a].name, ArgKindName(arg.kind),
            schema.arguments[a].type.ToString()));
      }
      absl::Status use_status = absl::OkStatus();
      arg.ForEachValue([&](const Value* v) {
        if (!defined.contains(v) && use_status.ok()) {
          use_status = absl::InvalidArgumentError(absl::StrFormat(
              "%s: argument '%s' uses '%s' before its definition", where,
              schema.arguments[a].name, v->name()));
        }
        expected_users[v].push_back(n);
      });
      if (!use_status.ok()) return use_status;
      if (arg.kind == Arg::Kind::kInt) CollectSymbols(arg.i, &syms);
      if (arg.kind == Arg::Kind::kIntList) {
        for (const ExprRef& e : arg.ints) CollectSymbols(e, &syms);
      }
    }
    for (int o = 0; o < n->num_outputs(); ++o) {
      if (const Value* v = n->output(o)) {
        for (const ExprRef& e : v->type().sizes) CollectSymbols(e, &syms);
        for (const ExprRef& e : v->type().strides) CollectSymbols(e, &syms);
        CollectSymbols(v->type().storage_offset, &syms);
      }
    }
    if (auto st = check_symbols(syms, where); !st.ok()) return st;
    if (n->fused() != nullptr || IsFusedOp(n->op())) {
      if (auto st = VerifyFusedNode(*n, where, bound); !st.ok()) return st;
      for (int o = 0; o < n->num_outputs(); ++o) {
        const Value* v = n->output(o);
        if (v == nullptr || v->producer() != n || v->index() != o) {
          return absl::InternalError(
              absl::StrFormat("%s: output %d has bad bookkeeping", where, o));
        }
        defined.insert(v);
      }
      continue;
    }
    ops::InferContext ctx(schema, n->args());
    auto inferred = n->op().Infer(ctx);
    if (!inferred.ok()) {
      return absl::Status(
          inferred.status().code(),
          absl::StrCat(where, ": ", inferred.status().message()));
    }
    if (static_cast<int>(inferred->size()) != n->num_outputs()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: has %d outputs, inference gives %d", where,
                          n->num_outputs(), inferred->size()));
    }
    for (int o = 0; o < n->num_outputs(); ++o) {
      const Value* v = n->output(o);
      const ops::InferredOutput& inf = (*inferred)[o];
      if ((v == nullptr) != !inf.type) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: output %d None-ness disagrees with inference", where, o));
      }
      if (v == nullptr) continue;
      if (v->producer() != n || v->index() != o) {
        return absl::InternalError(
            absl::StrFormat("%s: output %d has bad bookkeeping", where, o));
      }
      if (auto st = ops::CheckDeclaredType(v->type(), inf); !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: output %d: %s", where, o, st.message()));
      }
      defined.insert(v);
    }
  }

  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    const Arg& a = graph.outputs()[i];
    switch (a.kind) {
      case Arg::Kind::kValue:
        if (!defined.contains(a.value)) {
          return absl::InvalidArgumentError(
              absl::StrFormat("outputs[%d]: '%s' is not a value of this graph",
                              i, a.value ? a.value->name() : "null"));
        }
        expected_output_uses[a.value] += 1;
        break;
      case Arg::Kind::kInt: {
        std::vector<std::string> syms;
        CollectSymbols(a.i, &syms);
        if (auto st = check_symbols(syms, absl::StrFormat("outputs[%d]", i));
            !st.ok()) {
          return st;
        }
        break;
      }
      case Arg::Kind::kNone:
      case Arg::Kind::kFloat:
      case Arg::Kind::kBool:
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrFormat("outputs[%d]: a %s cannot be a graph output", i,
                            ArgKindName(a.kind)));
    }
  }

  // Users lists and output-use counts match the arguments.
  for (const Value* v : defined) {
    std::vector<const Node*> want = expected_users[v];
    std::vector<const Node*> have(v->users().begin(), v->users().end());
    std::sort(want.begin(), want.end());
    std::sort(have.begin(), have.end());
    if (want != have) {
      return absl::InternalError(absl::StrFormat(
          "value '%s': users list has %d entries, the arguments %d uses",
          v->name(), have.size(), want.size()));
    }
    if (v->num_output_uses() != expected_output_uses[v]) {
      return absl::InternalError(absl::StrFormat(
          "value '%s': output-use count %d, the outputs use it %d times",
          v->name(), v->num_output_uses(), expected_output_uses[v]));
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::ir
