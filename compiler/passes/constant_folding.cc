#include "compiler/passes/constant_folding.h"

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ops/op_def.h"
#include "compiler/passes/pass_util.h"
#include "spdlog/spdlog.h"

namespace kiln::passes {
namespace {

bool StaticType(const ir::TensorType& t) {
  for (const ir::ExprRef& e : t.sizes) {
    if (!e->AsConst()) return false;
  }
  for (const ir::ExprRef& e : t.strides) {
    if (!e->AsConst()) return false;
  }
  return t.storage_offset->AsConst().has_value();
}

int64_t Bytes(const ir::TensorType& t) {
  int64_t n = ir::ElementSize(t.dtype);
  for (const ir::ExprRef& e : t.sizes) n *= *e->AsConst();
  return n;
}

// Creation ops (zeros_like, full_like, ...) read only their tensor
// arguments' metadata: a static type is enough.
bool ReadsOnlyMetadata(const ir::Node& node) {
  return node.op().category() == ops::OpCategory::kCreation;
}

// Whether `node` qualifies by its op and arguments (not yet by size).
bool Foldable(const ir::Node& node) {
  if (node.fused() != nullptr || !node.op().has_reference() ||
      HasSideEffects(node) || IsNondeterministic(node.op())) {
    return false;
  }
  auto known = [&](const ir::Value* v) {
    if (v->is_constant()) return true;
    return ReadsOnlyMetadata(node) && v->is_tensor() && StaticType(v->type());
  };
  for (const ir::Arg& a : node.args()) {
    switch (a.kind) {
      case ir::Arg::Kind::kValue:
        if (!known(a.value)) return false;
        break;
      case ir::Arg::Kind::kValueList:
        for (const ir::Value* v : a.values) {
          if (v != nullptr && !known(v)) return false;
        }
        break;
      case ir::Arg::Kind::kInt:
        if (!a.i->AsConst()) return false;
        break;
      case ir::Arg::Kind::kIntList:
        for (const ir::ExprRef& e : a.ints) {
          if (!e->AsConst()) return false;
        }
        break;
      default:
        break;
    }
  }
  for (int o = 0; o < node.num_outputs(); ++o) {
    if (node.output(o) && !StaticType(node.output(o)->type())) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<bool> ConstantFolding::Run(ir::Graph& graph) {
  bool changed = false;
  int64_t added = 0;
  absl::flat_hash_map<const ir::Value*, ops::RuntimeValue> materialized;
  absl::flat_hash_set<ir::Value*> consumed;  // constants read by folded nodes
  auto lookup = [&](const ir::Value* v) -> const ops::RuntimeValue* {
    auto it = materialized.find(v);
    if (it != materialized.end()) return &it->second;
    if (v->is_constant()) {
      auto t = interp::ConstantTensor(*v);
      if (!t.ok()) return nullptr;
      return &(materialized[v] = ops::RuntimeValue::OfTensor(*std::move(t)));
    }
    // A creation op's tensor argument: only its metadata is read.
    if (!v->is_tensor() || !StaticType(v->type())) return nullptr;
    auto eval = [](const std::vector<ir::ExprRef>& list) {
      std::vector<int64_t> out;
      for (const ir::ExprRef& e : list) out.push_back(*e->AsConst());
      return out;
    };
    auto t = rt::Tensor::EmptyStrided(v->type().dtype, eval(v->type().sizes),
                                      eval(v->type().strides),
                                      *v->type().storage_offset->AsConst());
    if (!t.ok()) return nullptr;
    return &(materialized[v] = ops::RuntimeValue::OfTensor(*std::move(t)));
  };
  for (int i = 0; i < graph.num_nodes(); ++i) {
    ir::Node* node = graph.node(i);
    if (!Foldable(*node)) continue;
    int64_t bytes = 0;
    bool too_big = false;
    for (int o = 0; o < node->num_outputs(); ++o) {
      if (node->output(o) == nullptr) continue;
      int64_t b = Bytes(node->output(o)->type());
      too_big = too_big || b > options_.max_constant_bytes;
      bytes += b;
    }
    if (too_big || added + bytes > options_.max_total_bytes) continue;
    bool inputs_ok = true;
    for (const ir::Value* v : node->Operands()) {
      inputs_ok = inputs_ok && lookup(v) != nullptr;
    }
    if (!inputs_ok) continue;
    sym::Bindings no_symbols;
    ops::KernelContext kc(*node, no_symbols, lookup);
    absl::Status st = node->op().reference()(kc);
    if (!st.ok()) {
      spdlog::debug("constant_folding: {} ({}) left for run time: {}",
                    node->name(), node->op().name(), st.ToString());
      continue;
    }
    std::vector<ir::Value*> constants;
    for (int o = 0; o < node->num_outputs(); ++o) {
      ir::Value* out = node->output(o);
      if (out == nullptr) {
        constants.push_back(nullptr);
        continue;
      }
      const rt::Tensor& t = kc.outputs()[o];
      std::string name = graph.FreshName(
          absl::StrCat(absl::StrReplaceAll(out->name(), {{"#", "_"}}), "_c"));
      ir::Value* c =
          graph.AddConstant(name, out->type(),
                            std::make_shared<std::string>(t.ContiguousBytes()));
      materialized[c] = ops::RuntimeValue::OfTensor(t);
      constants.push_back(c);
    }
    for (ir::Value* v : node->Operands()) {
      if (v->is_constant()) consumed.insert(v);
    }
    for (int o = 0; o < node->num_outputs(); ++o) {
      if (constants[o]) graph.ReplaceAllUsesWith(node->output(o), constants[o]);
    }
    graph.RemoveNode(node);
    --i;
    added += bytes;
    changed = true;
  }
  // Constants only the folded nodes read are dead now.
  for (int i = graph.num_constants() - 1; i >= 0; --i) {
    ir::Value* c = graph.constants()[i].get();
    if (consumed.contains(c) && !c->HasUses()) graph.RemoveConstant(c);
  }
  return changed;
}

KILN_REGISTER_PASS(ConstantFolding::kName, ConstantFolding);

}  // namespace kiln::passes
