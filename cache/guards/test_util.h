// Builders for guard contexts and call signatures in tests and benchmarks:
//
//   auto ctx = Ctx().In(T().Sizes({"s0", 4})).Build();   // dynamic dim 0
//   auto call = Sig().In(T().Sizes({7, 4})).Build();
//
// T() is a plain float32 cpu torch.Tensor with contiguous strides derived
// from its sizes (symbolic where the sizes are). Ctx declares every symbol
// it meets with min 2 (a dynamic size) unless Sym() declared it first.
#ifndef KILN_CACHE_GUARDS_TEST_UTIL_H_
#define KILN_CACHE_GUARDS_TEST_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/guards/guard_set.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache::testing {

// Symbolic expressions.
v1::SymExpr S(const std::string& symbol);
v1::SymExpr C(int64_t value);
v1::SymExpr BoolC(bool value);
v1::SymExpr Op(v1::SymExpr::Op op, std::vector<v1::SymExpr> operands);
v1::SymExpr Add(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Sub(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Mul(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr FloorDiv(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Mod(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Eq(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Ne(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Lt(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Le(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Gt(v1::SymExpr a, v1::SymExpr b);
v1::SymExpr Ge(v1::SymExpr a, v1::SymExpr b);

// One size / stride / offset: an int, a symbol name or an expression.
struct D {
  D(int64_t value);            // NOLINT: implicit on purpose
  D(int value);                // NOLINT
  D(const char* symbol);       // NOLINT
  D(const v1::SymExpr& expr);  // NOLINT
  v1::Dim dim;
};

// Flatten-context metadata values.
namespace M {
v1::MetadataValue None();
v1::MetadataValue Bool(bool v);
v1::MetadataValue Int(int64_t v);
v1::MetadataValue Float(double v);
v1::MetadataValue Str(const std::string& v);
v1::MetadataValue Bytes(const std::string& v);
v1::MetadataValue Tuple(std::vector<v1::MetadataValue> values);
v1::MetadataValue List(std::vector<v1::MetadataValue> values);
// Entries are sorted by key serialization, as the wire requires.
v1::MetadataValue Dict(
    std::vector<std::pair<v1::MetadataValue, v1::MetadataValue>> entries);
v1::MetadataValue SymInt();
v1::MetadataValue DType(v1::DType dtype);
v1::MetadataValue Device(v1::DeviceType type, int index);
v1::MetadataValue Opaque(const std::string& type_name, const std::string& repr);
}  // namespace M

// A tensor guard (context) or tensor (signature).
class T {
 public:
  explicit T(std::string type_name = "torch.Tensor");
  // Sets the sizes and contiguous strides.
  T& Sizes(std::vector<D> sizes);
  T& Strides(std::vector<D> strides);
  T& Offset(D offset);
  T& DType(v1::DType dtype);
  T& Cuda(int index);
  T& Grad(bool requires_grad = true);
  T& Alias(int group);
  // Makes it a traceable wrapper subclass (no inner tensors yet).
  T& Wrapper();
  T& Inner(const std::string& name, const T& inner);
  T& Metadata(const v1::MetadataValue& metadata);
  T& MetadataGuard(bool custom = true);

  const v1::TensorGuard& guard() const { return guard_; }

 private:
  v1::TensorGuard guard_;
};

v1::GlobalState DefaultGlobal();

v1::ConstantGuard CInt(int64_t v);
v1::ConstantGuard CFloat(double v);
v1::ConstantGuard CBool(bool v);
v1::ConstantGuard CStr(const std::string& v);
v1::ConstantGuard CNone();

// A GuardContext.
class Ctx {
 public:
  Ctx();
  Ctx& In(const T& tensor);
  Ctx& SymInt(const v1::SymExpr& expr);
  Ctx& Constant(const v1::ConstantGuard& value);
  // Declares a symbol (otherwise declared on first use with min 2).
  Ctx& Sym(const std::string& name, int64_t hint,
           std::optional<int64_t> min = 2,
           std::optional<int64_t> max = std::nullopt);
  Ctx& Guard(const v1::SymExpr& shape_guard);
  v1::GlobalState& global() { return *context_.mutable_global_state(); }
  Ctx& Global(const v1::GlobalState& state);
  // Without auto-declared symbols (for validation tests).
  Ctx& NoAutoSymbols();

  v1::GuardContext Build() const;

 private:
  v1::GuardContext context_;
  bool auto_symbols_ = true;
};

// A CallSignature.
class Sig {
 public:
  Sig();
  Sig& In(const T& tensor);
  Sig& SymInt(int64_t value);
  Sig& Constant(const v1::ConstantGuard& value);
  v1::GlobalState& global() { return *call_.mutable_global_state(); }
  Sig& Global(const v1::GlobalState& state);
  v1::CallSignature Build() const { return call_; }

 private:
  v1::CallSignature call_;
};

// Create() that must succeed (fails the test otherwise, returning null).
std::shared_ptr<const GuardSet> MustCreate(const v1::GuardContext& context);

}  // namespace kiln::cache::testing

#endif  // KILN_CACHE_GUARDS_TEST_UTIL_H_
