#include "compiler/passes/test_util.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/ir/fusion.h"
#include "compiler/ir/text.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pass_util.h"

namespace kiln::passes::testing {

std::string Trim(std::string_view text) {
  while (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return std::string(text);
}

absl::StatusOr<PassResult> RunPassOnText(Pass& pass, std::string_view input) {
  auto graph = ir::ParseGraph(Trim(input));
  if (!graph.ok()) return graph.status();
  auto changed = pass.Run(**graph);
  if (!changed.ok()) return changed.status();
  if (auto st = ir::VerifyGraph(**graph); !st.ok()) {
    return absl::InternalError(
        absl::StrCat("invalid after ", std::string(pass.name()), ": ",
                     st.message(), "\n", ir::PrintGraph(**graph)));
  }
  PassResult result;
  result.text = ir::PrintGraph(**graph);
  result.changed = *changed;
  result.graph = *std::move(graph);
  // The printed form reads back as the same graph.
  auto reparsed = ir::ParseGraph(result.text);
  if (!reparsed.ok()) {
    return absl::InternalError(absl::StrCat("the result does not parse: ",
                                            reparsed.status().message()));
  }
  if (result.graph->memory_plan() == nullptr &&
      ir::PrintGraph(**reparsed) != result.text) {
    return absl::InternalError("the result does not round-trip");
  }
  return result;
}

absl::StatusOr<std::vector<interp::RuntimeValue>> RandomInputs(
    const ir::Graph& graph, uint64_t seed, const sym::Bindings& bindings) {
  std::mt19937_64 rng(seed);
  std::vector<interp::RuntimeValue> inputs;
  auto eval = [&](const ir::ExprRef& e) -> absl::StatusOr<int64_t> {
    return sym::Evaluate(*e, bindings);
  };
  for (const auto& p : graph.placeholders()) {
    switch (p->kind()) {
      case ir::Value::Kind::kTensor: {
        const ir::TensorType& t = p->type();
        std::vector<int64_t> sizes, strides;
        for (const auto& e : t.sizes) {
          auto v = eval(e);
          if (!v.ok()) return v.status();
          sizes.push_back(*v);
        }
        for (const auto& e : t.strides) {
          auto v = eval(e);
          if (!v.ok()) return v.status();
          strides.push_back(*v);
        }
        auto offset = eval(t.storage_offset);
        if (!offset.ok()) return offset.status();
        auto x = rt::Tensor::EmptyStrided(t.dtype, sizes, strides, *offset);
        if (!x.ok()) return x.status();
        std::uniform_real_distribution<double> real(-2.0, 2.0);
        // Small positive ints: valid class targets and indices for the
        // captured graphs' losses and gathers, never a zero divisor.
        std::uniform_int_distribution<int64_t> small(1, 3);
        std::uniform_int_distribution<int64_t> bit(0, 1);
        rt::ForEachIndex(x->sizes(), [&](const int64_t* idx) {
          uint8_t* dst = x->ElementPtr(idx);
          if (t.dtype == ir::DType::kBool) {
            rt::StoreScalar(rt::Scalar::Bool(bit(rng)), t.dtype, dst);
          } else if (ir::IsFloating(t.dtype)) {
            rt::StoreScalar(rt::Scalar::Float(real(rng)), t.dtype, dst);
          } else {
            rt::StoreScalar(rt::Scalar::Int(small(rng)), t.dtype, dst);
          }
        });
        inputs.push_back(interp::RuntimeValue::OfTensor(*std::move(x)));
        break;
      }
      case ir::Value::Kind::kSymInt: {
        auto v = eval(p->symint());
        if (!v.ok()) return v.status();
        inputs.push_back(interp::RuntimeValue::OfScalar(rt::Scalar::Int(*v)));
        break;
      }
      case ir::Value::Kind::kScalar:
        switch (p->scalar_kind()) {
          case ir::ScalarKind::kInt:
            inputs.push_back(
                interp::RuntimeValue::OfScalar(rt::Scalar::Int(2)));
            break;
          case ir::ScalarKind::kFloat:
            inputs.push_back(
                interp::RuntimeValue::OfScalar(rt::Scalar::Float(0.5)));
            break;
          case ir::ScalarKind::kBool:
            inputs.push_back(
                interp::RuntimeValue::OfScalar(rt::Scalar::Bool(true)));
            break;
          default:
            inputs.push_back(interp::RuntimeValue());
            break;
        }
        break;
    }
  }
  return inputs;
}

namespace {

bool SameBits(const uint8_t* a, const uint8_t* b, ir::DType dtype) {
  if (ir::IsFloating(dtype)) {
    double x = rt::LoadAsDouble(a, dtype), y = rt::LoadAsDouble(b, dtype);
    if (std::isnan(x) && std::isnan(y)) return true;
  }
  return std::memcmp(a, b, ir::ElementSize(dtype)) == 0;
}

// Fresh copies of the input tensors, same layouts: graphs may write their
// inputs (copy_), and each run must start from the same data.
absl::StatusOr<std::vector<interp::RuntimeValue>> Fresh(
    const std::vector<interp::RuntimeValue>& inputs) {
  std::vector<interp::RuntimeValue> out = inputs;
  for (interp::RuntimeValue& v : out) {
    if (v.kind != interp::RuntimeValue::Kind::kTensor) continue;
    const rt::Tensor& t = v.tensor;
    auto copy = rt::Tensor::EmptyStrided(t.dtype(), t.sizes(), t.strides(),
                                         t.storage_offset());
    if (!copy.ok()) return copy.status();
    if (auto st = copy->CopyFrom(t); !st.ok()) return st;
    v.tensor = *std::move(copy);
  }
  return out;
}

}  // namespace

absl::Status SameOutputs(const ir::Graph& a, const ir::Graph& b,
                         const std::vector<interp::RuntimeValue>& inputs) {
  auto ia = Fresh(inputs);
  if (!ia.ok()) return ia.status();
  auto ib = Fresh(inputs);
  if (!ib.ok()) return ib.status();
  auto ra = interp::RunGraph(a, *ia);
  if (!ra.ok()) return ra.status();
  auto rb = interp::RunGraph(b, *ib);
  if (!rb.ok()) return rb.status();
  if (ra->size() != rb->size()) {
    return absl::InternalError(
        absl::StrFormat("%d outputs vs %d", ra->size(), rb->size()));
  }
  for (size_t i = 0; i < ra->size(); ++i) {
    const interp::RuntimeValue& x = (*ra)[i];
    const interp::RuntimeValue& y = (*rb)[i];
    if (x.kind != y.kind) {
      return absl::InternalError(absl::StrFormat("output %d: kinds differ", i));
    }
    if (x.kind == interp::RuntimeValue::Kind::kScalar) {
      if (x.scalar.ToString() != y.scalar.ToString()) {
        return absl::InternalError(absl::StrFormat("output %d: %s vs %s", i,
                                                   x.scalar.ToString(),
                                                   y.scalar.ToString()));
      }
      continue;
    }
    if (x.kind != interp::RuntimeValue::Kind::kTensor) continue;
    const rt::Tensor& s = x.tensor;
    const rt::Tensor& t = y.tensor;
    if (s.dtype() != t.dtype() || s.sizes() != t.sizes()) {
      return absl::InternalError(absl::StrFormat(
          "output %d: %s vs %s", i, s.DebugString(0), t.DebugString(0)));
    }
    int64_t n = 0;
    absl::Status st = absl::OkStatus();
    rt::ForEachIndex(s.sizes(), [&](const int64_t* idx) {
      if (st.ok() &&
          !SameBits(s.ElementPtr(idx), t.ElementPtr(idx), s.dtype())) {
        st = absl::InternalError(
            absl::StrFormat("output %d element %d: %v vs %v", i, n,
                            rt::LoadAsDouble(s.ElementPtr(idx), s.dtype()),
                            rt::LoadAsDouble(t.ElementPtr(idx), t.dtype())));
      }
      ++n;
    });
    if (!st.ok()) return st;
  }
  // Inputs written in place must end equal too.
  for (size_t i = 0; i < ia->size(); ++i) {
    if ((*ia)[i].kind != interp::RuntimeValue::Kind::kTensor) continue;
    const rt::Tensor& s = (*ia)[i].tensor;
    const rt::Tensor& t = (*ib)[i].tensor;
    if (s.ContiguousBytes() != t.ContiguousBytes()) {
      return absl::InternalError(
          absl::StrFormat("input %d differs after the runs", i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMemoryPlan(const ir::Graph& graph) {
  const ir::MemoryPlan* plan = graph.memory_plan();
  if (plan == nullptr) return absl::InternalError("no memory plan");
  // Which values each value's storage may belong to (itself included).
  absl::flat_hash_map<const ir::Value*, std::vector<const ir::Value*>> may_be;
  std::vector<const ir::Value*> planned;
  for (const auto& n : graph.nodes()) {
    for (int o = 0; o < n->num_outputs(); ++o) {
      const ir::Value* v = n->output(o);
      if (v == nullptr) continue;
      std::vector<const ir::Value*> set = {v};
      for (int a : AliasedArgs(*n, o)) {
        n->arg(a).ForEachValue([&](const ir::Value* in) {
          auto it = may_be.find(in);
          if (it == may_be.end()) return;
          set.insert(set.end(), it->second.begin(), it->second.end());
        });
      }
      may_be[v] = set;
      if (v->buffer_slot() >= 0) {
        if (IsView(*n)) {
          return absl::InternalError(
              absl::StrCat("view '", v->name(), "' has a slot"));
        }
        planned.push_back(v);
      }
    }
  }
  auto aliases = [&](const ir::Value* root, const ir::Value* v) {
    auto it = may_be.find(v);
    if (it == may_be.end()) return false;
    return std::find(it->second.begin(), it->second.end(), root) !=
           it->second.end();
  };
  absl::flat_hash_map<const ir::Value*, std::pair<int, int>> life;
  for (const ir::Value* r : planned) {
    int start = r->producer()->index(), end = start;
    for (const auto& n : graph.nodes()) {
      bool uses = false;
      for (const ir::Value* v : n->Operands()) uses = uses || aliases(r, v);
      for (int o = 0; o < n->num_outputs(); ++o) {
        uses = uses || (n->output(o) && aliases(r, n->output(o)));
      }
      if (uses) end = std::max(end, n->index());
    }
    for (const ir::Arg& out : graph.outputs()) {
      if (out.kind == ir::Arg::Kind::kValue && aliases(r, out.value)) {
        return absl::InternalError(absl::StrCat(
            "'", r->name(), "' reaches a graph output but has a slot"));
      }
    }
    life[r] = {start, end};
    int slot = r->buffer_slot();
    if (slot >= static_cast<int>(plan->slot_bytes.size())) {
      return absl::InternalError("slot out of range");
    }
    auto bytes = plan->slot_bytes[slot]->AsConst();
    auto numel = r->type().Numel()->AsConst();
    if (bytes && numel && r->type().IsContiguous() &&
        *bytes < *numel * ir::ElementSize(r->type().dtype)) {
      return absl::InternalError(
          absl::StrCat("slot ", slot, " is too small for '", r->name(), "'"));
    }
  }
  for (const ir::Value* a : planned) {
    for (const ir::Value* b : planned) {
      if (a == b || a->buffer_slot() != b->buffer_slot()) continue;
      auto [s1, e1] = life[a];
      auto [s2, e2] = life[b];
      if (!(e1 < s2 || e2 < s1)) {
        return absl::InternalError(absl::StrFormat(
            "'%s' [%d, %d] and '%s' [%d, %d] share slot %d", a->name(), s1, e1,
            b->name(), s2, e2, a->buffer_slot()));
      }
    }
  }
  return absl::OkStatus();
}

int KernelCount(std::string_view text) {
  auto g = ir::ParseGraph(Trim(text));
  return g.ok() ? ir::CountKernels(**g) : -1;
}

}  // namespace kiln::passes::testing
