#include "cache/graph_digest.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "cache/keys.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"

namespace kiln::cache {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// Clears every field numbered 100 and above (debug-only by the v1
// convention), in `message` and every message inside it, and drops unknown
// fields (sent by a newer client; they cannot change what we compile).
void ClearDebugFields(Message& message) {
  const Reflection* reflection = message.GetReflection();
  reflection->MutableUnknownFields(&message)->Clear();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->number() >= 100) {
      reflection->ClearField(&message, field);
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        ClearDebugFields(
            *reflection->MutableRepeatedMessage(&message, field, i));
      }
    } else {
      ClearDebugFields(*reflection->MutableMessage(&message, field));
    }
  }
}

// Step 4 for one Dim: a bare CONSTANT expression is the static value.
void NormalizeDim(v1::Dim& dim) {
  if (dim.has_expr() && dim.expr().op() == v1::SymExpr::CONSTANT &&
      dim.expr().operands_size() == 0) {
    int64_t value = dim.expr().constant();
    dim.set_static_size(value);
  }
}

void NormalizeMeta(v1::TensorMeta& meta) {
  for (v1::Dim& d : *meta.mutable_sizes()) NormalizeDim(d);
  for (v1::Dim& d : *meta.mutable_strides()) NormalizeDim(d);
  if (meta.has_storage_offset()) {
    NormalizeDim(*meta.mutable_storage_offset());
    if (meta.storage_offset().has_static_size() &&
        meta.storage_offset().static_size() == 0) {
      meta.clear_storage_offset();
    }
  }
}

// Step 4 for one Argument, elements of lists first.
void NormalizeArgument(v1::Argument& arg) {
  if (arg.has_sym() && arg.sym().op() == v1::SymExpr::CONSTANT &&
      arg.sym().operands_size() == 0) {
    int64_t value = arg.sym().constant();
    arg.set_int_value(value);
    return;
  }
  if (!arg.has_list()) return;
  v1::ArgumentList* list = arg.mutable_list();
  for (v1::Argument& element : *list->mutable_values()) {
    NormalizeArgument(element);
  }
  auto all = [list](v1::Argument::ValueCase c) {
    return std::all_of(
        list->values().begin(), list->values().end(),
        [c](const v1::Argument& a) { return a.value_case() == c; });
  };
  if (list->values_size() == 0 || all(v1::Argument::kIntValue)) {
    v1::IntList ints;
    for (const v1::Argument& a : list->values()) ints.add_values(a.int_value());
    *arg.mutable_ints() = std::move(ints);
  } else if (all(v1::Argument::kFloatValue)) {
    v1::FloatList floats;
    for (const v1::Argument& a : list->values()) {
      floats.add_values(a.float_value());
    }
    *arg.mutable_floats() = std::move(floats);
  } else if (all(v1::Argument::kBoolValue)) {
    v1::BoolList bools;
    for (const v1::Argument& a : list->values()) {
      bools.add_values(a.bool_value());
    }
    *arg.mutable_bools() = std::move(bools);
  }
}

// Step 1: maps original value names to positional ones.
class Renamer {
 public:
  absl::Status Define(const std::string& name, std::string renamed,
                      const std::string& path) {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": name must not be empty"));
    }
    if (!names_.emplace(name, std::move(renamed)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": duplicate name '", name, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status RewriteArgument(v1::Argument& arg, const std::string& path) {
    if (arg.has_ref()) {
      auto it = names_.find(arg.ref().node());
      if (it == names_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ".ref.node: '", arg.ref().node(),
                         "' names no placeholder, constant or earlier node"));
      }
      arg.mutable_ref()->set_node(it->second);
    } else if (arg.has_list()) {
      for (int i = 0; i < arg.list().values_size(); ++i) {
        absl::Status s = RewriteArgument(*arg.mutable_list()->mutable_values(i),
                                         absl::StrCat(path, ".list[", i, "]"));
        if (!s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::flat_hash_map<std::string, std::string> names_;
};

// Step 2: renames symbols s0, s1, ... by first appearance, in the order the
// expressions are visited.
class SymbolRenamer {
 public:
  void Visit(v1::SymExpr& expr) {
    if (expr.op() == v1::SymExpr::SYMBOL) {
      auto [it, inserted] =
          names_.emplace(expr.symbol(), absl::StrCat("s", names_.size()));
      expr.set_symbol(it->second);
    }
    for (v1::SymExpr& operand : *expr.mutable_operands()) Visit(operand);
  }
  void Visit(v1::Dim& dim) {
    if (dim.has_expr()) Visit(*dim.mutable_expr());
  }
  void Visit(v1::TensorMeta& meta) {
    for (v1::Dim& d : *meta.mutable_sizes()) Visit(d);
    for (v1::Dim& d : *meta.mutable_strides()) Visit(d);
    if (meta.has_storage_offset()) Visit(*meta.mutable_storage_offset());
  }
  void Visit(v1::Argument& arg) {
    if (arg.has_sym()) Visit(*arg.mutable_sym());
    if (arg.has_list()) {
      for (v1::Argument& a : *arg.mutable_list()->mutable_values()) Visit(a);
    }
  }

 private:
  absl::flat_hash_map<std::string, std::string> names_;
};

}  // namespace

absl::StatusOr<v1::Graph> CanonicalizeGraph(const v1::Graph& input) {
  v1::Graph graph = input;
  ClearDebugFields(graph);

  // 1. Positional names.
  Renamer renamer;
  for (int i = 0; i < graph.placeholders_size(); ++i) {
    v1::Placeholder* p = graph.mutable_placeholders(i);
    absl::Status s =
        renamer.Define(p->name(), absl::StrCat("p", i),
                       absl::StrCat("graph.placeholders[", i, "].name"));
    if (!s.ok()) return s;
    p->set_name(absl::StrCat("p", i));
  }
  for (int i = 0; i < graph.constants_size(); ++i) {
    v1::GraphConstant* c = graph.mutable_constants(i);
    absl::Status s =
        renamer.Define(c->name(), absl::StrCat("c", i),
                       absl::StrCat("graph.constants[", i, "].name"));
    if (!s.ok()) return s;
    c->set_name(absl::StrCat("c", i));
  }
  for (int i = 0; i < graph.nodes_size(); ++i) {
    v1::Node* node = graph.mutable_nodes(i);
    std::string path = absl::StrCat("graph.nodes[", i, "]");
    for (int a = 0; a < node->args_size(); ++a) {
      absl::Status s = renamer.RewriteArgument(
          *node->mutable_args(a), absl::StrCat(path, ".args[", a, "]"));
      if (!s.ok()) return s;
    }
    for (int k = 0; k < node->kwargs_size(); ++k) {
      absl::Status s =
          renamer.RewriteArgument(*node->mutable_kwargs(k)->mutable_value(),
                                  absl::StrCat(path, ".kwargs[", k, "].value"));
      if (!s.ok()) return s;
    }
    // Defined after its arguments: a node cannot consume itself.
    absl::Status s = renamer.Define(node->name(), absl::StrCat("n", i),
                                    absl::StrCat(path, ".name"));
    if (!s.ok()) return s;
    node->set_name(absl::StrCat("n", i));
  }
  for (int i = 0; i < graph.outputs_size(); ++i) {
    absl::Status s = renamer.RewriteArgument(
        *graph.mutable_outputs(i), absl::StrCat("graph.outputs[", i, "]"));
    if (!s.ok()) return s;
  }

  // 4. Constants, and 5. kwargs by name.
  for (v1::Placeholder& p : *graph.mutable_placeholders()) {
    if (p.has_tensor()) NormalizeMeta(*p.mutable_tensor());
  }
  for (int i = 0; i < graph.nodes_size(); ++i) {
    v1::Node& node = *graph.mutable_nodes(i);
    for (v1::Argument& a : *node.mutable_args()) NormalizeArgument(a);
    for (v1::NamedArgument& k : *node.mutable_kwargs()) {
      NormalizeArgument(*k.mutable_value());
    }
    for (v1::NodeOutput& o : *node.mutable_outputs()) {
      if (o.has_tensor()) NormalizeMeta(*o.mutable_tensor());
    }
    std::stable_sort(
        node.mutable_kwargs()->begin(), node.mutable_kwargs()->end(),
        [](const v1::NamedArgument& a, const v1::NamedArgument& b) {
          return a.name() < b.name();
        });
    for (int k = 1; k < node.kwargs_size(); ++k) {
      if (node.kwargs(k).name() == node.kwargs(k - 1).name()) {
        return absl::InvalidArgumentError(
            absl::StrCat("graph.nodes[", i, "].kwargs: duplicate name '",
                         node.kwargs(k).name(), "'"));
      }
    }
  }
  for (v1::Argument& a : *graph.mutable_outputs()) NormalizeArgument(a);

  // 2. Symbols by first appearance: placeholders first (the walk that
  // GuardContext shares), then whatever else mentions a symbol.
  SymbolRenamer symbols;
  for (v1::Placeholder& p : *graph.mutable_placeholders()) {
    if (p.has_tensor()) symbols.Visit(*p.mutable_tensor());
    if (p.has_symint() && p.symint().has_expr()) {
      symbols.Visit(*p.mutable_symint()->mutable_expr());
    }
  }
  for (v1::Node& node : *graph.mutable_nodes()) {
    for (v1::Argument& a : *node.mutable_args()) symbols.Visit(a);
    for (v1::NamedArgument& k : *node.mutable_kwargs()) {
      symbols.Visit(*k.mutable_value());
    }
    for (v1::NodeOutput& o : *node.mutable_outputs()) {
      if (o.has_tensor()) symbols.Visit(*o.mutable_tensor());
    }
  }
  for (v1::Argument& a : *graph.mutable_outputs()) symbols.Visit(a);
  return graph;
}

absl::StatusOr<std::string> GraphDigest(const v1::Graph& graph) {
  absl::StatusOr<v1::Graph> canonical = CanonicalizeGraph(graph);
  if (!canonical.ok()) return canonical.status();
  return Sha256Hex(SerializeDeterministic(*canonical));
}

}  // namespace kiln::cache
