// Validation of GuardContext (Create) and CallSignature (ValidateSignature):
// every problem is INVALID_ARGUMENT (or RESOURCE_EXHAUSTED past a limit)
// whose message starts with the path of the offending field.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/internal.h"
#include "compiler/symbolic/expr.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache {
namespace guards_internal {
namespace {

absl::Status Invalid(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", std::string(what)));
}

absl::Status Exhausted(const std::string& path, std::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat(path, ": ", std::string(what)));
}

#define KILN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    if (absl::Status _s = (expr); !_s.ok()) { \
      return _s;                              \
    }                                         \
  } while (0)

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!alpha(s[0])) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

absl::Status CheckDType(int dtype, const std::string& path) {
  if (!v1::DType_IsValid(dtype) || dtype == v1::DTYPE_UNSPECIFIED) {
    return Invalid(path, dtype == v1::DTYPE_UNSPECIFIED
                             ? "dtype is required"
                             : absl::StrCat("unknown dtype ", dtype));
  }
  return absl::OkStatus();
}

absl::Status CheckDevice(const v1::Device& device, const std::string& path) {
  if (!v1::DeviceType_IsValid(device.type()) ||
      device.type() == v1::DEVICE_TYPE_UNSPECIFIED) {
    return Invalid(absl::StrCat(path, ".type"),
                   device.type() == v1::DEVICE_TYPE_UNSPECIFIED
                       ? std::string("device type is required")
                       : absl::StrCat("unknown device type ", device.type()));
  }
  if (device.index() < 0) {
    return Invalid(absl::StrCat(path, ".index"),
                   absl::StrCat("negative device index ", device.index()));
  }
  if (device.type() == v1::CPU && device.index() != 0) {
    return Invalid(absl::StrCat(path, ".index"),
                   absl::StrCat("cpu device with index ", device.index()));
  }
  return absl::OkStatus();
}

// Checks the things a GuardContext and a CallSignature share; `context`
// selects the rules that differ (symbolic Dims, `symint` metadata, SymInt
// values).
class Validator {
 public:
  Validator(const GuardLimits& limits, bool context)
      : limits_(limits), context_(context) {}

  absl::Status Inputs(
      const google::protobuf::RepeatedPtrField<v1::InputGuard>& inputs,
      const std::string& root) {
    for (int i = 0; i < inputs.size(); ++i) {
      KILN_RETURN_IF_ERROR(
          Input(inputs.Get(i), absl::StrCat(root, ".inputs[", i, "]")));
    }
    return absl::OkStatus();
  }

  absl::Status Global(bool present, const v1::GlobalState& g,
                      const std::string& path) {
    if (!present) return Invalid(path, "global state is required");
    int tf = g.torch_function();
    if (!v1::GlobalState::TorchFunctionState_IsValid(tf) ||
        tf == v1::GlobalState::TORCH_FUNCTION_STATE_UNSPECIFIED) {
      return Invalid(absl::StrCat(path, ".torch_function"),
                     tf == 0
                         ? std::string("torch-function state is required")
                         : absl::StrCat("unknown torch-function state ", tf));
    }
    for (int i = 0; i < g.autocast_size(); ++i) {
      const v1::AutocastState& a = g.autocast(i);
      std::string p = absl::StrCat(path, ".autocast[", i, "]");
      if (a.device_type().empty()) {
        return Invalid(absl::StrCat(p, ".device_type"),
                       "device type is required");
      }
      if (i > 0 && !(g.autocast(i - 1).device_type() < a.device_type())) {
        return Invalid(absl::StrCat(p, ".device_type"),
                       absl::StrCat("autocast entries must be sorted by "
                                    "device type without duplicates, got '",
                                    a.device_type(), "' after '",
                                    g.autocast(i - 1).device_type(), "'"));
      }
      KILN_RETURN_IF_ERROR(CheckDType(a.dtype(), absl::StrCat(p, ".dtype")));
    }
    KILN_RETURN_IF_ERROR(
        CheckDType(g.default_dtype(), absl::StrCat(path, ".default_dtype")));
    int mp = g.fp32_matmul_precision();
    if (!v1::GlobalState::MatmulPrecision_IsValid(mp) ||
        mp == v1::GlobalState::MATMUL_PRECISION_UNSPECIFIED) {
      return Invalid(absl::StrCat(path, ".fp32_matmul_precision"),
                     mp == 0 ? std::string("matmul precision is required")
                             : absl::StrCat("unknown matmul precision ", mp));
    }
    return absl::OkStatus();
  }

  // Context only: shape guards, symbol declarations, and the symbol rules
  // (used => declared, declared => bound by an input).
  absl::Status Symbols(const v1::GuardContext& c) {
    if (c.shape_guards_size() > limits_.max_shape_guards) {
      return Exhausted("guards.shape_guards",
                       absl::StrCat(c.shape_guards_size(),
                                    " shape guards, more than the limit of ",
                                    limits_.max_shape_guards));
    }
    for (int k = 0; k < c.shape_guards_size(); ++k) {
      KILN_RETURN_IF_ERROR(Expression(
          c.shape_guards(k), absl::StrCat("guards.shape_guards[", k, "]"),
          /*want_bool=*/true, nullptr));
    }
    absl::flat_hash_map<std::string, int> declared;
    for (int k = 0; k < c.symbols_size(); ++k) {
      const v1::SymbolDecl& d = c.symbols(k);
      std::string p = absl::StrCat("guards.symbols[", k, "]");
      if (!IsIdentifier(d.name())) {
        return Invalid(
            absl::StrCat(p, ".name"),
            d.name().empty()
                ? std::string("symbol name is required")
                : absl::StrCat("'", d.name(), "' is not an identifier"));
      }
      if (!declared.emplace(d.name(), k).second) {
        return Invalid(absl::StrCat(p, ".name"),
                       absl::StrCat("symbol ", d.name(), " declared twice"));
      }
      if (d.has_min() && d.has_max() && d.min() > d.max()) {
        return Invalid(p, absl::StrCat("min ", d.min(), " > max ", d.max()));
      }
      if ((d.has_min() && d.hint() < d.min()) ||
          (d.has_max() && d.hint() > d.max())) {
        return Invalid(
            absl::StrCat(p, ".hint"),
            absl::StrCat("hint ", d.hint(), " outside the declared range"));
      }
    }
    for (const auto& [name, path] : uses_) {
      if (!declared.contains(name)) {
        return Invalid(path, absl::StrCat("symbol ", name, " is not declared"));
      }
    }
    for (int k = 0; k < c.symbols_size(); ++k) {
      if (!bound_.contains(c.symbols(k).name())) {
        return Invalid(
            absl::StrCat("guards.symbols[", k, "]"),
            absl::StrCat("symbol ", c.symbols(k).name(),
                         " is never bound by an input (no size, stride, "
                         "storage offset or SymInt input is exactly it)"));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Input(const v1::InputGuard& in, const std::string& path) {
    switch (in.kind_case()) {
      case v1::InputGuard::kTensor:
        return Tensor(in.tensor(), absl::StrCat(path, ".tensor"), 0);
      case v1::InputGuard::kSymint:
        KILN_RETURN_IF_ERROR(Leaf(path));
        return SymInt(in.symint(), absl::StrCat(path, ".symint"));
      case v1::InputGuard::kConstant:
        KILN_RETURN_IF_ERROR(Leaf(path));
        if (in.constant().value_case() == v1::ConstantGuard::VALUE_NOT_SET) {
          return Invalid(absl::StrCat(path, ".constant"),
                         "constant value is required");
        }
        return absl::OkStatus();
      default:
        return Invalid(path,
                       "input kind (tensor, symint or constant) is "
                       "required");
    }
  }

  absl::Status Leaf(const std::string& path) {
    if (++leaves_ > limits_.max_inputs) {
      return Exhausted(path, absl::StrCat("more than ", limits_.max_inputs,
                                          " inputs (subclass inner tensors "
                                          "included)"));
    }
    return absl::OkStatus();
  }

  absl::Status SymInt(const v1::SymIntGuard& s, const std::string& path) {
    std::string p = absl::StrCat(path, ".expr");
    if (!s.has_expr()) return Invalid(p, "expression is required");
    if (!context_) {
      const v1::SymExpr& e = s.expr();
      if (e.op() != v1::SymExpr::CONSTANT || e.operands_size() != 0 ||
          !e.symbol().empty() || e.bool_value()) {
        return Invalid(p, absl::StrCat("expected a CONSTANT value, got ",
                                       v1::SymExpr::Op_IsValid(e.op())
                                           ? v1::SymExpr::Op_Name(e.op())
                                           : std::string("an unknown op")));
      }
      return absl::OkStatus();
    }
    return Expression(s.expr(), p, /*want_bool=*/false, /*may_bind=*/&bound_);
  }

  absl::Status Tensor(const v1::TensorGuard& t, const std::string& path,
                      int depth) {
    if (t.type_name().empty()) {
      return Invalid(absl::StrCat(path, ".type_name"), "type name is required");
    }
    if (!t.has_meta()) {
      return Invalid(absl::StrCat(path, ".meta"),
                     "tensor metadata is "
                     "required");
    }
    KILN_RETURN_IF_ERROR(Meta(t.meta(), absl::StrCat(path, ".meta")));
    if (t.has_alias_group()) {
      if (t.alias_group() < 0) {
        return Invalid(absl::StrCat(path, ".alias_group"),
                       absl::StrCat("negative alias group ", t.alias_group()));
      }
      if (t.has_subclass()) {
        return Invalid(absl::StrCat(path, ".alias_group"),
                       "a wrapper subclass has no storage of its own");
      }
    }
    if (!t.has_subclass()) return Leaf(path);
    const v1::SubclassInfo& s = t.subclass();
    std::string sp = absl::StrCat(path, ".subclass");
    if (depth + 1 > limits_.max_subclass_depth) {
      return Exhausted(sp, absl::StrCat("subclasses nested deeper than ",
                                        limits_.max_subclass_depth));
    }
    absl::flat_hash_set<std::string> names;
    for (int j = 0; j < s.inner_size(); ++j) {
      const v1::InnerTensor& inner = s.inner(j);
      std::string ip = absl::StrCat(sp, ".inner[", j, "]");
      if (inner.name().empty()) {
        return Invalid(absl::StrCat(ip, ".name"), "inner name is required");
      }
      if (!names.insert(inner.name()).second) {
        return Invalid(
            absl::StrCat(ip, ".name"),
            absl::StrCat("duplicate inner name '", inner.name(), "'"));
      }
    }
    if (s.has_metadata()) {
      KILN_RETURN_IF_ERROR(
          Metadata(s.metadata(), absl::StrCat(sp, ".metadata"), 0));
    }
    for (int j = 0; j < s.inner_size(); ++j) {
      std::string ip = absl::StrCat(sp, ".inner[", j, "].guard");
      if (!s.inner(j).has_guard()) {
        return Invalid(ip, "inner tensor guard is required");
      }
      KILN_RETURN_IF_ERROR(Tensor(s.inner(j).guard(), ip, depth + 1));
    }
    return absl::OkStatus();
  }

  absl::Status Meta(const v1::TensorMeta& m, const std::string& path) {
    KILN_RETURN_IF_ERROR(CheckDType(m.dtype(), absl::StrCat(path, ".dtype")));
    if (!m.has_device()) {
      return Invalid(absl::StrCat(path, ".device"), "device is required");
    }
    KILN_RETURN_IF_ERROR(
        CheckDevice(m.device(), absl::StrCat(path, ".device")));
    if (m.sizes_size() > limits_.max_rank) {
      return Exhausted(
          absl::StrCat(path, ".sizes"),
          absl::StrCat("rank ", m.sizes_size(), " exceeds the limit of ",
                       limits_.max_rank));
    }
    if (m.strides_size() != m.sizes_size()) {
      return Invalid(absl::StrCat(path, ".strides"),
                     absl::StrCat(m.strides_size(), " strides for ",
                                  m.sizes_size(), " sizes"));
    }
    for (int d = 0; d < m.sizes_size(); ++d) {
      KILN_RETURN_IF_ERROR(
          Dim(m.sizes(d), absl::StrCat(path, ".sizes[", d, "]")));
    }
    for (int d = 0; d < m.strides_size(); ++d) {
      KILN_RETURN_IF_ERROR(
          Dim(m.strides(d), absl::StrCat(path, ".strides[", d, "]")));
    }
    if (m.has_storage_offset()) {
      KILN_RETURN_IF_ERROR(
          Dim(m.storage_offset(), absl::StrCat(path, ".storage_offset")));
    }
    return absl::OkStatus();
  }

  absl::Status Dim(const v1::Dim& dim, const std::string& path) {
    switch (dim.value_case()) {
      case v1::Dim::kStaticSize:
        if (dim.static_size() < 0) {
          return Invalid(path,
                         absl::StrCat("negative value ", dim.static_size()));
        }
        return absl::OkStatus();
      case v1::Dim::kExpr:
        if (!context_) {
          return Invalid(absl::StrCat(path, ".expr"),
                         "expected a static value, got an expression");
        }
        return Expression(dim.expr(), absl::StrCat(path, ".expr"),
                          /*want_bool=*/false, &bound_);
      default:
        return Invalid(path, "dim value is required");
    }
  }

  // Parses and checks an expression of the context: types, symbol names,
  // evaluability. A bare symbol (after normalization) binds it when
  // `may_bind` is given.
  absl::Status Expression(const v1::SymExpr& proto, const std::string& path,
                          bool want_bool,
                          absl::flat_hash_set<std::string>* may_bind) {
    absl::StatusOr<sym::ExprRef> e =
        sym::FromProto(proto, path, want_bool, limits_.max_sym_expr_depth);
    if (!e.ok()) return e.status();
    KILN_RETURN_IF_ERROR(SymbolNames(proto, path));
    if (may_bind != nullptr && (*e)->IsSymbol()) {
      may_bind->insert((*e)->name());
    }
    KILN_RETURN_IF_ERROR(Evaluable(**e, path));
    absl::StatusOr<sym::Program> program =
        sym::Program::Compile(**e, [](const std::string&) { return 0; });
    if (!program.ok()) {
      return Exhausted(path, std::string(program.status().message()));
    }
    return absl::OkStatus();
  }

  // Symbol names (identifiers, recorded as uses) and the fields that only
  // one op may set (symexpr.proto: `constant`, `symbol`, `bool_value` are
  // unset on every other op, so equal expressions serialize equally).
  absl::Status SymbolNames(const v1::SymExpr& e, const std::string& path) {
    const char* stray = nullptr;
    if (e.op() != v1::SymExpr::CONSTANT && e.constant() != 0) {
      stray = "constant";
    } else if (e.op() != v1::SymExpr::SYMBOL && !e.symbol().empty()) {
      stray = "symbol";
    } else if (e.op() != v1::SymExpr::BOOL_CONSTANT && e.bool_value()) {
      stray = "bool_value";
    }
    if (stray != nullptr) {
      return Invalid(path, absl::StrCat(stray, " set on a ",
                                        v1::SymExpr::Op_Name(e.op()), " node"));
    }
    if (e.op() == v1::SymExpr::SYMBOL) {
      if (!IsIdentifier(e.symbol())) {
        return Invalid(path, absl::StrCat("symbol name '", e.symbol(),
                                          "' is not an identifier"));
      }
      uses_.emplace_back(e.symbol(), path);
    }
    for (int i = 0; i < e.operands_size(); ++i) {
      KILN_RETURN_IF_ERROR(
          SymbolNames(e.operands(i), absl::StrCat(path, ".operands[", i, "]")));
    }
    return absl::OkStatus();
  }

  // Compiled programs encode an operator's arity in a byte.
  absl::Status Evaluable(const sym::Expr& e, const std::string& path) {
    if (e.args().size() > 255) {
      return Exhausted(path, absl::StrCat("an operator with ", e.args().size(),
                                          " operands (at most 255)"));
    }
    for (const sym::ExprRef& a : e.args()) {
      KILN_RETURN_IF_ERROR(Evaluable(*a, path));
    }
    return absl::OkStatus();
  }

  absl::Status Metadata(const v1::MetadataValue& v, const std::string& path,
                        int depth) {
    if (depth > limits_.max_metadata_depth) {
      return Exhausted(path, absl::StrCat("metadata nested deeper than ",
                                          limits_.max_metadata_depth));
    }
    switch (v.kind_case()) {
      case v1::MetadataValue::kNone:
      case v1::MetadataValue::kBoolValue:
      case v1::MetadataValue::kIntValue:
      case v1::MetadataValue::kFloatValue:
      case v1::MetadataValue::kStringValue:
      case v1::MetadataValue::kBytesValue:
        return absl::OkStatus();
      case v1::MetadataValue::kTuple:
      case v1::MetadataValue::kList: {
        const v1::MetadataSequence& seq = v.has_tuple() ? v.tuple() : v.list();
        std::string p =
            absl::StrCat(path, v.has_tuple() ? ".tuple" : ".list", ".values[");
        for (int i = 0; i < seq.values_size(); ++i) {
          KILN_RETURN_IF_ERROR(
              Metadata(seq.values(i), absl::StrCat(p, i, "]"), depth + 1));
        }
        return absl::OkStatus();
      }
      case v1::MetadataValue::kDict: {
        std::string previous;
        for (int i = 0; i < v.dict().entries_size(); ++i) {
          const v1::MetadataDictEntry& entry = v.dict().entries(i);
          std::string p = absl::StrCat(path, ".dict.entries[", i, "]");
          if (!entry.has_key()) {
            return Invalid(absl::StrCat(p, ".key"), "key is required");
          }
          if (!entry.has_value()) {
            return Invalid(absl::StrCat(p, ".value"), "value is required");
          }
          KILN_RETURN_IF_ERROR(
              Metadata(entry.key(), absl::StrCat(p, ".key"), depth + 1));
          KILN_RETURN_IF_ERROR(
              Metadata(entry.value(), absl::StrCat(p, ".value"), depth + 1));
          std::string key = SerializeDeterministic(entry.key());
          if (i > 0 && !(previous < key)) {
            return Invalid(
                absl::StrCat(p, ".key"),
                previous == key
                    ? std::string("duplicate dict key")
                    : std::string("dict entries must be sorted by the "
                                  "serialization of their keys"));
          }
          previous = std::move(key);
        }
        return absl::OkStatus();
      }
      case v1::MetadataValue::kSymint:
        if (!context_) {
          return Invalid(absl::StrCat(path, ".symint"),
                         "a call's metadata must be concrete (no symint)");
        }
        return absl::OkStatus();
      case v1::MetadataValue::kDtype:
        return CheckDType(v.dtype(), absl::StrCat(path, ".dtype"));
      case v1::MetadataValue::kDevice:
        return CheckDevice(v.device(), absl::StrCat(path, ".device"));
      case v1::MetadataValue::kOpaque:
        if (v.opaque().type_name().empty()) {
          return Invalid(absl::StrCat(path, ".opaque.type_name"),
                         "type name is required");
        }
        return absl::OkStatus();
      default:
        return Invalid(path, "metadata value kind is required");
    }
  }

  const GuardLimits& limits_;
  const bool context_;
  int leaves_ = 0;
  // Context only: symbols used (name, path of the use) and bound.
  std::vector<std::pair<std::string, std::string>> uses_;
  absl::flat_hash_set<std::string> bound_;
};

}  // namespace

absl::Status ValidateContext(const v1::GuardContext& context,
                             const GuardLimits& limits) {
  Validator v(limits, /*context=*/true);
  KILN_RETURN_IF_ERROR(v.Inputs(context.inputs(), "guards"));
  KILN_RETURN_IF_ERROR(v.Symbols(context));
  return v.Global(context.has_global_state(), context.global_state(),
                  "guards.global_state");
}

}  // namespace guards_internal

absl::Status ValidateSignature(const v1::CallSignature& call,
                               const GuardLimits& limits) {
  guards_internal::Validator v(limits, /*context=*/false);
  KILN_RETURN_IF_ERROR(v.Inputs(call.inputs(), "signature"));
  return v.Global(call.has_global_state(), call.global_state(),
                  "signature.global_state");
}

absl::Status ValidateGuardContext(const v1::GuardContext& context,
                                  const GuardLimits& limits) {
  return guards_internal::ValidateContext(context, limits);
}

}  // namespace kiln::cache
