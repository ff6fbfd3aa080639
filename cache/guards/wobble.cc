// Automatic-dynamic hints: which static dims a call changed, when nothing
// but sizes tells the call apart from the stored guards.
#include <vector>

#include "cache/guards/guard_set.h"
#include "cache/guards/internal.h"

namespace kiln::cache {
namespace guards_internal {
namespace {

// Same structure (type, subclass tree, dtype, rank) and the static sizes
// that differ, recorded per tensor path. False when the structure differs.
bool Wobbles(const Plan& g, const TensorPlan& p, const v1::TensorGuard& t,
             std::vector<v1::DynamicDimHint>* hints) {
  const v1::TensorMeta& m = t.meta();
  if (t.type_name() != p.type_name || t.has_subclass() != p.is_subclass ||
      m.dtype() != p.dtype || m.sizes_size() != p.rank ||
      m.strides_size() != p.rank) {
    return false;
  }
  v1::DynamicDimHint hint;
  for (int d = 0; d < p.rank; ++d) {
    const DimOp& op = g.ops[p.ops + d];
    if (op.kind == DimKind::kStatic && m.sizes(d).static_size() != op.value) {
      hint.add_dims(d);
    }
  }
  if (hint.dims_size() > 0) {
    hint.set_input_index(p.input_index);
    hint.set_path(p.path);
    hints->push_back(std::move(hint));
  }
  if (!p.is_subclass) return true;
  const v1::SubclassInfo& s = t.subclass();
  if (static_cast<size_t>(s.inner_size()) != p.inner_names.size()) {
    return false;
  }
  for (int j = 0; j < s.inner_size(); ++j) {
    if (s.inner(j).name() != p.inner_names[j] ||
        !Wobbles(g, g.tensors[p.children + j], s.inner(j).guard(), hints)) {
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace guards_internal

std::vector<v1::DynamicDimHint> GuardSet::WobbledDims(
    const v1::CallSignature& call) const {
  using guards_internal::InputPlan;
  const Impl& g = *impl_;
  std::vector<v1::DynamicDimHint> hints;
  if (Check(call) ||
      !guards_internal::GlobalStateEqual(g.canonical.global_state(),
                                         call.global_state()) ||
      call.inputs_size() != static_cast<int>(g.inputs.size())) {
    return {};
  }
  for (int i = 0; i < call.inputs_size(); ++i) {
    const InputPlan& ip = g.inputs[i];
    const v1::InputGuard& in = call.inputs(i);
    if (in.kind_case() != ip.kind) return {};
    if (ip.kind == v1::InputGuard::kTensor &&
        !guards_internal::Wobbles(g, g.tensors[ip.tensor], in.tensor(),
                                  &hints)) {
      return {};
    }
  }
  return hints;
}

}  // namespace kiln::cache
