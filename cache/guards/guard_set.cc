// GuardSet: construction (validate, canonicalize, digest, plan) and the
// accessors. Evaluation lives in evaluate.cc, hints in wobble.cc, words in
// describe.cc.
#include "cache/guards/guard_set.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "cache/guards/internal.h"

namespace kiln::cache {

GuardSet::GuardSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GuardSet::~GuardSet() = default;

absl::StatusOr<std::shared_ptr<const GuardSet>> GuardSet::Create(
    const v1::GuardContext& context, const GuardLimits& limits) {
  if (absl::Status s = guards_internal::ValidateContext(context, limits);
      !s.ok()) {
    return s;
  }
  auto impl = std::make_unique<Impl>();
  impl->canonical = guards_internal::Canonicalize(context);
  impl->digest = guards_internal::DigestOf(impl->canonical);
  if (absl::Status s = guards_internal::BuildPlan(impl.get()); !s.ok()) {
    return s;
  }
  return std::shared_ptr<const GuardSet>(new GuardSet(std::move(impl)));
}

const std::string& GuardSet::digest() const { return impl_->digest; }

const v1::GuardContext& GuardSet::canonical() const { return impl_->canonical; }

bool GuardSet::has_custom_metadata_guard() const {
  return impl_->has_custom_metadata_guard;
}

int GuardSet::placeholder_count() const { return impl_->placeholder_count; }

int GuardSet::input_count() const {
  return static_cast<int>(impl_->inputs.size());
}

std::vector<v1::StoredMetadata> GuardSet::CustomMetadata() const {
  std::vector<v1::StoredMetadata> out;
  // Tensors are stored children-after-parent, but walk order is pre-order;
  // follow the tree.
  std::vector<int32_t> stack;
  for (const guards_internal::InputPlan& in : impl_->inputs) {
    if (in.tensor < 0) continue;
    stack.push_back(in.tensor);
    while (!stack.empty()) {
      const guards_internal::TensorPlan& t = impl_->tensors[stack.back()];
      stack.pop_back();
      if (!t.is_subclass) continue;
      if (t.has_metadata_guard) {
        v1::StoredMetadata m;
        m.set_path(t.path);
        m.set_type_name(t.type_name);
        if (t.metadata != nullptr) {
          *m.mutable_metadata() = *t.metadata;
        } else {
          m.mutable_metadata()->mutable_none();
        }
        out.push_back(std::move(m));
      }
      for (size_t j = t.inner_names.size(); j-- > 0;) {
        stack.push_back(static_cast<int32_t>(t.children + j));
      }
    }
  }
  return out;
}

}  // namespace kiln::cache
