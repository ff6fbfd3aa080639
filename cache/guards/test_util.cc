#include "cache/guards/test_util.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kiln::cache::testing {

v1::SymExpr S(const std::string& symbol) {
  v1::SymExpr e;
  e.set_op(v1::SymExpr::SYMBOL);
  e.set_symbol(symbol);
  return e;
}

v1::SymExpr C(int64_t value) {
  v1::SymExpr e;
  e.set_op(v1::SymExpr::CONSTANT);
  e.set_constant(value);
  return e;
}

v1::SymExpr BoolC(bool value) {
  v1::SymExpr e;
  e.set_op(v1::SymExpr::BOOL_CONSTANT);
  e.set_bool_value(value);
  return e;
}

v1::SymExpr Op(v1::SymExpr::Op op, std::vector<v1::SymExpr> operands) {
  v1::SymExpr e;
  e.set_op(op);
  for (v1::SymExpr& o : operands) *e.add_operands() = std::move(o);
  return e;
}

v1::SymExpr Add(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::ADD, {std::move(a), std::move(b)});
}
v1::SymExpr Sub(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::SUB, {std::move(a), std::move(b)});
}
v1::SymExpr Mul(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::MUL, {std::move(a), std::move(b)});
}
v1::SymExpr FloorDiv(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::FLOOR_DIV, {std::move(a), std::move(b)});
}
v1::SymExpr Mod(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::MOD, {std::move(a), std::move(b)});
}
v1::SymExpr Eq(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::EQ, {std::move(a), std::move(b)});
}
v1::SymExpr Ne(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::NE, {std::move(a), std::move(b)});
}
v1::SymExpr Lt(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::LT, {std::move(a), std::move(b)});
}
v1::SymExpr Le(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::LE, {std::move(a), std::move(b)});
}
v1::SymExpr Gt(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::GT, {std::move(a), std::move(b)});
}
v1::SymExpr Ge(v1::SymExpr a, v1::SymExpr b) {
  return Op(v1::SymExpr::GE, {std::move(a), std::move(b)});
}

D::D(int64_t value) { dim.set_static_size(value); }
D::D(int value) { dim.set_static_size(value); }
D::D(const char* symbol) { *dim.mutable_expr() = S(symbol); }
D::D(const v1::SymExpr& expr) { *dim.mutable_expr() = expr; }

namespace M {
v1::MetadataValue None() {
  v1::MetadataValue v;
  v.mutable_none();
  return v;
}
v1::MetadataValue Bool(bool b) {
  v1::MetadataValue v;
  v.set_bool_value(b);
  return v;
}
v1::MetadataValue Int(int64_t i) {
  v1::MetadataValue v;
  v.set_int_value(i);
  return v;
}
v1::MetadataValue Float(double f) {
  v1::MetadataValue v;
  v.set_float_value(f);
  return v;
}
v1::MetadataValue Str(const std::string& s) {
  v1::MetadataValue v;
  v.set_string_value(s);
  return v;
}
v1::MetadataValue Bytes(const std::string& s) {
  v1::MetadataValue v;
  v.set_bytes_value(s);
  return v;
}
v1::MetadataValue Tuple(std::vector<v1::MetadataValue> values) {
  v1::MetadataValue v;
  for (auto& x : values) *v.mutable_tuple()->add_values() = std::move(x);
  v.mutable_tuple();
  return v;
}
v1::MetadataValue List(std::vector<v1::MetadataValue> values) {
  v1::MetadataValue v;
  for (auto& x : values) *v.mutable_list()->add_values() = std::move(x);
  v.mutable_list();
  return v;
}
v1::MetadataValue Dict(
    std::vector<std::pair<v1::MetadataValue, v1::MetadataValue>> entries) {
  auto key = [](const v1::MetadataValue& k) {
    std::string s;
    k.SerializeToString(&s);
    return s;
  };
  std::sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    return key(a.first) < key(b.first);
  });
  v1::MetadataValue v;
  v.mutable_dict();
  for (auto& [k, x] : entries) {
    v1::MetadataDictEntry* e = v.mutable_dict()->add_entries();
    *e->mutable_key() = std::move(k);
    *e->mutable_value() = std::move(x);
  }
  return v;
}
v1::MetadataValue SymInt() {
  v1::MetadataValue v;
  v.mutable_symint();
  return v;
}
v1::MetadataValue DType(v1::DType dtype) {
  v1::MetadataValue v;
  v.set_dtype(dtype);
  return v;
}
v1::MetadataValue Device(v1::DeviceType type, int index) {
  v1::MetadataValue v;
  v.mutable_device()->set_type(type);
  v.mutable_device()->set_index(index);
  return v;
}
v1::MetadataValue Opaque(const std::string& type_name,
                         const std::string& repr) {
  v1::MetadataValue v;
  v.mutable_opaque()->set_type_name(type_name);
  v.mutable_opaque()->set_repr(repr);
  return v;
}
}  // namespace M

T::T(std::string type_name) {
  guard_.set_type_name(std::move(type_name));
  v1::TensorMeta* m = guard_.mutable_meta();
  m->set_dtype(v1::FLOAT32);
  m->mutable_device()->set_type(v1::CPU);
}

T& T::Sizes(std::vector<D> sizes) {
  v1::TensorMeta* m = guard_.mutable_meta();
  m->clear_sizes();
  m->clear_strides();
  for (const D& d : sizes) *m->add_sizes() = d.dim;
  // Contiguous strides: the product of the later sizes.
  std::vector<v1::Dim> strides(sizes.size());
  int64_t constant = 1;
  std::vector<v1::SymExpr> factors;
  for (size_t i = sizes.size(); i-- > 0;) {
    v1::Dim& s = strides[i];
    if (factors.empty()) {
      s.set_static_size(constant);
    } else if (constant == 1 && factors.size() == 1) {
      *s.mutable_expr() = factors[0];
    } else {
      std::vector<v1::SymExpr> operands;
      if (constant != 1) operands.push_back(C(constant));
      operands.insert(operands.end(), factors.begin(), factors.end());
      *s.mutable_expr() = Op(v1::SymExpr::MUL, std::move(operands));
    }
    const v1::Dim& size = sizes[i].dim;
    if (size.has_static_size()) {
      constant *= size.static_size();
    } else {
      factors.insert(factors.begin(), size.expr());
    }
  }
  for (v1::Dim& s : strides) *m->add_strides() = std::move(s);
  return *this;
}

T& T::Strides(std::vector<D> strides) {
  v1::TensorMeta* m = guard_.mutable_meta();
  m->clear_strides();
  for (const D& d : strides) *m->add_strides() = d.dim;
  return *this;
}

T& T::Offset(D offset) {
  *guard_.mutable_meta()->mutable_storage_offset() = offset.dim;
  return *this;
}

T& T::DType(v1::DType dtype) {
  guard_.mutable_meta()->set_dtype(dtype);
  return *this;
}

T& T::Cuda(int index) {
  guard_.mutable_meta()->mutable_device()->set_type(v1::CUDA);
  guard_.mutable_meta()->mutable_device()->set_index(index);
  return *this;
}

T& T::Grad(bool requires_grad) {
  guard_.mutable_meta()->set_requires_grad(requires_grad);
  return *this;
}

T& T::Alias(int group) {
  guard_.set_alias_group(group);
  return *this;
}

T& T::Wrapper() {
  guard_.mutable_subclass();
  return *this;
}

T& T::Inner(const std::string& name, const T& inner) {
  v1::InnerTensor* in = guard_.mutable_subclass()->add_inner();
  in->set_name(name);
  *in->mutable_guard() = inner.guard();
  return *this;
}

T& T::Metadata(const v1::MetadataValue& metadata) {
  *guard_.mutable_subclass()->mutable_metadata() = metadata;
  return *this;
}

T& T::MetadataGuard(bool custom) {
  guard_.mutable_subclass()->set_has_metadata_guard(custom);
  return *this;
}

v1::GlobalState DefaultGlobal() {
  v1::GlobalState g;
  g.set_grad_mode(true);
  g.set_torch_function(v1::GlobalState::ENABLED);
  v1::AutocastState* cpu = g.add_autocast();
  cpu->set_device_type("cpu");
  cpu->set_dtype(v1::BFLOAT16);
  v1::AutocastState* cuda = g.add_autocast();
  cuda->set_device_type("cuda");
  cuda->set_dtype(v1::FLOAT16);
  g.set_default_dtype(v1::FLOAT32);
  g.set_fp32_matmul_precision(v1::GlobalState::HIGHEST);
  return g;
}

v1::ConstantGuard CInt(int64_t v) {
  v1::ConstantGuard c;
  c.set_int_value(v);
  return c;
}
v1::ConstantGuard CFloat(double v) {
  v1::ConstantGuard c;
  c.set_float_value(v);
  return c;
}
v1::ConstantGuard CBool(bool v) {
  v1::ConstantGuard c;
  c.set_bool_value(v);
  return c;
}
v1::ConstantGuard CStr(const std::string& v) {
  v1::ConstantGuard c;
  c.set_string_value(v);
  return c;
}
v1::ConstantGuard CNone() {
  v1::ConstantGuard c;
  c.mutable_none();
  return c;
}

Ctx::Ctx() { *context_.mutable_global_state() = DefaultGlobal(); }

Ctx& Ctx::In(const T& tensor) {
  *context_.add_inputs()->mutable_tensor() = tensor.guard();
  return *this;
}

Ctx& Ctx::SymInt(const v1::SymExpr& expr) {
  *context_.add_inputs()->mutable_symint()->mutable_expr() = expr;
  return *this;
}

Ctx& Ctx::Constant(const v1::ConstantGuard& value) {
  *context_.add_inputs()->mutable_constant() = value;
  return *this;
}

Ctx& Ctx::Sym(const std::string& name, int64_t hint, std::optional<int64_t> min,
              std::optional<int64_t> max) {
  v1::SymbolDecl* d = context_.add_symbols();
  d->set_name(name);
  d->set_hint(hint);
  if (min) d->set_min(*min);
  if (max) d->set_max(*max);
  return *this;
}

Ctx& Ctx::Guard(const v1::SymExpr& shape_guard) {
  *context_.add_shape_guards() = shape_guard;
  return *this;
}

Ctx& Ctx::Global(const v1::GlobalState& state) {
  *context_.mutable_global_state() = state;
  return *this;
}

Ctx& Ctx::NoAutoSymbols() {
  auto_symbols_ = false;
  return *this;
}

namespace {

void Symbols(const v1::SymExpr& e, std::vector<std::string>* out) {
  if (e.op() == v1::SymExpr::SYMBOL &&
      std::find(out->begin(), out->end(), e.symbol()) == out->end()) {
    out->push_back(e.symbol());
  }
  for (const v1::SymExpr& o : e.operands()) Symbols(o, out);
}

void TensorSymbols(const v1::TensorGuard& t, std::vector<std::string>* out) {
  for (const v1::Dim& d : t.meta().sizes()) {
    if (d.has_expr()) Symbols(d.expr(), out);
  }
  for (const v1::Dim& d : t.meta().strides()) {
    if (d.has_expr()) Symbols(d.expr(), out);
  }
  if (t.meta().storage_offset().has_expr()) {
    Symbols(t.meta().storage_offset().expr(), out);
  }
  for (const v1::InnerTensor& in : t.subclass().inner()) {
    TensorSymbols(in.guard(), out);
  }
}

}  // namespace

v1::GuardContext Ctx::Build() const {
  v1::GuardContext c = context_;
  if (!auto_symbols_) return c;
  std::vector<std::string> used;
  for (const v1::InputGuard& in : c.inputs()) {
    if (in.has_tensor()) TensorSymbols(in.tensor(), &used);
    if (in.has_symint()) Symbols(in.symint().expr(), &used);
  }
  for (const v1::SymExpr& g : c.shape_guards()) Symbols(g, &used);
  std::set<std::string> declared;
  for (const v1::SymbolDecl& d : c.symbols()) declared.insert(d.name());
  for (const std::string& name : used) {
    if (declared.count(name)) continue;
    v1::SymbolDecl* d = c.add_symbols();
    d->set_name(name);
    d->set_hint(2);
    d->set_min(2);
  }
  return c;
}

Sig::Sig() { *call_.mutable_global_state() = DefaultGlobal(); }

Sig& Sig::In(const T& tensor) {
  *call_.add_inputs()->mutable_tensor() = tensor.guard();
  return *this;
}

Sig& Sig::SymInt(int64_t value) {
  *call_.add_inputs()->mutable_symint()->mutable_expr() = C(value);
  return *this;
}

Sig& Sig::Constant(const v1::ConstantGuard& value) {
  *call_.add_inputs()->mutable_constant() = value;
  return *this;
}

Sig& Sig::Global(const v1::GlobalState& state) {
  *call_.mutable_global_state() = state;
  return *this;
}

std::shared_ptr<const GuardSet> MustCreate(const v1::GuardContext& context) {
  absl::StatusOr<std::shared_ptr<const GuardSet>> g = GuardSet::Create(context);
  if (!g.ok()) {
    std::fprintf(stderr, "GuardSet::Create failed: %s\n",
                 g.status().ToString().c_str());
    std::abort();
  }
  return *std::move(g);
}

}  // namespace kiln::cache::testing
