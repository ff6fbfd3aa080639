#include "server/request_validation.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cache/keys.h"
#include "compiler/symbolic/expr.h"

namespace kiln::server {
namespace {

void AddLeaves(const v1::TensorGuard& guard, const std::string& path,
               std::vector<GuardLeaf>* out) {
  if (!guard.has_subclass()) {
    GuardLeaf leaf;
    leaf.tensor = &guard;
    leaf.path = path;
    out->push_back(std::move(leaf));
    return;
  }
  for (int j = 0; j < guard.subclass().inner_size(); ++j) {
    AddLeaves(guard.subclass().inner(j).guard(),
              absl::StrCat(path, ".subclass.inner[", j, "].guard"), out);
  }
}

std::string ExprText(const v1::SymExpr& expr) {
  absl::StatusOr<sym::ExprRef> e =
      sym::FromProto(expr, "", /*want_bool=*/false);
  if (!e.ok()) return "<invalid expression>";
  return (*e)->ToString();
}

std::string DimText(const v1::Dim& dim) {
  if (dim.has_expr()) return ExprText(dim.expr());
  return absl::StrCat(dim.static_size());
}

std::string DeviceText(const v1::Device& device) {
  if (device.type() == v1::CUDA) return absl::StrCat("cuda:", device.index());
  if (device.type() == v1::CPU) return "cpu";
  return "unset";
}

bool SameDim(const v1::Dim& a, const v1::Dim& b) {
  return cache::SerializeDeterministic(a) == cache::SerializeDeterministic(b);
}

absl::Status Mismatch(const std::string& guard_path, const std::string& guard,
                      const std::string& graph_path, const std::string& graph) {
  return absl::InvalidArgumentError(
      absl::StrCat(guard_path, ": ", guard, ", but ", graph_path, " is ", graph,
                   " (each guard leaf must describe its graph placeholder)"));
}

absl::Status CompareMeta(const v1::TensorMeta& guard, const std::string& gpath,
                         const v1::TensorMeta& graph,
                         const std::string& ppath) {
  if (guard.dtype() != graph.dtype()) {
    return Mismatch(gpath + ".dtype", v1::DType_Name(guard.dtype()),
                    ppath + ".dtype", v1::DType_Name(graph.dtype()));
  }
  if (guard.device().type() != graph.device().type() ||
      guard.device().index() != graph.device().index()) {
    return Mismatch(gpath + ".device", DeviceText(guard.device()),
                    ppath + ".device", DeviceText(graph.device()));
  }
  if (guard.requires_grad() != graph.requires_grad()) {
    return Mismatch(
        gpath + ".requires_grad", guard.requires_grad() ? "true" : "false",
        ppath + ".requires_grad", graph.requires_grad() ? "true" : "false");
  }
  if (guard.sizes_size() != graph.sizes_size()) {
    return Mismatch(gpath + ".sizes", absl::StrCat(guard.sizes_size(), " dims"),
                    ppath + ".sizes",
                    absl::StrCat(graph.sizes_size(), " dims"));
  }
  for (int d = 0; d < guard.sizes_size(); ++d) {
    if (!SameDim(guard.sizes(d), graph.sizes(d))) {
      return Mismatch(
          absl::StrCat(gpath, ".sizes[", d, "]"), DimText(guard.sizes(d)),
          absl::StrCat(ppath, ".sizes[", d, "]"), DimText(graph.sizes(d)));
    }
  }
  if (guard.strides_size() != graph.strides_size()) {
    return Mismatch(
        gpath + ".strides", absl::StrCat(guard.strides_size(), " dims"),
        ppath + ".strides", absl::StrCat(graph.strides_size(), " dims"));
  }
  for (int d = 0; d < guard.strides_size(); ++d) {
    if (!SameDim(guard.strides(d), graph.strides(d))) {
      return Mismatch(
          absl::StrCat(gpath, ".strides[", d, "]"), DimText(guard.strides(d)),
          absl::StrCat(ppath, ".strides[", d, "]"), DimText(graph.strides(d)));
    }
  }
  if (!SameDim(guard.storage_offset(), graph.storage_offset())) {
    return Mismatch(gpath + ".storage_offset", DimText(guard.storage_offset()),
                    ppath + ".storage_offset", DimText(graph.storage_offset()));
  }
  return absl::OkStatus();
}

const char* PlaceholderKind(const v1::Placeholder& p) {
  switch (p.kind_case()) {
    case v1::Placeholder::kTensor:
      return "a tensor";
    case v1::Placeholder::kSymint:
      return "a SymInt";
    case v1::Placeholder::kScalar:
      return "a scalar";
    case v1::Placeholder::KIND_NOT_SET:
      break;
  }
  return "unset";
}

v1::ScalarKind ConstantKind(const v1::ConstantGuard& c) {
  switch (c.value_case()) {
    case v1::ConstantGuard::kIntValue:
      return v1::SCALAR_KIND_INT;
    case v1::ConstantGuard::kFloatValue:
      return v1::SCALAR_KIND_FLOAT;
    case v1::ConstantGuard::kBoolValue:
      return v1::SCALAR_KIND_BOOL;
    case v1::ConstantGuard::kStringValue:
      return v1::SCALAR_KIND_STRING;
    case v1::ConstantGuard::kNone:
      return v1::SCALAR_KIND_NONE;
    case v1::ConstantGuard::VALUE_NOT_SET:
      break;
  }
  return v1::SCALAR_KIND_UNSPECIFIED;
}

const char* InputKind(const v1::InputValue& in) {
  switch (in.value_case()) {
    case v1::InputValue::kTensor:
      return "a tensor";
    case v1::InputValue::kIntValue:
      return "int_value";
    case v1::InputValue::kFloatValue:
      return "float_value";
    case v1::InputValue::kBoolValue:
      return "bool_value";
    case v1::InputValue::kStringValue:
      return "string_value";
    case v1::InputValue::kNone:
      return "none";
    case v1::InputValue::VALUE_NOT_SET:
      break;
  }
  return "nothing";
}

std::string ListText(const google::protobuf::RepeatedField<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

std::string DimsText(const google::protobuf::RepeatedPtrField<v1::Dim>& dims) {
  std::vector<std::string> parts;
  for (const v1::Dim& d : dims) parts.push_back(DimText(d));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

bool SameStatic(const google::protobuf::RepeatedField<int64_t>& values,
                const google::protobuf::RepeatedPtrField<v1::Dim>& dims) {
  if (values.size() != dims.size()) return false;
  for (int i = 0; i < values.size(); ++i) {
    if (dims[i].has_expr() || dims[i].static_size() != values[i]) return false;
  }
  return true;
}

absl::Status Disagree(const std::string& input_path, const std::string& actual,
                      const std::string& leaf_path, const std::string& leaf) {
  return absl::InvalidArgumentError(absl::StrCat(
      input_path, ": ", actual, ", but ", leaf_path, " says ", leaf,
      " (inputs must be the values the signature describes)"));
}

absl::Status CheckTensorInput(const v1::Tensor& t, const std::string& path,
                              const v1::TensorMeta& meta,
                              const std::string& leaf_path) {
  if (t.dtype() != meta.dtype()) {
    return Disagree(path + ".dtype", v1::DType_Name(t.dtype()),
                    leaf_path + ".meta.dtype", v1::DType_Name(meta.dtype()));
  }
  if (t.device().type() != meta.device().type() ||
      t.device().index() != meta.device().index()) {
    return Disagree(path + ".device", DeviceText(t.device()),
                    leaf_path + ".meta.device", DeviceText(meta.device()));
  }
  if (!SameStatic(t.sizes(), meta.sizes())) {
    return Disagree(path + ".sizes", ListText(t.sizes()),
                    leaf_path + ".meta.sizes", DimsText(meta.sizes()));
  }
  if (!SameStatic(t.strides(), meta.strides())) {
    return Disagree(path + ".strides", ListText(t.strides()),
                    leaf_path + ".meta.strides", DimsText(meta.strides()));
  }
  int64_t offset =
      meta.has_storage_offset() ? meta.storage_offset().static_size() : 0;
  if (t.storage_offset() != offset) {
    return Disagree(path + ".storage_offset", absl::StrCat(t.storage_offset()),
                    leaf_path + ".meta.storage_offset", absl::StrCat(offset));
  }
  if (t.requires_grad() != meta.requires_grad()) {
    return Disagree(path + ".requires_grad",
                    t.requires_grad() ? "true" : "false",
                    leaf_path + ".meta.requires_grad",
                    meta.requires_grad() ? "true" : "false");
  }
  return absl::OkStatus();
}

bool SameFloat(double a, double b) {
  return std::memcmp(&a, &b, sizeof(double)) == 0 || a == b;
}

absl::Status CheckConstantInput(const v1::InputValue& in,
                                const std::string& path,
                                const v1::ConstantGuard& c,
                                const std::string& leaf_path) {
  bool same = false;
  std::string want;
  switch (c.value_case()) {
    case v1::ConstantGuard::kIntValue:
      same = in.has_int_value() && in.int_value() == c.int_value();
      want = absl::StrCat("int ", c.int_value());
      break;
    case v1::ConstantGuard::kFloatValue:
      same =
          in.has_float_value() && SameFloat(in.float_value(), c.float_value());
      want = absl::StrCat("float ", c.float_value());
      break;
    case v1::ConstantGuard::kBoolValue:
      same = in.has_bool_value() && in.bool_value() == c.bool_value();
      want = c.bool_value() ? "bool True" : "bool False";
      break;
    case v1::ConstantGuard::kStringValue:
      same = in.has_string_value() && in.string_value() == c.string_value();
      want = absl::StrCat("str '", c.string_value(), "'");
      break;
    case v1::ConstantGuard::kNone:
      same = in.has_none();
      want = "None";
      break;
    case v1::ConstantGuard::VALUE_NOT_SET:
      want = "nothing";
      break;
  }
  if (same) return absl::OkStatus();
  std::string got = InputKind(in);
  if (in.has_int_value()) got = absl::StrCat("int ", in.int_value());
  if (in.has_float_value()) got = absl::StrCat("float ", in.float_value());
  if (in.has_bool_value()) got = in.bool_value() ? "bool True" : "bool False";
  if (in.has_string_value())
    got = absl::StrCat("str '", in.string_value(), "'");
  return Disagree(path, got, leaf_path, want);
}

}  // namespace

std::vector<GuardLeaf> GuardLeaves(
    const google::protobuf::RepeatedPtrField<v1::InputGuard>& inputs,
    const std::string& prefix) {
  std::vector<GuardLeaf> out;
  for (int i = 0; i < inputs.size(); ++i) {
    const v1::InputGuard& in = inputs[i];
    std::string path = absl::StrCat(prefix, "[", i, "]");
    switch (in.kind_case()) {
      case v1::InputGuard::kTensor:
        AddLeaves(in.tensor(), path + ".tensor", &out);
        break;
      case v1::InputGuard::kSymint: {
        GuardLeaf leaf;
        leaf.symint = &in.symint();
        leaf.path = path + ".symint";
        out.push_back(std::move(leaf));
        break;
      }
      case v1::InputGuard::kConstant: {
        GuardLeaf leaf;
        leaf.constant = &in.constant();
        leaf.path = path + ".constant";
        out.push_back(std::move(leaf));
        break;
      }
      case v1::InputGuard::KIND_NOT_SET:
        break;
    }
  }
  return out;
}

absl::Status CheckGraphLimits(const v1::Graph& graph,
                              const ServerLimits& limits) {
  if (graph.nodes_size() > limits.max_graph_nodes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "graph.nodes: %d nodes, over the limit of %d (Limits.max_graph_nodes)",
        graph.nodes_size(), limits.max_graph_nodes));
  }
  if (graph.placeholders_size() > limits.max_inputs) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "graph.placeholders: %d placeholders, over the limit of %d "
        "(Limits.max_inputs)",
        graph.placeholders_size(), limits.max_inputs));
  }
  return absl::OkStatus();
}

absl::Status CheckGuardsMatchGraph(const v1::GuardContext& guards,
                                   const v1::Graph& graph) {
  std::vector<GuardLeaf> leaves = GuardLeaves(guards.inputs(), "guards.inputs");
  if (static_cast<int>(leaves.size()) != graph.placeholders_size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guards.inputs: the guards have %d leaves (graph inputs) but the "
        "graph has %d placeholders",
        leaves.size(), graph.placeholders_size()));
  }
  for (int i = 0; i < graph.placeholders_size(); ++i) {
    const v1::Placeholder& p = graph.placeholders(i);
    const GuardLeaf& leaf = leaves[i];
    std::string ppath = absl::StrCat("graph.placeholders[", i, "]");
    if (leaf.tensor != nullptr) {
      if (!p.has_tensor()) {
        return Mismatch(leaf.path, "a tensor guard", ppath, PlaceholderKind(p));
      }
      if (absl::Status s = CompareMeta(leaf.tensor->meta(), leaf.path + ".meta",
                                       p.tensor(), ppath + ".tensor");
          !s.ok()) {
        return s;
      }
    } else if (leaf.symint != nullptr) {
      if (!p.has_symint()) {
        return Mismatch(leaf.path, "a SymInt guard", ppath, PlaceholderKind(p));
      }
      if (cache::SerializeDeterministic(leaf.symint->expr()) !=
          cache::SerializeDeterministic(p.symint().expr())) {
        return Mismatch(leaf.path + ".expr", ExprText(leaf.symint->expr()),
                        ppath + ".symint.expr", ExprText(p.symint().expr()));
      }
    } else {
      if (!p.has_scalar()) {
        return Mismatch(leaf.path, "a constant guard", ppath,
                        PlaceholderKind(p));
      }
      v1::ScalarKind kind = ConstantKind(*leaf.constant);
      if (kind != p.scalar().kind()) {
        return Mismatch(leaf.path, v1::ScalarKind_Name(kind),
                        ppath + ".scalar.kind",
                        v1::ScalarKind_Name(p.scalar().kind()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInputsMatchSignature(
    const v1::CallSignature& signature,
    const google::protobuf::RepeatedPtrField<v1::InputValue>& inputs) {
  std::vector<GuardLeaf> leaves =
      GuardLeaves(signature.inputs(), "signature.inputs");
  if (static_cast<int>(leaves.size()) != inputs.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "inputs: %d values, but the signature has %d leaves (one value per "
        "graph placeholder)",
        inputs.size(), leaves.size()));
  }
  for (int i = 0; i < inputs.size(); ++i) {
    const v1::InputValue& in = inputs[i];
    const GuardLeaf& leaf = leaves[i];
    std::string path = absl::StrCat("inputs[", i, "]");
    if (in.value_case() == v1::InputValue::VALUE_NOT_SET) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": value is not set"));
    }
    if (leaf.tensor != nullptr) {
      if (!in.has_tensor()) {
        return Disagree(path, InputKind(in), leaf.path, "a tensor");
      }
      if (absl::Status s = CheckTensorInput(in.tensor(), path + ".tensor",
                                            leaf.tensor->meta(), leaf.path);
          !s.ok()) {
        return s;
      }
    } else if (leaf.symint != nullptr) {
      int64_t value = leaf.symint->expr().constant();
      if (!in.has_int_value() || in.int_value() != value) {
        std::string got = in.has_int_value()
                              ? absl::StrCat("int ", in.int_value())
                              : std::string(InputKind(in));
        return Disagree(path, got, leaf.path, absl::StrCat("SymInt ", value));
      }
    } else if (absl::Status s =
                   CheckConstantInput(in, path, *leaf.constant, leaf.path);
               !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::server
