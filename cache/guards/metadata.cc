// Equality of subclass flatten contexts and constant inputs, without
// allocation (the pass path of Check).
#include <cstring>

#include "cache/guards/internal.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache::guards_internal {
namespace {

bool IsNone(const v1::MetadataValue* v) {
  return v == nullptr || v->kind_case() == v1::MetadataValue::kNone ||
         v->kind_case() == v1::MetadataValue::KIND_NOT_SET;
}

bool SameBits(double a, double b) {
  uint64_t x, y;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  return x == y;
}

bool SequenceMatches(const v1::MetadataSequence& stored,
                     const v1::MetadataSequence& call) {
  if (stored.values_size() != call.values_size()) return false;
  for (int i = 0; i < stored.values_size(); ++i) {
    if (!MetadataMatches(&stored.values(i), &call.values(i))) return false;
  }
  return true;
}

}  // namespace

// Byte equality of the deterministic serializations, computed structurally
// (both sides are validated: dicts sorted, one kind set), except that a
// stored `symint` matches any int.
bool MetadataMatches(const v1::MetadataValue* stored,
                     const v1::MetadataValue* call) {
  if (IsNone(stored) || IsNone(call)) return IsNone(stored) && IsNone(call);
  if (stored->kind_case() == v1::MetadataValue::kSymint) {
    return call->kind_case() == v1::MetadataValue::kIntValue;
  }
  if (stored->kind_case() != call->kind_case()) return false;
  switch (stored->kind_case()) {
    case v1::MetadataValue::kBoolValue:
      return stored->bool_value() == call->bool_value();
    case v1::MetadataValue::kIntValue:
      return stored->int_value() == call->int_value();
    case v1::MetadataValue::kFloatValue:
      return SameBits(stored->float_value(), call->float_value());
    case v1::MetadataValue::kStringValue:
      return stored->string_value() == call->string_value();
    case v1::MetadataValue::kBytesValue:
      return stored->bytes_value() == call->bytes_value();
    case v1::MetadataValue::kTuple:
      return SequenceMatches(stored->tuple(), call->tuple());
    case v1::MetadataValue::kList:
      return SequenceMatches(stored->list(), call->list());
    case v1::MetadataValue::kDict: {
      const auto& a = stored->dict().entries();
      const auto& b = call->dict().entries();
      if (a.size() != b.size()) return false;
      for (int i = 0; i < a.size(); ++i) {
        if (!MetadataMatches(&a.Get(i).key(), &b.Get(i).key()) ||
            !MetadataMatches(&a.Get(i).value(), &b.Get(i).value())) {
          return false;
        }
      }
      return true;
    }
    case v1::MetadataValue::kDtype:
      return stored->dtype() == call->dtype();
    case v1::MetadataValue::kDevice:
      return stored->device().type() == call->device().type() &&
             stored->device().index() == call->device().index();
    case v1::MetadataValue::kOpaque:
      return stored->opaque().type_name() == call->opaque().type_name() &&
             stored->opaque().repr() == call->opaque().repr();
    default:
      return false;
  }
}

// Python `==` within one type: an int never matches a float or a bool; NaN
// never matches; 0.0 matches -0.0.
bool ConstantMatches(const v1::ConstantGuard& stored,
                     const v1::ConstantGuard& call) {
  if (stored.value_case() != call.value_case()) return false;
  switch (stored.value_case()) {
    case v1::ConstantGuard::kIntValue:
      return stored.int_value() == call.int_value();
    case v1::ConstantGuard::kFloatValue:
      return stored.float_value() == call.float_value();
    case v1::ConstantGuard::kBoolValue:
      return stored.bool_value() == call.bool_value();
    case v1::ConstantGuard::kStringValue:
      return stored.string_value() == call.string_value();
    case v1::ConstantGuard::kNone:
      return true;
    default:
      return false;
  }
}

}  // namespace kiln::cache::guards_internal
