// Internals of GuardSet shared by its implementation files (not part of the
// public interface; include only from cache/guards/*.cc and tests).
#ifndef KILN_CACHE_GUARDS_INTERNAL_H_
#define KILN_CACHE_GUARDS_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cache/guards/guard_set.h"
#include "compiler/symbolic/expr.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache::guards_internal {

// ---------------------------------------------------------------------------
// The evaluation plan: a GuardContext precompiled into flat arrays, so that
// Check walks a CallSignature once, comparing integers and strings, without
// allocating.
// ---------------------------------------------------------------------------

// How one size, stride, storage offset or SymInt value is checked.
enum class DimKind : uint8_t {
  kStatic,    // the call's value must equal `value`
  kBind,      // first occurrence of a bare symbol: binds slot `slot`
  kSame,      // later occurrence of a bare symbol: must equal slot `slot`
  kExpr,      // a compound expression whose symbols are all bound here
  kDeferred,  // a compound expression evaluated after the input walk
};

// What a DimOp is about (for paths and failure kinds).
enum class Component : uint8_t { kSize, kStride, kStorageOffset, kValue };

struct DimOp {
  DimKind kind = DimKind::kStatic;
  // A bare-symbol size: 0/1 specialization requires the value to be >= 2.
  bool size_symbol = false;
  // kExpr and kDeferred of the form coef * s + value (derived sizes and
  // contiguous strides): evaluated inline, without the program.
  bool linear = false;
  int32_t slot = -1;      // kBind, kSame; linear: the symbol
  int32_t program = -1;   // kExpr, kDeferred: index into Plan::exprs
  int32_t deferred = -1;  // kDeferred: index into Plan::deferred
  int64_t value = 0;      // kStatic; linear: the constant term
  int64_t coef = 0;       // linear: the coefficient
};

// One tensor (top-level input or subclass inner tensor), in walk order.
struct TensorPlan {
  std::string type_name;
  // "inputs[0]", "inputs[0].subclass(TwoTensor).inner(a)", ...
  std::string path;
  int32_t input_index = 0;
  int32_t dtype = 0;
  int32_t device_type = 0;
  int32_t device_index = 0;
  bool requires_grad = false;
  int32_t rank = 0;
  // First of the tensor's 2 * rank + 1 DimOps: sizes, strides, offset.
  uint32_t ops = 0;
  // Index among the non-wrapper tensors (aliasing); -1 for a wrapper.
  int32_t leaf = -1;
  bool is_subclass = false;
  bool has_metadata_guard = false;
  // The stored flatten context (points into canonical); null = None.
  const v1::MetadataValue* metadata = nullptr;
  // "Name" of `subclass(Name)`: the last dotted component of type_name.
  std::string short_name;
  std::vector<std::string> inner_names;
  // The inner tensors' plans are tensors[children, children + inner_count).
  uint32_t children = 0;
};

// One top-level input.
struct InputPlan {
  v1::InputGuard::KindCase kind = v1::InputGuard::KIND_NOT_SET;
  int32_t tensor = -1;                          // kTensor: its TensorPlan
  uint32_t op = 0;                              // kSymint: its DimOp
  const v1::ConstantGuard* constant = nullptr;  // kConstant (in canonical)
};

// A compound expression evaluated after the input walk; the call's value is
// recorded when the walk passes it.
struct Deferred {
  uint32_t op = 0;
  int32_t tensor = -1;  // -1 for a SymInt input
  int32_t input_index = 0;
  Component component = Component::kSize;
  int32_t dim = 0;
};

struct RangeCheck {
  int32_t slot = 0;
  bool has_min = false;
  bool has_max = false;
  int64_t min = 0;
  int64_t max = 0;
};

// An expression compiled for evaluation, with its text for explanations.
struct CompiledExpr {
  sym::ExprRef expr;
  sym::Program program;
};

// Everything a GuardSet holds (GuardSet::Impl is this).
struct Plan {
  v1::GuardContext canonical;
  std::string digest;

  int num_symbols = 0;  // slots s0 .. s{n-1}
  int num_leaves = 0;   // non-wrapper tensors (aliasing)
  std::vector<guards_internal::InputPlan> inputs;
  std::vector<guards_internal::TensorPlan> tensors;
  std::vector<guards_internal::DimOp> ops;
  std::vector<guards_internal::CompiledExpr> exprs;
  std::vector<guards_internal::Deferred> deferred;
  // Aliasing: for each leaf, the first leaf of its (canonical) alias group,
  // or -1 when it aliases nothing.
  std::vector<int32_t> alias_first;
  // For each leaf, its TensorPlan.
  std::vector<int32_t> leaf_tensor;
  bool has_alias_groups = false;
  std::vector<guards_internal::RangeCheck> ranges;
  std::vector<guards_internal::CompiledExpr> shape_guards;
  bool has_custom_metadata_guard = false;
  // Leaf count in the graph-placeholder sense (tensor leaves + SymInts +
  // constants).
  int placeholder_count = 0;
};

// validate.cc: INVALID_ARGUMENT naming the field ("guards.inputs[0]...").
absl::Status ValidateContext(const v1::GuardContext& context,
                             const GuardLimits& limits);

// canonicalize.cc: the canonical form of a validated context (guards.proto
// header), and the digest of a canonical context.
v1::GuardContext Canonicalize(const v1::GuardContext& context);
std::string DigestOf(const v1::GuardContext& canonical);
std::string Sha256Hex(std::string_view bytes);
std::string SerializeDeterministic(const google::protobuf::Message& message);

// plan.cc: builds the evaluation plan of a canonical, validated context.
absl::Status BuildPlan(Plan* plan);

// evaluate.cc
bool GlobalStateEqual(const v1::GlobalState& a, const v1::GlobalState& b);

// metadata.cc
// Stored (may hold `symint` wildcards; null means None) vs call metadata.
bool MetadataMatches(const v1::MetadataValue* stored,
                     const v1::MetadataValue* call);
bool ConstantMatches(const v1::ConstantGuard& stored,
                     const v1::ConstantGuard& call);

// format.cc: values in words, Python-like.
std::string FormatMetadataValue(const v1::MetadataValue* value);
std::string FormatConstant(const v1::ConstantGuard& value);
std::string FormatDType(int dtype);
std::string FormatDevice(int type, int index);
std::string FormatBool(bool value);
std::string FormatTorchFunction(int state);
std::string FormatMatmulPrecision(int precision);
std::string PythonStr(std::string_view s);
std::string PythonFloat(double value);
std::string FormatNameList(const std::vector<std::string>& names);
// `s<slot>`.
std::string SymbolName(int slot);
// The last dotted component of a type name.
std::string ShortTypeName(std::string_view type_name);

}  // namespace kiln::cache::guards_internal

namespace kiln::cache {
struct GuardSet::Impl : guards_internal::Plan {};
}  // namespace kiln::cache

#endif  // KILN_CACHE_GUARDS_INTERNAL_H_
