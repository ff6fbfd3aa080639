#include "compiler/interpreter/interpreter.h"

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::interp {
namespace {

absl::Status Invalid(const std::string& path, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

// Binds `expr` to `actual` if it is a bare unbound symbol; otherwise
// records it for checking once every symbol is bound.
void BindOrDefer(
    const ir::ExprRef& expr, int64_t actual, std::string path,
    sym::Bindings* bindings,
    std::vector<std::tuple<ir::ExprRef, int64_t, std::string>>* deferred) {
  if (expr->IsSymbol() && !bindings->contains(expr->name())) {
    (*bindings)[expr->name()] = actual;
    return;
  }
  deferred->emplace_back(expr, actual, std::move(path));
}

absl::StatusOr<sym::Bindings> BindInputsWith(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs,
    sym::Bindings bindings);
absl::StatusOr<std::vector<RuntimeValue>> RunGraphWith(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs,
    const sym::Bindings& outer);

}  // namespace

absl::StatusOr<rt::Tensor> ConstantTensor(const ir::Value& constant) {
  if (!constant.is_constant()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", constant.name(), "' is not a constant"));
  }
  const ir::TensorType& type = constant.type();
  std::vector<int64_t> sizes, strides;
  for (const ir::ExprRef& e : type.sizes)
    sizes.push_back(e->AsConst().value_or(-1));
  for (const ir::ExprRef& e : type.strides) {
    strides.push_back(e->AsConst().value_or(-1));
  }
  auto t = rt::Tensor::EmptyStrided(
      type.dtype, sizes, strides, type.storage_offset->AsConst().value_or(-1));
  if (!t.ok()) return t.status();
  const std::string& data = constant.constant_data();
  int64_t es = t->element_size();
  if (static_cast<int64_t>(data.size()) != t->numel() * es) {
    return absl::InvalidArgumentError(
        absl::StrFormat("constant '%s': %d bytes for %d elements",
                        constant.name(), data.size(), t->numel()));
  }
  int64_t i = 0;
  rt::ForEachIndex(t->sizes(), [&](const int64_t* idx) {
    std::memcpy(t->ElementPtr(idx), data.data() + i * es, es);
    ++i;
  });
  return *std::move(t);
}

absl::StatusOr<sym::Bindings> BindInputs(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs) {
  return BindInputsWith(graph, inputs, {});
}

namespace {

absl::StatusOr<sym::Bindings> BindInputsWith(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs,
    sym::Bindings bindings) {
  if (static_cast<int>(inputs.size()) != graph.num_placeholders()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the graph takes %d inputs, got %d",
                        graph.num_placeholders(), inputs.size()));
  }
  std::vector<std::tuple<ir::ExprRef, int64_t, std::string>> deferred;
  for (int i = 0; i < graph.num_placeholders(); ++i) {
    const ir::Value* p = graph.placeholder(i);
    const RuntimeValue& in = inputs[i];
    std::string path = absl::StrFormat("inputs[%d] (%s)", i, p->name());
    switch (p->kind()) {
      case ir::Value::Kind::kTensor: {
        if (in.kind != RuntimeValue::Kind::kTensor || !in.tensor.defined()) {
          return Invalid(path, "expected a tensor");
        }
        const ir::TensorType& t = p->type();
        const rt::Tensor& x = in.tensor;
        if (x.dtype() != t.dtype) {
          return Invalid(path, absl::StrFormat("expected dtype %s, got %s",
                                               ir::ShortName(t.dtype),
                                               ir::ShortName(x.dtype())));
        }
        if (x.rank() != t.rank()) {
          return Invalid(path, absl::StrFormat("expected %d dims, got %d",
                                               t.rank(), x.rank()));
        }
        for (int d = 0; d < t.rank(); ++d) {
          BindOrDefer(t.sizes[d], x.sizes()[d],
                      absl::StrFormat("%s.size(%d)", path, d), &bindings,
                      &deferred);
        }
        // Strides and offset only bind symbols that appear nowhere else;
        // the interpreter works with whatever layout the tensor has.
        for (int d = 0; d < t.rank(); ++d) {
          if (t.strides[d]->IsSymbol() &&
              !bindings.contains(t.strides[d]->name())) {
            bindings[t.strides[d]->name()] = x.strides()[d];
          }
        }
        if (t.storage_offset->IsSymbol() &&
            !bindings.contains(t.storage_offset->name())) {
          bindings[t.storage_offset->name()] = x.storage_offset();
        }
        break;
      }
      case ir::Value::Kind::kSymInt:
        if (in.kind != RuntimeValue::Kind::kScalar ||
            in.scalar.kind != rt::Scalar::Kind::kInt) {
          return Invalid(path, "expected an int (SymInt input)");
        }
        BindOrDefer(p->symint(), in.scalar.i, path, &bindings, &deferred);
        break;
      case ir::Value::Kind::kScalar: {
        bool ok = true;
        switch (p->scalar_kind()) {
          case ir::ScalarKind::kInt:
            ok = in.kind == RuntimeValue::Kind::kScalar &&
                 in.scalar.kind == rt::Scalar::Kind::kInt;
            break;
          case ir::ScalarKind::kFloat:
            ok = in.kind == RuntimeValue::Kind::kScalar &&
                 in.scalar.kind == rt::Scalar::Kind::kFloat;
            break;
          case ir::ScalarKind::kBool:
            ok = in.kind == RuntimeValue::Kind::kScalar &&
                 in.scalar.kind == rt::Scalar::Kind::kBool;
            break;
          default:
            ok = true;  // str / None inputs never reach a kernel
            break;
        }
        if (!ok) {
          return Invalid(path,
                         absl::StrCat("expected a ",
                                      ir::ScalarKindName(p->scalar_kind())));
        }
        break;
      }
    }
  }
  for (const auto& [expr, actual, path] : deferred) {
    auto v = sym::Evaluate(*expr, bindings);
    if (!v.ok()) return Invalid(path, std::string(v.status().message()));
    if (*v != actual) {
      return Invalid(path, absl::StrFormat("expected %d (%s), got %d", *v,
                                           expr->ToString(), actual));
    }
  }
  return bindings;
}

// A kiln::fused node: its body, run on the node's inputs with the
// enclosing graph's bindings.
absl::Status RunFusedNode(const ir::Node& node, const sym::Bindings& bindings,
                          const ops::KernelContext::Lookup& lookup,
                          std::vector<rt::Tensor>* outputs) {
  const ir::FusedKernel* kernel = node.fused();
  if (kernel == nullptr || kernel->body == nullptr) {
    return absl::InternalError("a kiln::fused node without a kernel");
  }
  std::vector<RuntimeValue> inputs;
  for (const ir::Value* v : node.Operands()) {
    const RuntimeValue* rv = lookup(v);
    if (rv == nullptr) return absl::InternalError("input not computed");
    inputs.push_back(*rv);
  }
  auto out = RunGraphWith(*kernel->body, inputs, bindings);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("body: ", out.status().message()));
  }
  outputs->resize(out->size());
  for (size_t i = 0; i < out->size(); ++i) {
    (*outputs)[i] = std::move((*out)[i].tensor);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RuntimeValue>> RunGraphWith(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs,
    const sym::Bindings& outer) {
  auto bindings_or = BindInputsWith(graph, inputs, outer);
  if (!bindings_or.ok()) return bindings_or.status();
  const sym::Bindings& bindings = *bindings_or;
  absl::flat_hash_map<const ir::Value*, RuntimeValue> values;
  for (int i = 0; i < graph.num_placeholders(); ++i) {
    values[graph.placeholder(i)] = inputs[i];
  }
  for (const auto& c : graph.constants()) {
    auto t = ConstantTensor(*c);
    if (!t.ok()) return t.status();
    values[c.get()] = RuntimeValue::OfTensor(*std::move(t));
  }
  auto lookup = [&](const ir::Value* v) -> const RuntimeValue* {
    auto it = values.find(v);
    return it == values.end() ? nullptr : &it->second;
  };
  for (const auto& node : graph.nodes()) {
    std::string where =
        absl::StrFormat("nodes[%d] (%s)", node->index(), node->op().name());
    if (node->fused() == nullptr && !node->op().has_reference()) {
      return absl::UnimplementedError(
          absl::StrCat(where, ": no reference implementation"));
    }
    ops::KernelContext kc(*node, bindings, lookup);
    absl::Status st = node->fused() != nullptr
                          ? RunFusedNode(*node, bindings, lookup, &kc.outputs())
                          : node->op().reference()(kc);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat(where, ": ", st.message()));
    }
    for (int i = 0; i < node->num_outputs(); ++i) {
      const ir::Value* out = node->output(i);
      if (out == nullptr) continue;
      rt::Tensor& t = kc.outputs()[i];
      if (!t.defined()) {
        return absl::InternalError(
            absl::StrFormat("%s: output %d was not produced", where, i));
      }
      auto sizes = kc.OutputSizes(i);
      if (!sizes.ok()) return sizes.status();
      if (t.sizes() != *sizes || t.dtype() != out->type().dtype) {
        return absl::InternalError(
            absl::StrFormat("%s: output %d is %s, expected %s", where, i,
                            t.DebugString(0), out->type().ToString()));
      }
      values[out] = RuntimeValue::OfTensor(t);
    }
  }
  std::vector<RuntimeValue> outputs;
  for (const ir::Arg& a : graph.outputs()) {
    switch (a.kind) {
      case ir::Arg::Kind::kValue: {
        const RuntimeValue* v = lookup(a.value);
        if (v == nullptr) return absl::InternalError("output not computed");
        outputs.push_back(*v);
        break;
      }
      case ir::Arg::Kind::kInt: {
        auto v = sym::Evaluate(*a.i, bindings);
        if (!v.ok()) return v.status();
        outputs.push_back(RuntimeValue::OfScalar(rt::Scalar::Int(*v)));
        break;
      }
      case ir::Arg::Kind::kFloat:
        outputs.push_back(RuntimeValue::OfScalar(rt::Scalar::Float(a.f)));
        break;
      case ir::Arg::Kind::kBool:
        outputs.push_back(RuntimeValue::OfScalar(rt::Scalar::Bool(a.b)));
        break;
      default:
        outputs.push_back(RuntimeValue());
        break;
    }
  }
  return outputs;
}

}  // namespace

absl::StatusOr<std::vector<RuntimeValue>> RunGraph(
    const ir::Graph& graph, const std::vector<RuntimeValue>& inputs) {
  return RunGraphWith(graph, inputs, {});
}

}  // namespace kiln::interp
