#include "compiler/ir/convert.h"

#include <functional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/schema.h"
#include "compiler/ops/shape_util.h"
#include "kiln/v1/symexpr.pb.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::ir {
namespace {

using ops::ArgType;
using Base = ops::ArgType::Base;

absl::Status Invalid(const std::string& path, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

// Prefixes a status message with a path (keeping the code).
absl::Status Prefix(const absl::Status& st, const std::string& path) {
  return absl::Status(st.code(), absl::StrCat(path, ": ", st.message()));
}

absl::StatusOr<ExprRef> DimFromProto(const v1::Dim& dim,
                                     const std::string& path,
                                     const std::string& what, int max_depth) {
  switch (dim.value_case()) {
    case v1::Dim::kStaticSize:
      if (dim.static_size() < 0) {
        return Invalid(path, absl::StrFormat("%s %d is negative", what,
                                             dim.static_size()));
      }
      return Const(dim.static_size());
    case v1::Dim::kExpr: {
      auto e = sym::FromProto(dim.expr(), absl::StrCat(path, ".expr"),
                              /*want_bool=*/false, max_depth);
      if (!e.ok()) return e.status();
      if (auto c = (*e)->AsConst(); c && *c < 0) {
        return Invalid(path, absl::StrFormat("%s %d is negative", what, *c));
      }
      return *e;
    }
    case v1::Dim::VALUE_NOT_SET:
      break;
  }
  return Invalid(path, absl::StrCat(what, " is not set"));
}

absl::StatusOr<Device> DeviceFromProto(const v1::Device& d,
                                       const std::string& path) {
  if (d.type() == v1::CPU) {
    if (d.index() != 0) {
      return Invalid(path,
                     absl::StrFormat("cpu device with index %d", d.index()));
    }
    return Device::Cpu();
  }
  if (d.type() == v1::CUDA) {
    if (d.index() < 0) {
      return Invalid(path,
                     absl::StrFormat("negative device index %d", d.index()));
    }
    return Device::Cuda(d.index());
  }
  if (d.type() == v1::DEVICE_TYPE_UNSPECIFIED) {
    return Invalid(path, "device type is not set");
  }
  return Invalid(path, absl::StrFormat("unknown device type %d", d.type()));
}

void DeviceToProto(const Device& d, v1::Device* p) {
  p->set_type(d.type == Device::Type::kCpu ? v1::CPU : v1::CUDA);
  p->set_index(d.index);
}

void DimToProto(const ExprRef& e, v1::Dim* dim) {
  if (auto c = e->AsConst()) {
    dim->set_static_size(*c);
  } else {
    sym::ToProto(*e, dim->mutable_expr());
  }
}

void CollectSymbols(const ExprRef& e, std::vector<std::string>* out) {
  if (e) e->CollectSymbols(out);
}

void CollectTypeSymbols(const TensorType& t, std::vector<std::string>* out) {
  for (const ExprRef& e : t.sizes) CollectSymbols(e, out);
  for (const ExprRef& e : t.strides) CollectSymbols(e, out);
  CollectSymbols(t.storage_offset, out);
}

void CollectArgSymbols(const Arg& a, std::vector<std::string>* out) {
  if (a.kind == Arg::Kind::kInt) CollectSymbols(a.i, out);
  if (a.kind == Arg::Kind::kIntList) {
    for (const ExprRef& e : a.ints) CollectSymbols(e, out);
  }
}

std::string ProtoArgKind(const v1::Argument& a) {
  switch (a.value_case()) {
    case v1::Argument::kRef:
      return "value reference";
    case v1::Argument::kIntValue:
      return "int";
    case v1::Argument::kFloatValue:
      return "float";
    case v1::Argument::kBoolValue:
      return "bool";
    case v1::Argument::kStringValue:
      return "str";
    case v1::Argument::kInts:
      return "int list";
    case v1::Argument::kFloats:
      return "float list";
    case v1::Argument::kBools:
      return "bool list";
    case v1::Argument::kSym:
      return "SymInt";
    case v1::Argument::kDtype:
      return "dtype";
    case v1::Argument::kDevice:
      return "device";
    case v1::Argument::kNone:
      return "None";
    case v1::Argument::kList:
      return "list";
    case v1::Argument::kMemoryFormat:
      return "memory format";
    case v1::Argument::kLayout:
      return "layout";
    case v1::Argument::VALUE_NOT_SET:
      return "nothing";
  }
  return "?";
}

class Converter {
 public:
  Converter(const v1::Graph& proto, const ConvertOptions& options)
      : proto_(proto), options_(options), graph_(std::make_unique<Graph>()) {}

  absl::StatusOr<std::unique_ptr<Graph>> Run() {
    if (options_.max_inputs > 0 &&
        proto_.placeholders_size() > options_.max_inputs) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "graph.placeholders: %d placeholders exceed the limit of %d",
          proto_.placeholders_size(), options_.max_inputs));
    }
    if (options_.max_nodes > 0 && proto_.nodes_size() > options_.max_nodes) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("graph.nodes: %d nodes exceed the limit of %d",
                          proto_.nodes_size(), options_.max_nodes));
    }
    if (auto st = IndexNames(); !st.ok()) return st;
    for (const std::string& s : options_.outer_symbols) bound_.insert(s);
    if (auto st = ConvertPlaceholders(); !st.ok()) return st;
    if (auto st = ConvertConstants(); !st.ok()) return st;
    for (int i = 0; i < proto_.nodes_size(); ++i) {
      if (auto st = ConvertNode(i); !st.ok()) return st;
    }
    if (auto st = ConvertOutputs(); !st.ok()) return st;
    return std::move(graph_);
  }

 private:
  // Names must be unique across placeholders and nodes.
  absl::Status IndexNames() {
    absl::flat_hash_map<std::string, std::string> seen;  // name -> path
    auto add = [&](const std::string& name,
                   const std::string& path) -> absl::Status {
      if (name.empty()) return Invalid(path, "name is empty");
      auto [it, inserted] = seen.emplace(name, path);
      if (!inserted) {
        return Invalid(path, absl::StrFormat("name '%s' is already used by %s",
                                             name, it->second));
      }
      return absl::OkStatus();
    };
    for (int i = 0; i < proto_.placeholders_size(); ++i) {
      std::string path = absl::StrFormat("graph.placeholders[%d].name", i);
      if (auto st = add(proto_.placeholders(i).name(), path); !st.ok()) {
        return st;
      }
    }
    for (int i = 0; i < proto_.constants_size(); ++i) {
      std::string path = absl::StrFormat("graph.constants[%d].name", i);
      if (auto st = add(proto_.constants(i).name(), path); !st.ok()) {
        return st;
      }
    }
    for (int i = 0; i < proto_.nodes_size(); ++i) {
      std::string path = absl::StrFormat("graph.nodes[%d].name", i);
      if (auto st = add(proto_.nodes(i).name(), path); !st.ok()) return st;
      node_index_[proto_.nodes(i).name()] = i;
    }
    return absl::OkStatus();
  }

  absl::Status ConvertPlaceholders() {
    // First pass: symbols bound by bare-symbol dims and SymInt inputs.
    std::vector<std::pair<ExprRef, std::string>> to_check;
    for (int i = 0; i < proto_.placeholders_size(); ++i) {
      const v1::Placeholder& p = proto_.placeholders(i);
      std::string path = absl::StrFormat("graph.placeholders[%d]", i);
      switch (p.kind_case()) {
        case v1::Placeholder::kTensor: {
          auto t = TensorTypeFromProto(p.tensor(), path + ".tensor",
                                       options_.max_expr_depth);
          if (!t.ok()) return t.status();
          auto bind = [&](const ExprRef& e) {
            if (e->IsSymbol()) bound_.insert(e->name());
          };
          for (const ExprRef& e : t->sizes) bind(e);
          for (const ExprRef& e : t->strides) bind(e);
          bind(t->storage_offset);
          to_check.push_back({nullptr, path});
          Value* v = graph_->AddTensorInput(p.name(), *t);
          values_[p.name()] = {v};
          break;
        }
        case v1::Placeholder::kSymint: {
          auto e = sym::FromProto(p.symint().expr(), path + ".symint.expr",
                                  /*want_bool=*/false, options_.max_expr_depth);
          if (!e.ok()) return e.status();
          if ((*e)->IsSymbol()) bound_.insert((*e)->name());
          Value* v = graph_->AddSymIntInput(p.name(), *e);
          values_[p.name()] = {v};
          break;
        }
        case v1::Placeholder::kScalar: {
          ScalarKind kind;
          switch (p.scalar().kind()) {
            case v1::SCALAR_KIND_INT:
              kind = ScalarKind::kInt;
              break;
            case v1::SCALAR_KIND_FLOAT:
              kind = ScalarKind::kFloat;
              break;
            case v1::SCALAR_KIND_BOOL:
              kind = ScalarKind::kBool;
              break;
            case v1::SCALAR_KIND_STRING:
              kind = ScalarKind::kString;
              break;
            case v1::SCALAR_KIND_NONE:
              kind = ScalarKind::kNone;
              break;
            case v1::SCALAR_KIND_UNSPECIFIED:
              return Invalid(path + ".scalar.kind", "scalar kind is not set");
            default:
              return Invalid(
                  path + ".scalar.kind",
                  absl::StrFormat("unknown scalar kind %d", p.scalar().kind()));
          }
          Value* v = graph_->AddScalarInput(p.name(), kind);
          values_[p.name()] = {v};
          break;
        }
        case v1::Placeholder::KIND_NOT_SET:
          return Invalid(path, "placeholder kind is not set");
      }
    }
    // Second pass: every symbol used by a placeholder is bound.
    for (int i = 0; i < graph_->num_placeholders(); ++i) {
      Value* v = graph_->placeholder(i);
      std::vector<std::string> syms;
      if (v->is_tensor()) CollectTypeSymbols(v->type(), &syms);
      if (v->kind() == Value::Kind::kSymInt) CollectSymbols(v->symint(), &syms);
      if (auto st =
              CheckBound(syms, absl::StrFormat("graph.placeholders[%d]", i));
          !st.ok()) {
        return st;
      }
    }
    return absl::OkStatus();
  }

  absl::Status ConvertConstants() {
    for (int i = 0; i < proto_.constants_size(); ++i) {
      const v1::GraphConstant& c = proto_.constants(i);
      std::string path = absl::StrFormat("graph.constants[%d].value", i);
      const v1::Tensor& t = c.value();
      v1::TensorMeta meta;
      meta.set_dtype(t.dtype());
      *meta.mutable_device() = t.device();
      if (!t.has_device()) meta.mutable_device()->set_type(v1::CPU);
      for (int64_t s : t.sizes()) meta.add_sizes()->set_static_size(s);
      for (int64_t s : t.strides()) meta.add_strides()->set_static_size(s);
      if (t.storage_offset() != 0) {
        meta.mutable_storage_offset()->set_static_size(t.storage_offset());
      }
      meta.set_requires_grad(t.requires_grad());
      auto type = TensorTypeFromProto(meta, path, options_.max_expr_depth);
      if (!type.ok()) return type.status();
      if (t.storage_offset() < 0) {
        return Invalid(path + ".storage_offset",
                       absl::StrFormat("storage offset %d is negative",
                                       t.storage_offset()));
      }
      if (t.data_case() != v1::Tensor::kRaw) {
        return Invalid(path, "a constant's data must be inline (raw)");
      }
      int64_t numel = 1;
      for (int64_t s : t.sizes()) numel *= s;
      int64_t es = ElementSize(type->dtype);
      if (static_cast<int64_t>(t.raw().size()) != numel * es) {
        return Invalid(path + ".raw",
                       absl::StrFormat("%d bytes, expected %d (%d elements of "
                                       "%d bytes)",
                                       t.raw().size(), numel * es, numel, es));
      }
      if (type->dtype == DType::kBool) {
        for (size_t b = 0; b < t.raw().size(); ++b) {
          if (static_cast<uint8_t>(t.raw()[b]) > 1) {
            return Invalid(
                path + ".raw",
                absl::StrFormat("bool element %d is %d, not 0 or 1", b,
                                static_cast<uint8_t>(t.raw()[b])));
          }
        }
      }
      Value* v = graph_->AddConstant(c.name(), *std::move(type),
                                     std::make_shared<std::string>(t.raw()));
      values_[c.name()] = {v};
    }
    return absl::OkStatus();
  }

  // A kiln::fused node from its kernel spec (the text format).
  absl::Status ConvertFusedNode(int index, const FusedKernelSpec& spec,
                                std::vector<Arg> args) {
    const v1::Node& n = proto_.nodes(index);
    std::string where =
        absl::StrFormat("graph.nodes[%d] (%s)", index, n.target());
    ConvertOptions body_options;
    body_options.max_expr_depth = options_.max_expr_depth;
    body_options.outer_symbols.assign(bound_.begin(), bound_.end());
    auto body = GraphFromProto(spec.body, body_options);
    if (!body.ok()) {
      return absl::Status(
          body.status().code(),
          absl::StrCat(where, ": body: ", body.status().message()));
    }
    if (static_cast<int>((*body)->outputs().size()) != n.outputs_size()) {
      return Invalid(
          where, absl::StrFormat("declares %d outputs, the body "
                                 "returns %d",
                                 n.outputs_size(), (*body)->outputs().size()));
    }
    for (int i = 0; i < n.outputs_size(); ++i) {
      const Arg& bo = (*body)->outputs()[i];
      std::string opath = absl::StrFormat("graph.nodes[%d].outputs[%d] (%s)",
                                          index, i, n.target());
      if (bo.kind != Arg::Kind::kValue || !bo.value->is_tensor()) {
        return Invalid(opath, "body output is not a tensor");
      }
      if (!n.outputs(i).has_tensor())
        return Invalid(opath, "expected a tensor");
      auto declared = TensorTypeFromProto(
          n.outputs(i).tensor(),
          absl::StrFormat("graph.nodes[%d].outputs[%d].tensor", index, i),
          options_.max_expr_depth);
      if (!declared.ok()) return declared.status();
      if (*declared != bo.value->type()) {
        return Invalid(opath, absl::StrFormat("declared %s, the body returns "
                                              "%s",
                                              declared->ToString(),
                                              bo.value->type().ToString()));
      }
    }
    if (args.size() != 1 || args[0].kind != Arg::Kind::kValueList) {
      return Invalid(where, "expected one list of inputs");
    }
    auto kernel = std::make_unique<FusedKernel>();
    kernel->kind = spec.kind;
    kernel->shape = spec.shape;
    kernel->reduce_dims = spec.reduce_dims;
    kernel->input_dims = spec.input_dims;
    kernel->body = *std::move(body);
    const ops::OpDef* op = ops::OpRegistry::Global().Find(n.target());
    Node* node =
        graph_->AddFusedNode(*op, args[0].values, std::move(kernel), n.name());
    std::vector<Value*> outs;
    for (int i = 0; i < node->num_outputs(); ++i) {
      outs.push_back(node->output(i));
    }
    values_[n.name()] = std::move(outs);
    return absl::OkStatus();
  }

  absl::Status CheckBound(const std::vector<std::string>& syms,
                          const std::string& path) {
    for (const std::string& s : syms) {
      if (!bound_.contains(s)) {
        return Invalid(path,
                       absl::StrFormat("symbol %s is not bound by any "
                                       "placeholder (a bare size or a SymInt "
                                       "input)",
                                       s));
      }
    }
    return absl::OkStatus();
  }

  // A cycle through `start` following references, or empty.
  std::vector<std::string> FindCycle(int start) {
    std::vector<std::string> path;
    absl::flat_hash_set<int> visited;
    std::function<bool(int)> dfs = [&](int n) -> bool {
      path.push_back(proto_.nodes(n).name());
      std::vector<std::string> refs;
      const v1::Node& node = proto_.nodes(n);
      std::function<void(const v1::Argument&)> collect =
          [&](const v1::Argument& a) {
            if (a.has_ref()) refs.push_back(a.ref().node());
            if (a.has_list()) {
              for (const auto& e : a.list().values()) collect(e);
            }
          };
      for (const auto& a : node.args()) collect(a);
      for (const auto& k : node.kwargs()) collect(k.value());
      for (const std::string& r : refs) {
        auto it = node_index_.find(r);
        if (it == node_index_.end()) continue;
        if (it->second == start) {
          path.push_back(r);
          return true;
        }
        if (visited.insert(it->second).second && dfs(it->second)) return true;
      }
      path.pop_back();
      return false;
    };
    visited.insert(start);
    if (dfs(start)) return path;
    return {};
  }

  absl::StatusOr<Value*> ResolveRef(const v1::ValueRef& ref,
                                    const std::string& path, int current) {
    auto it = values_.find(ref.node());
    if (it == values_.end()) {
      auto later = node_index_.find(ref.node());
      if (later == node_index_.end()) {
        return Invalid(path, absl::StrFormat("reference to unknown value '%s'",
                                             ref.node()));
      }
      if (later->second == current) {
        return Invalid(
            path, absl::StrFormat("cycle: node '%s' uses itself", ref.node()));
      }
      std::vector<std::string> cycle = FindCycle(later->second);
      if (!cycle.empty()) {
        return Invalid(
            path, absl::StrFormat("cycle: %s", absl::StrJoin(cycle, " -> ")));
      }
      return Invalid(
          path,
          absl::StrFormat("reference to '%s' (graph.nodes[%d]), which comes "
                          "later; nodes must be in topological order",
                          ref.node(), later->second));
    }
    const std::vector<Value*>& outs = it->second;
    if (ref.output_index() < 0 ||
        ref.output_index() >= static_cast<int>(outs.size())) {
      return Invalid(
          path, absl::StrFormat("'%s' has no output %d (it has %d)", ref.node(),
                                ref.output_index(), outs.size()));
    }
    Value* v = outs[ref.output_index()];
    if (v == nullptr) {
      return Invalid(path, absl::StrFormat("output %d of '%s' is None",
                                           ref.output_index(), ref.node()));
    }
    return v;
  }

  absl::StatusOr<ExprRef> IntFromProto(const v1::Argument& a,
                                       const std::string& path) {
    if (a.value_case() == v1::Argument::kIntValue) return Const(a.int_value());
    if (a.value_case() == v1::Argument::kSym) {
      auto e = sym::FromProto(a.sym(), absl::StrCat(path, ".sym"),
                              /*want_bool=*/false, options_.max_expr_depth);
      if (!e.ok()) return e.status();
      return *e;
    }
    return Invalid(path, absl::StrCat("expected int, got ", ProtoArgKind(a)));
  }

  // Normalizes one argument value against its schema type.
  absl::StatusOr<Arg> NormalizeArg(const v1::Argument& a, const ArgType& type,
                                   const std::string& path, int current) {
    auto expected = [&](const std::string& what) {
      return Invalid(
          path, absl::StrFormat("expected %s, got %s", what, ProtoArgKind(a)));
    };
    if (a.value_case() == v1::Argument::VALUE_NOT_SET) {
      return Invalid(path, "argument value is not set");
    }
    if (a.has_none()) {
      if (type.optional) return Arg::None();
      return expected(type.ToString());
    }
    if (type.is_list) return NormalizeList(a, type, path, current);
    switch (type.base) {
      case Base::kTensor: {
        // Pointwise ops take Python numbers where a Tensor is expected, as
        // ATen does (it wraps them into 0-d "wrapped number" tensors, which
        // promote like scalars): traced graphs contain
        // `aten.mul.Tensor(x, 2)`.
        if (wrapped_numbers_ && (a.has_int_value() || a.has_float_value() ||
                                 a.has_bool_value() || a.has_sym())) {
          ops::ArgType scalar = type;
          scalar.base = Base::kScalar;
          return NormalizeArg(a, scalar, path, current);
        }
        if (!a.has_ref()) return expected(type.ToString());
        auto v = ResolveRef(a.ref(), path + ".ref", current);
        if (!v.ok()) return v.status();
        if (wrapped_numbers_ && !(*v)->is_tensor()) {
          ops::ArgType scalar = type;
          scalar.base = Base::kScalar;
          return NormalizeArg(a, scalar, path, current);
        }
        if (!(*v)->is_tensor()) {
          return Invalid(path,
                         absl::StrFormat("expected Tensor, got %s '%s'",
                                         (*v)->kind() == Value::Kind::kSymInt
                                             ? "SymInt input"
                                             : "scalar input",
                                         (*v)->name()));
        }
        return Arg::OfValue(*v);
      }
      case Base::kScalar:
        switch (a.value_case()) {
          case v1::Argument::kIntValue:
            return Arg::Int(a.int_value());
          case v1::Argument::kFloatValue:
            return Arg::Float(a.float_value());
          case v1::Argument::kBoolValue:
            return Arg::Bool(a.bool_value());
          case v1::Argument::kSym: {
            auto e = IntFromProto(a, path);
            if (!e.ok()) return e.status();
            return Arg::Int(*e);
          }
          case v1::Argument::kRef: {
            auto v = ResolveRef(a.ref(), path + ".ref", current);
            if (!v.ok()) return v.status();
            if ((*v)->kind() == Value::Kind::kSymInt) {
              return Arg::Int((*v)->symint());
            }
            if ((*v)->kind() == Value::Kind::kScalar &&
                ((*v)->scalar_kind() == ScalarKind::kInt ||
                 (*v)->scalar_kind() == ScalarKind::kFloat ||
                 (*v)->scalar_kind() == ScalarKind::kBool)) {
              return Arg::OfValue(*v);
            }
            return Invalid(
                path, absl::StrFormat(
                          "expected Scalar, got '%s' (%s)", (*v)->name(),
                          (*v)->is_tensor() ? "a tensor" : "not a number"));
          }
          default:
            return expected("Scalar");
        }
      case Base::kInt:
      case Base::kSymInt: {
        if (a.has_ref()) {
          auto v = ResolveRef(a.ref(), path + ".ref", current);
          if (!v.ok()) return v.status();
          if ((*v)->kind() == Value::Kind::kSymInt) {
            return Arg::Int((*v)->symint());
          }
          if ((*v)->kind() == Value::Kind::kScalar &&
              (*v)->scalar_kind() == ScalarKind::kInt) {
            return Arg::OfValue(*v);
          }
          return expected(type.ToString());
        }
        if (a.value_case() != v1::Argument::kIntValue &&
            a.value_case() != v1::Argument::kSym) {
          return expected(type.ToString());
        }
        auto e = IntFromProto(a, path);
        if (!e.ok()) return e.status();
        return Arg::Int(*e);
      }
      case Base::kFloat:
        if (a.value_case() == v1::Argument::kFloatValue) {
          return Arg::Float(a.float_value());
        }
        if (a.value_case() == v1::Argument::kIntValue) {
          return Arg::Float(static_cast<double>(a.int_value()));
        }
        if (a.has_ref()) {
          auto v = ResolveRef(a.ref(), path + ".ref", current);
          if (!v.ok()) return v.status();
          if ((*v)->kind() == Value::Kind::kScalar &&
              (*v)->scalar_kind() == ScalarKind::kFloat) {
            return Arg::OfValue(*v);
          }
        }
        return expected("float");
      case Base::kBool:
        if (a.value_case() == v1::Argument::kBoolValue) {
          return Arg::Bool(a.bool_value());
        }
        if (a.has_ref()) {
          auto v = ResolveRef(a.ref(), path + ".ref", current);
          if (!v.ok()) return v.status();
          if ((*v)->kind() == Value::Kind::kScalar &&
              (*v)->scalar_kind() == ScalarKind::kBool) {
            return Arg::OfValue(*v);
          }
        }
        return expected("bool");
      case Base::kStr:
        if (a.value_case() == v1::Argument::kStringValue) {
          return Arg::String(a.string_value());
        }
        return expected("str");
      case Base::kScalarType: {
        if (a.value_case() != v1::Argument::kDtype) return expected("dtype");
        auto d = DTypeFromProto(a.dtype(), path + ".dtype");
        if (!d.ok()) return d.status();
        return Arg::OfDType(*d);
      }
      case Base::kDevice: {
        if (a.value_case() != v1::Argument::kDevice) return expected("device");
        auto d = DeviceFromProto(a.device(), path + ".device");
        if (!d.ok()) return d.status();
        return Arg::OfDevice(*d);
      }
      case Base::kLayout:
        if (a.value_case() != v1::Argument::kLayout) return expected("layout");
        if (a.layout() != v1::LAYOUT_STRIDED) {
          return Invalid(path + ".layout",
                         absl::StrFormat("unsupported layout %d", a.layout()));
        }
        return Arg::Layout();
      case Base::kMemoryFormat: {
        if (a.value_case() != v1::Argument::kMemoryFormat) {
          return expected("memory format");
        }
        switch (a.memory_format()) {
          case v1::MEMORY_FORMAT_CONTIGUOUS:
            return Arg::OfMemoryFormat(MemoryFormat::kContiguous);
          case v1::MEMORY_FORMAT_CHANNELS_LAST:
            return Arg::OfMemoryFormat(MemoryFormat::kChannelsLast);
          case v1::MEMORY_FORMAT_CHANNELS_LAST_3D:
            return Arg::OfMemoryFormat(MemoryFormat::kChannelsLast3d);
          case v1::MEMORY_FORMAT_PRESERVE:
            return Arg::OfMemoryFormat(MemoryFormat::kPreserve);
          default:
            return Invalid(
                path + ".memory_format",
                absl::StrFormat("unknown memory format %d", a.memory_format()));
        }
      }
      case Base::kGenerator:
        return expected("None (generators are not supported)");
    }
    return expected(type.ToString());
  }

  absl::StatusOr<Arg> NormalizeList(const v1::Argument& a, const ArgType& type,
                                    const std::string& path, int current) {
    auto expected = [&]() {
      return Invalid(path, absl::StrFormat("expected %s, got %s",
                                           type.ToString(), ProtoArgKind(a)));
    };
    // `int[N]` only means that a single int stands for N copies; like
    // PyTorch's schema matching, lists of any length are accepted (ops check
    // lengths themselves: sum's `int[1]? dim` takes any number of dims).
    auto check_size = [&](size_t) -> absl::Status { return absl::OkStatus(); };
    // An empty list may arrive as any list kind (canonical: empty ints).
    bool empty = (a.has_ints() && a.ints().values_size() == 0) ||
                 (a.has_list() && a.list().values_size() == 0) ||
                 (a.has_floats() && a.floats().values_size() == 0) ||
                 (a.has_bools() && a.bools().values_size() == 0);
    switch (type.base) {
      case Base::kTensor: {
        if (empty) return Arg::ValueList({});
        if (!a.has_list()) return expected();
        std::vector<Value*> values;
        for (int i = 0; i < a.list().values_size(); ++i) {
          const v1::Argument& e = a.list().values(i);
          std::string epath = absl::StrFormat("%s.list.values[%d]", path, i);
          if (e.has_none() && type.element_optional) {
            values.push_back(nullptr);
            continue;
          }
          if (!e.has_ref()) {
            return Invalid(
                epath, absl::StrCat("expected Tensor, got ", ProtoArgKind(e)));
          }
          auto v = ResolveRef(e.ref(), epath + ".ref", current);
          if (!v.ok()) return v.status();
          if (!(*v)->is_tensor()) {
            return Invalid(
                epath, absl::StrFormat("'%s' is not a tensor", (*v)->name()));
          }
          values.push_back(*v);
        }
        return Arg::ValueList(std::move(values));
      }
      case Base::kInt:
      case Base::kSymInt: {
        std::vector<ExprRef> ints;
        if (a.has_int_value() || a.has_sym()) {
          // `int[N] x=k` accepts a single int (repeated N times).
          auto e = IntFromProto(a, path);
          if (!e.ok()) return e.status();
          if (type.list_size <= 0) return expected();
          ints.assign(type.list_size, *e);
          return Arg::IntList(std::move(ints));
        }
        if (empty) {
          if (auto st = check_size(0); !st.ok()) return st;
          return Arg::IntList({});
        }
        if (a.has_ints()) {
          for (int64_t v : a.ints().values()) ints.push_back(Const(v));
        } else if (a.has_list()) {
          for (int i = 0; i < a.list().values_size(); ++i) {
            const v1::Argument& e = a.list().values(i);
            std::string epath = absl::StrFormat("%s.list.values[%d]", path, i);
            if (e.has_ref()) {
              auto v = ResolveRef(e.ref(), epath + ".ref", current);
              if (!v.ok()) return v.status();
              if ((*v)->kind() != Value::Kind::kSymInt) {
                return Invalid(epath, "expected int, got a non-SymInt value");
              }
              ints.push_back((*v)->symint());
              continue;
            }
            auto x = IntFromProto(e, epath);
            if (!x.ok()) return x.status();
            ints.push_back(*x);
          }
        } else {
          return expected();
        }
        if (auto st = check_size(ints.size()); !st.ok()) return st;
        return Arg::IntList(std::move(ints));
      }
      case Base::kFloat: {
        if (empty) return Arg::FloatList({});
        std::vector<double> f;
        if (a.has_floats()) {
          f.assign(a.floats().values().begin(), a.floats().values().end());
        } else if (a.has_ints()) {
          for (int64_t v : a.ints().values()) f.push_back(v);
        } else {
          return expected();
        }
        if (auto st = check_size(f.size()); !st.ok()) return st;
        return Arg::FloatList(std::move(f));
      }
      case Base::kBool: {
        if (empty) return Arg::BoolList({});
        if (!a.has_bools()) return expected();
        std::vector<bool> b(a.bools().values().begin(),
                            a.bools().values().end());
        if (auto st = check_size(b.size()); !st.ok()) return st;
        return Arg::BoolList(std::move(b));
      }
      default:
        return Invalid(path,
                       absl::StrCat("unsupported list type ", type.ToString()));
    }
  }

  absl::Status ConvertNode(int index) {
    const v1::Node& n = proto_.nodes(index);
    std::string path = absl::StrFormat("graph.nodes[%d]", index);
    const std::string& target = n.target();
    // `ns::name.overload`
    size_t colons = target.find("::");
    size_t dot = colons == std::string::npos ? std::string::npos
                                             : target.find('.', colons + 2);
    if (colons == std::string::npos || colons == 0 ||
        dot == std::string::npos || dot == colons + 2 ||
        dot + 1 == target.size()) {
      return Invalid(path + ".target",
                     absl::StrFormat("malformed op name '%s' (expected "
                                     "namespace::name.overload, e.g. "
                                     "aten::add.Tensor)",
                                     target));
    }
    const ops::OpDef* op = ops::OpRegistry::Global().Find(target);
    if (op == nullptr) {
      return Invalid(absl::StrFormat("%s (%s)", path, target),
                     absl::StrCat("unknown op ", target));
    }
    const ops::Schema& schema = op->schema();
    std::string where = absl::StrFormat("%s (%s)", path, target);
    wrapped_numbers_ = op->pointwise() != nullptr;

    // Arguments: positional, then keyword, then defaults.
    std::vector<std::optional<Arg>> slots(schema.arguments.size());
    int positional = 0;
    for (const auto& a : schema.arguments) {
      if (!a.kwarg_only) ++positional;
    }
    if (n.args_size() > positional) {
      return Invalid(where, absl::StrFormat("takes at most %d positional "
                                            "arguments but %d were given",
                                            positional, n.args_size()));
    }
    for (int i = 0; i < n.args_size(); ++i) {
      const ops::SchemaArgument& sa = schema.arguments[i];
      std::string apath =
          absl::StrFormat("%s.args[%d] (%s, %s)", path, i, target, sa.name);
      auto arg = NormalizeArg(n.args(i), sa.type, apath, index);
      if (!arg.ok()) return arg.status();
      slots[i] = *std::move(arg);
    }
    for (int k = 0; k < n.kwargs_size(); ++k) {
      const v1::NamedArgument& kw = n.kwargs(k);
      std::string kpath =
          absl::StrFormat("%s.kwargs[%d] (%s, %s)", path, k, target, kw.name());
      int i = schema.ArgumentIndex(kw.name());
      if (i < 0) {
        return Invalid(kpath, absl::StrFormat("unexpected keyword argument "
                                              "'%s'",
                                              kw.name()));
      }
      if (slots[i]) {
        return Invalid(kpath,
                       absl::StrFormat("argument '%s' given twice", kw.name()));
      }
      auto arg = NormalizeArg(kw.value(), schema.arguments[i].type,
                              kpath + ".value", index);
      if (!arg.ok()) return arg.status();
      slots[i] = *std::move(arg);
    }
    std::vector<Arg> args;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i]) {
        args.push_back(*std::move(slots[i]));
      } else if (schema.arguments[i].default_value) {
        args.push_back(*schema.arguments[i].default_value);
      } else if (schema.arguments[i].type.optional &&
                 schema.arguments[i].kwarg_only) {
        // `*, str? rounding_mode` without a default is still optional.
        args.push_back(Arg::None());
      } else {
        return Invalid(where, absl::StrFormat("missing argument '%s'",
                                              schema.arguments[i].name));
      }
    }
    std::vector<std::string> syms;
    for (const Arg& a : args) CollectArgSymbols(a, &syms);
    if (auto st = CheckBound(syms, path); !st.ok()) return st;

    if (options_.fused_kernels != nullptr && target == "kiln::fused.default") {
      auto it = options_.fused_kernels->find(n.name());
      if (it != options_.fused_kernels->end()) {
        return ConvertFusedNode(index, it->second, std::move(args));
      }
    }

    // Inference.
    ops::InferContext ctx(schema, args);
    auto inferred = op->Infer(ctx);
    if (!inferred.ok()) return Prefix(inferred.status(), where);

    // Declared outputs against inference.
    if (n.outputs_size() != static_cast<int>(inferred->size())) {
      return Invalid(where,
                     absl::StrFormat("declares %d outputs but the op returns "
                                     "%d",
                                     n.outputs_size(), inferred->size()));
    }
    std::vector<std::optional<TensorType>> outputs;
    for (int i = 0; i < n.outputs_size(); ++i) {
      const v1::NodeOutput& o = n.outputs(i);
      std::string opath =
          absl::StrFormat("%s.outputs[%d] (%s)", path, i, target);
      const ops::InferredOutput& inf = (*inferred)[i];
      if (o.kind_case() == v1::NodeOutput::KIND_NOT_SET) {
        return Invalid(opath, "output kind is not set");
      }
      if (o.has_none()) {
        if (inf.type) {
          return Invalid(opath,
                         absl::StrFormat("declared None but inference gives %s",
                                         inf.type->ToString()));
        }
        outputs.push_back(std::nullopt);
        continue;
      }
      auto declared = TensorTypeFromProto(
          o.tensor(), absl::StrFormat("%s.outputs[%d].tensor", path, i),
          options_.max_expr_depth);
      if (!declared.ok()) return declared.status();
      std::vector<std::string> osyms;
      CollectTypeSymbols(*declared, &osyms);
      if (auto st = CheckBound(osyms, opath); !st.ok()) return st;
      if (!inf.type) {
        return Invalid(
            opath, absl::StrFormat("declared %s but the op returns None here",
                                   declared->ToString()));
      }
      if (auto st = ops::CheckDeclaredType(*declared, inf); !st.ok()) {
        return Prefix(st, opath);
      }
      outputs.push_back(*std::move(declared));
    }
    Node* node =
        graph_->AddNode(*op, std::move(args), std::move(outputs), n.name());
    node->set_stack_trace(n.stack_trace());
    std::vector<Value*> outs;
    for (int i = 0; i < node->num_outputs(); ++i)
      outs.push_back(node->output(i));
    values_[n.name()] = std::move(outs);
    return absl::OkStatus();
  }

  absl::Status ConvertOutputs() {
    std::vector<Arg> outputs;
    int last = proto_.nodes_size();
    for (int i = 0; i < proto_.outputs_size(); ++i) {
      const v1::Argument& a = proto_.outputs(i);
      std::string path = absl::StrFormat("graph.outputs[%d]", i);
      switch (a.value_case()) {
        case v1::Argument::kRef: {
          auto v = ResolveRef(a.ref(), path + ".ref", last);
          if (!v.ok()) return v.status();
          outputs.push_back(Arg::OfValue(*v));
          break;
        }
        case v1::Argument::kNone:
          outputs.push_back(Arg::None());
          break;
        case v1::Argument::kIntValue:
        case v1::Argument::kSym: {
          auto e = IntFromProto(a, path);
          if (!e.ok()) return e.status();
          std::vector<std::string> syms;
          CollectSymbols(*e, &syms);
          if (auto st = CheckBound(syms, path); !st.ok()) return st;
          outputs.push_back(Arg::Int(*e));
          break;
        }
        case v1::Argument::kFloatValue:
          outputs.push_back(Arg::Float(a.float_value()));
          break;
        case v1::Argument::kBoolValue:
          outputs.push_back(Arg::Bool(a.bool_value()));
          break;
        default:
          return Invalid(path, absl::StrCat("unsupported graph output kind ",
                                            ProtoArgKind(a)));
      }
    }
    graph_->SetOutputs(std::move(outputs));
    return absl::OkStatus();
  }

  const v1::Graph& proto_;
  const ConvertOptions& options_;
  std::unique_ptr<Graph> graph_;
  absl::flat_hash_map<std::string, int> node_index_;
  absl::flat_hash_map<std::string, std::vector<Value*>> values_;
  absl::flat_hash_set<std::string> bound_;
  // Whether the current node's op accepts numbers for Tensor arguments.
  bool wrapped_numbers_ = false;
};

// --- IR -> proto ---------------------------------------------------------

void RefToProto(const Value* v, v1::ValueRef* ref) {
  if (v->producer() == nullptr) {
    ref->set_node(v->name());
    ref->set_output_index(0);
  } else {
    ref->set_node(v->producer()->name());
    ref->set_output_index(v->index());
  }
}

void IntToProto(const ExprRef& e, v1::Argument* a) {
  if (auto c = e->AsConst()) {
    a->set_int_value(*c);
  } else {
    sym::ToProto(*e, a->mutable_sym());
  }
}

void ArgToProto(const Arg& arg, v1::Argument* a) {
  switch (arg.kind) {
    case Arg::Kind::kNone:
      a->mutable_none();
      break;
    case Arg::Kind::kInt:
      IntToProto(arg.i, a);
      break;
    case Arg::Kind::kFloat:
      a->set_float_value(arg.f);
      break;
    case Arg::Kind::kBool:
      a->set_bool_value(arg.b);
      break;
    case Arg::Kind::kString:
      a->set_string_value(arg.s);
      break;
    case Arg::Kind::kIntList: {
      bool all_static = true;
      for (const ExprRef& e : arg.ints) all_static = all_static && e->AsConst();
      if (all_static) {
        auto* ints = a->mutable_ints();
        for (const ExprRef& e : arg.ints) ints->add_values(*e->AsConst());
      } else {
        auto* list = a->mutable_list();
        for (const ExprRef& e : arg.ints) IntToProto(e, list->add_values());
      }
      break;
    }
    case Arg::Kind::kFloatList: {
      auto* f = a->mutable_floats();
      for (double d : arg.floats) f->add_values(d);
      break;
    }
    case Arg::Kind::kBoolList: {
      auto* b = a->mutable_bools();
      for (bool x : arg.bools) b->add_values(x);
      break;
    }
    case Arg::Kind::kDType:
      a->set_dtype(static_cast<v1::DType>(DTypeToProto(arg.dtype)));
      break;
    case Arg::Kind::kDevice:
      DeviceToProto(arg.device, a->mutable_device());
      break;
    case Arg::Kind::kLayout:
      a->set_layout(v1::LAYOUT_STRIDED);
      break;
    case Arg::Kind::kMemoryFormat: {
      v1::MemoryFormat f = v1::MEMORY_FORMAT_CONTIGUOUS;
      switch (arg.memory_format) {
        case MemoryFormat::kContiguous:
          f = v1::MEMORY_FORMAT_CONTIGUOUS;
          break;
        case MemoryFormat::kChannelsLast:
          f = v1::MEMORY_FORMAT_CHANNELS_LAST;
          break;
        case MemoryFormat::kChannelsLast3d:
          f = v1::MEMORY_FORMAT_CHANNELS_LAST_3D;
          break;
        case MemoryFormat::kPreserve:
          f = v1::MEMORY_FORMAT_PRESERVE;
          break;
      }
      a->set_memory_format(f);
      break;
    }
    case Arg::Kind::kValue:
      RefToProto(arg.value, a->mutable_ref());
      break;
    case Arg::Kind::kValueList: {
      auto* list = a->mutable_list();
      if (arg.values.empty()) {
        a->mutable_ints();
        break;
      }
      for (const Value* v : arg.values) {
        v1::Argument* e = list->add_values();
        if (v) {
          RefToProto(v, e->mutable_ref());
        } else {
          e->mutable_none();
        }
      }
      break;
    }
  }
}

}  // namespace

absl::StatusOr<TensorType> TensorTypeFromProto(const v1::TensorMeta& meta,
                                               std::string_view path_view,
                                               int max_expr_depth) {
  const std::string path(path_view);
  TensorType t;
  auto dtype = DTypeFromProto(meta.dtype(), absl::StrCat(path, ".dtype"));
  if (!dtype.ok()) return dtype.status();
  t.dtype = *dtype;
  if (!meta.has_device()) return Invalid(path, "device is not set");
  auto device = DeviceFromProto(meta.device(), absl::StrCat(path, ".device"));
  if (!device.ok()) return device.status();
  t.device = *device;
  if (meta.strides_size() != meta.sizes_size()) {
    return Invalid(path,
                   absl::StrFormat("%d sizes but %d strides", meta.sizes_size(),
                                   meta.strides_size()));
  }
  for (int i = 0; i < meta.sizes_size(); ++i) {
    auto e =
        DimFromProto(meta.sizes(i), absl::StrFormat("%s.sizes[%d]", path, i),
                     "size", max_expr_depth);
    if (!e.ok()) return e.status();
    t.sizes.push_back(*e);
  }
  for (int i = 0; i < meta.strides_size(); ++i) {
    auto e = DimFromProto(meta.strides(i),
                          absl::StrFormat("%s.strides[%d]", path, i), "stride",
                          max_expr_depth);
    if (!e.ok()) return e.status();
    t.strides.push_back(*e);
  }
  if (meta.has_storage_offset()) {
    auto e = DimFromProto(meta.storage_offset(),
                          absl::StrCat(path, ".storage_offset"),
                          "storage offset", max_expr_depth);
    if (!e.ok()) return e.status();
    t.storage_offset = *e;
  } else {
    t.storage_offset = Const(0);
  }
  t.requires_grad = meta.requires_grad();
  // Static sizes: the element count and the reach of the strides must fit
  // in int64 (and in bytes).
  int64_t numel = 1, reach = 0;
  bool overflow = false;
  for (int i = 0; i < t.rank(); ++i) {
    auto s = t.sizes[i]->AsConst();
    if (!s) continue;
    overflow = overflow || __builtin_mul_overflow(numel, *s, &numel);
    auto st = t.strides[i]->AsConst();
    int64_t r = 0;
    if (st && *s > 0) {
      overflow = overflow || __builtin_mul_overflow(*s - 1, *st, &r) ||
                 __builtin_add_overflow(reach, r, &reach);
    }
  }
  int64_t bytes = 0;
  overflow = overflow ||
             __builtin_mul_overflow(numel, ElementSize(t.dtype), &bytes) ||
             __builtin_mul_overflow(reach, ElementSize(t.dtype), &bytes);
  if (overflow) {
    return Invalid(path, absl::StrFormat("tensor of sizes %s overflows int64",
                                         ExprListToString(t.sizes)));
  }
  return t;
}

void TensorTypeToProto(const TensorType& type, v1::TensorMeta* meta) {
  meta->set_dtype(static_cast<v1::DType>(DTypeToProto(type.dtype)));
  DeviceToProto(type.device, meta->mutable_device());
  for (const ExprRef& e : type.sizes) DimToProto(e, meta->add_sizes());
  for (const ExprRef& e : type.strides) DimToProto(e, meta->add_strides());
  if (type.storage_offset && type.storage_offset->AsConst() != 0) {
    DimToProto(type.storage_offset, meta->mutable_storage_offset());
  }
  meta->set_requires_grad(type.requires_grad);
}

absl::StatusOr<std::unique_ptr<Graph>> GraphFromProto(
    const v1::Graph& proto, const ConvertOptions& options) {
  return Converter(proto, options).Run();
}

v1::Graph GraphToProto(const Graph& graph) {
  v1::Graph proto;
  for (const auto& p : graph.placeholders()) {
    v1::Placeholder* out = proto.add_placeholders();
    out->set_name(p->name());
    switch (p->kind()) {
      case Value::Kind::kTensor:
        TensorTypeToProto(p->type(), out->mutable_tensor());
        break;
      case Value::Kind::kSymInt:
        sym::ToProto(*p->symint(), out->mutable_symint()->mutable_expr());
        break;
      case Value::Kind::kScalar: {
        v1::ScalarKind k = v1::SCALAR_KIND_INT;
        switch (p->scalar_kind()) {
          case ScalarKind::kInt:
            k = v1::SCALAR_KIND_INT;
            break;
          case ScalarKind::kFloat:
            k = v1::SCALAR_KIND_FLOAT;
            break;
          case ScalarKind::kBool:
            k = v1::SCALAR_KIND_BOOL;
            break;
          case ScalarKind::kString:
            k = v1::SCALAR_KIND_STRING;
            break;
          case ScalarKind::kNone:
            k = v1::SCALAR_KIND_NONE;
            break;
        }
        out->mutable_scalar()->set_kind(k);
        break;
      }
    }
  }
  for (const auto& c : graph.constants()) {
    v1::GraphConstant* out = proto.add_constants();
    out->set_name(c->name());
    v1::Tensor* t = out->mutable_value();
    const TensorType& type = c->type();
    t->set_dtype(static_cast<v1::DType>(DTypeToProto(type.dtype)));
    DeviceToProto(type.device, t->mutable_device());
    for (const ExprRef& e : type.sizes) t->add_sizes(e->AsConst().value_or(0));
    for (const ExprRef& e : type.strides) {
      t->add_strides(e->AsConst().value_or(0));
    }
    t->set_storage_offset(type.storage_offset->AsConst().value_or(0));
    t->set_requires_grad(type.requires_grad);
    t->set_raw(c->constant_data());
  }
  for (const auto& n : graph.nodes()) {
    v1::Node* out = proto.add_nodes();
    out->set_name(n->name());
    out->set_target(n->op().name());
    const ops::Schema& schema = n->op().schema();
    int last_positional = -1;
    for (size_t i = 0; i < schema.arguments.size(); ++i) {
      const auto& sa = schema.arguments[i];
      if (sa.kwarg_only) continue;
      if (!sa.default_value || *sa.default_value != n->arg(i)) {
        last_positional = static_cast<int>(i);
      }
    }
    std::vector<std::pair<std::string, const Arg*>> kwargs;
    for (size_t i = 0; i < schema.arguments.size(); ++i) {
      const auto& sa = schema.arguments[i];
      if (!sa.kwarg_only) {
        if (static_cast<int>(i) <= last_positional) {
          ArgToProto(n->arg(i), out->add_args());
        }
        continue;
      }
      bool is_default = sa.default_value ? *sa.default_value == n->arg(i)
                                         : n->arg(i).is_none();
      if (!is_default) kwargs.push_back({sa.name, &n->arg(i)});
    }
    std::sort(kwargs.begin(), kwargs.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [name, arg] : kwargs) {
      v1::NamedArgument* kw = out->add_kwargs();
      kw->set_name(name);
      ArgToProto(*arg, kw->mutable_value());
    }
    for (int i = 0; i < n->num_outputs(); ++i) {
      v1::NodeOutput* o = out->add_outputs();
      if (n->output(i)) {
        TensorTypeToProto(n->output(i)->type(), o->mutable_tensor());
      } else {
        o->mutable_none();
      }
    }
    if (!n->stack_trace().empty()) out->set_stack_trace(n->stack_trace());
  }
  for (const Arg& a : graph.outputs()) ArgToProto(a, proto.add_outputs());
  return proto;
}

}  // namespace kiln::ir
