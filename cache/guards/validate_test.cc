// Validation of GuardContext (GuardSet::Create) and CallSignature
// (ValidateSignature): the status code and the exact path of the offending
// field.
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::Add;
using testing::BoolC;
using testing::C;
using testing::CInt;
using testing::Ctx;
using testing::Eq;
using testing::Ge;
using testing::Op;
using testing::S;
using testing::Sig;
using testing::T;
namespace M = testing::M;

// The status message up to the first ": " (the path), or the whole message.
std::string PathOf(const absl::Status& s) {
  std::string m(s.message());
  return m.substr(0, m.find(": "));
}

struct Case {
  std::string name;
  std::function<void(v1::GuardContext*)> mutate;
  std::string path;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
};

v1::GuardContext Valid() {
  return Ctx()
      .In(T().Sizes({"s0", 4}))
      .In(T("test.TwoTensor")
              .Sizes({3})
              .Inner("a", T().Sizes({3}))
              .Inner("b", T().Sizes({3}))
              .Metadata(M::Dict({{M::Str("k"), M::Int(1)}})))
      .SymInt(S("s1"))
      .Constant(CInt(2))
      .Sym("s1", 5, std::nullopt)
      .Guard(Ge(S("s0"), C(2)))
      .Build();
}

v1::TensorGuard* Tensor(v1::GuardContext* c, int i) {
  return c->mutable_inputs(i)->mutable_tensor();
}

TEST(ValidateContext, ValidContextIsAccepted) {
  EXPECT_TRUE(GuardSet::Create(Valid()).ok());
  EXPECT_TRUE(ValidateGuardContext(Valid()).ok());
}

TEST(ValidateContext, ErrorsNameTheField) {
  std::vector<Case> cases = {
      {"input kind", [](v1::GuardContext* c) { c->add_inputs(); },
       "guards.inputs[4]"},
      {"type name",
       [](v1::GuardContext* c) { Tensor(c, 0)->clear_type_name(); },
       "guards.inputs[0].tensor.type_name"},
      {"meta", [](v1::GuardContext* c) { Tensor(c, 0)->clear_meta(); },
       "guards.inputs[0].tensor.meta"},
      {"dtype",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->set_dtype(v1::DTYPE_UNSPECIFIED);
       },
       "guards.inputs[0].tensor.meta.dtype"},
      {"unknown dtype",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->set_dtype(static_cast<v1::DType>(99));
       },
       "guards.inputs[0].tensor.meta.dtype"},
      {"device",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->clear_device();
       },
       "guards.inputs[0].tensor.meta.device"},
      {"cpu index",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->mutable_device()->set_index(1);
       },
       "guards.inputs[0].tensor.meta.device.index"},
      {"stride count",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->mutable_strides()->RemoveLast();
       },
       "guards.inputs[0].tensor.meta.strides"},
      {"unset dim",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->mutable_sizes(1)->Clear();
       },
       "guards.inputs[0].tensor.meta.sizes[1]"},
      {"negative size",
       [](v1::GuardContext* c) {
         Tensor(c, 0)->mutable_meta()->mutable_sizes(1)->set_static_size(-1);
       },
       "guards.inputs[0].tensor.meta.sizes[1]"},
      {"boolean size expression",
       [](v1::GuardContext* c) {
         *Tensor(c, 0)->mutable_meta()->mutable_sizes(1)->mutable_expr() =
             Eq(S("s0"), C(3));
       },
       "guards.inputs[0].tensor.meta.sizes[1].expr"},
      {"bad operand",
       [](v1::GuardContext* c) {
         *Tensor(c, 0)->mutable_meta()->mutable_sizes(1)->mutable_expr() =
             Add(S("s0"), Op(v1::SymExpr::SYMBOL, {}));
       },
       "guards.inputs[0].tensor.meta.sizes[1].expr.operands[1]"},
      {"undeclared symbol",
       [](v1::GuardContext* c) {
         *Tensor(c, 0)->mutable_meta()->mutable_strides(0)->mutable_expr() =
             Add(S("s0"), S("q"));
       },
       "guards.inputs[0].tensor.meta.strides[0].expr.operands[1]"},
      {"symbol not an identifier",
       [](v1::GuardContext* c) {
         *Tensor(c, 0)->mutable_meta()->mutable_strides(0)->mutable_expr() =
             S("2x");
       },
       "guards.inputs[0].tensor.meta.strides[0].expr"},
      {"stray field on an expression node",
       [](v1::GuardContext* c) {
         v1::SymExpr e = Add(S("s0"), C(1));
         e.set_constant(7);
         *Tensor(c, 0)->mutable_meta()->mutable_strides(0)->mutable_expr() = e;
       },
       "guards.inputs[0].tensor.meta.strides[0].expr"},
      {"stray symbol on a constant",
       [](v1::GuardContext* c) {
         v1::SymExpr e = C(2);
         e.set_symbol("s0");
         *c->mutable_shape_guards(0)->mutable_operands(1) = e;
       },
       "guards.shape_guards[0].operands[1]"},
      {"negative alias group",
       [](v1::GuardContext* c) { Tensor(c, 0)->set_alias_group(-1); },
       "guards.inputs[0].tensor.alias_group"},
      {"alias group on a wrapper",
       [](v1::GuardContext* c) { Tensor(c, 1)->set_alias_group(0); },
       "guards.inputs[1].tensor.alias_group"},
      {"empty inner name",
       [](v1::GuardContext* c) {
         Tensor(c, 1)->mutable_subclass()->mutable_inner(1)->clear_name();
       },
       "guards.inputs[1].tensor.subclass.inner[1].name"},
      {"duplicate inner name",
       [](v1::GuardContext* c) {
         Tensor(c, 1)->mutable_subclass()->mutable_inner(1)->set_name("a");
       },
       "guards.inputs[1].tensor.subclass.inner[1].name"},
      {"missing inner guard",
       [](v1::GuardContext* c) {
         Tensor(c, 1)->mutable_subclass()->mutable_inner(0)->clear_guard();
       },
       "guards.inputs[1].tensor.subclass.inner[0].guard"},
      {"inner tensor field",
       [](v1::GuardContext* c) {
         Tensor(c, 1)
             ->mutable_subclass()
             ->mutable_inner(1)
             ->mutable_guard()
             ->mutable_meta()
             ->set_dtype(v1::DTYPE_UNSPECIFIED);
       },
       "guards.inputs[1].tensor.subclass.inner[1].guard.meta.dtype"},
      {"metadata kind",
       [](v1::GuardContext* c) {
         Tensor(c, 1)
             ->mutable_subclass()
             ->mutable_metadata()
             ->mutable_dict()
             ->mutable_entries(0)
             ->mutable_value()
             ->Clear();
       },
       "guards.inputs[1].tensor.subclass.metadata.dict.entries[0].value"},
      {"unsorted dict",
       [](v1::GuardContext* c) {
         *Tensor(c, 1)->mutable_subclass()->mutable_metadata() =
             M::Dict({{M::Str("a"), M::Int(1)}, {M::Str("b"), M::Int(2)}});
         auto* entries = Tensor(c, 1)
                             ->mutable_subclass()
                             ->mutable_metadata()
                             ->mutable_dict()
                             ->mutable_entries();
         entries->SwapElements(0, 1);
       },
       "guards.inputs[1].tensor.subclass.metadata.dict.entries[1].key"},
      {"duplicate dict key",
       [](v1::GuardContext* c) {
         auto* dict = Tensor(c, 1)
                          ->mutable_subclass()
                          ->mutable_metadata()
                          ->mutable_dict();
         *dict->add_entries() = dict->entries(0);
       },
       "guards.inputs[1].tensor.subclass.metadata.dict.entries[1].key"},
      {"nested metadata",
       [](v1::GuardContext* c) {
         *Tensor(c, 1)->mutable_subclass()->mutable_metadata() =
             M::Tuple({M::Int(1), M::List({M::DType(v1::DTYPE_UNSPECIFIED)})});
       },
       "guards.inputs[1].tensor.subclass.metadata.tuple.values[1].list."
       "values[0].dtype"},
      {"symint expression type",
       [](v1::GuardContext* c) {
         *c->mutable_inputs(2)->mutable_symint()->mutable_expr() = BoolC(true);
       },
       "guards.inputs[2].symint.expr"},
      {"symint expression missing",
       [](v1::GuardContext* c) {
         c->mutable_inputs(2)->mutable_symint()->clear_expr();
       },
       "guards.inputs[2].symint.expr"},
      {"constant value",
       [](v1::GuardContext* c) {
         c->mutable_inputs(3)->mutable_constant()->Clear();
       },
       "guards.inputs[3].constant"},
      {"integer shape guard",
       [](v1::GuardContext* c) { *c->add_shape_guards() = S("s0"); },
       "guards.shape_guards[1]"},
      {"shape guard arity",
       [](v1::GuardContext* c) {
         *c->mutable_shape_guards(0) = Op(v1::SymExpr::GE, {S("s0")});
       },
       "guards.shape_guards[0]"},
      {"shape guard symbol",
       [](v1::GuardContext* c) {
         *c->mutable_shape_guards(0) = Ge(S("s0"), S("s9"));
       },
       "guards.shape_guards[0].operands[1]"},
      {"symbol declared twice",
       [](v1::GuardContext* c) { *c->add_symbols() = c->symbols(0); },
       "guards.symbols[2].name"},
      {"symbol name",
       [](v1::GuardContext* c) { c->mutable_symbols(0)->clear_name(); },
       "guards.symbols[0].name"},
      {"min > max",
       [](v1::GuardContext* c) {
         c->mutable_symbols(0)->set_min(5);
         c->mutable_symbols(0)->set_max(4);
       },
       "guards.symbols[0]"},
      {"hint outside range",
       [](v1::GuardContext* c) {
         c->mutable_symbols(0)->set_max(10);
         c->mutable_symbols(0)->set_hint(11);
       },
       "guards.symbols[0].hint"},
      {"symbol never bound",
       [](v1::GuardContext* c) {
         v1::SymbolDecl* d = c->add_symbols();
         d->set_name("s9");
         d->set_hint(3);
       },
       "guards.symbols[2]"},
      {"symbol only in a compound expression",
       [](v1::GuardContext* c) {
         *c->mutable_inputs(2)->mutable_symint()->mutable_expr() =
             Add(S("s1"), C(1));
       },
       "guards.symbols[0]"},
      {"global state missing",
       [](v1::GuardContext* c) { c->clear_global_state(); },
       "guards.global_state"},
      {"torch function state",
       [](v1::GuardContext* c) {
         c->mutable_global_state()->set_torch_function(
             v1::GlobalState::TORCH_FUNCTION_STATE_UNSPECIFIED);
       },
       "guards.global_state.torch_function"},
      {"autocast order",
       [](v1::GuardContext* c) {
         c->mutable_global_state()->mutable_autocast()->SwapElements(0, 1);
       },
       "guards.global_state.autocast[1].device_type"},
      {"autocast dtype",
       [](v1::GuardContext* c) {
         c->mutable_global_state()->mutable_autocast(1)->set_dtype(
             v1::DTYPE_UNSPECIFIED);
       },
       "guards.global_state.autocast[1].dtype"},
      {"default dtype",
       [](v1::GuardContext* c) {
         c->mutable_global_state()->set_default_dtype(v1::DTYPE_UNSPECIFIED);
       },
       "guards.global_state.default_dtype"},
      {"matmul precision",
       [](v1::GuardContext* c) {
         c->mutable_global_state()->set_fp32_matmul_precision(
             static_cast<v1::GlobalState::MatmulPrecision>(7));
       },
       "guards.global_state.fp32_matmul_precision"},
  };
  for (const Case& k : cases) {
    v1::GuardContext c = Valid();
    k.mutate(&c);
    absl::StatusOr<std::shared_ptr<const GuardSet>> g = GuardSet::Create(c);
    ASSERT_FALSE(g.ok()) << k.name;
    EXPECT_EQ(g.status().code(), k.code) << k.name << ": " << g.status();
    EXPECT_EQ(PathOf(g.status()), k.path) << k.name << ": " << g.status();
  }
}

TEST(ValidateContext, LimitsAreResourceExhausted) {
  GuardLimits limits;
  limits.max_inputs = 3;
  absl::StatusOr<std::shared_ptr<const GuardSet>> g =
      GuardSet::Create(Valid(), limits);  // 1 + 2 inner + 1 SymInt + 1 const
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PathOf(g.status()), "guards.inputs[2]");

  limits = {};
  limits.max_rank = 1;
  g = GuardSet::Create(Valid(), limits);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PathOf(g.status()), "guards.inputs[0].tensor.meta.sizes");

  limits = {};
  limits.max_subclass_depth = 1;
  v1::GuardContext nested =
      Ctx()
          .In(T("test.A").Sizes({3}).Inner(
              "x", T("test.B").Sizes({3}).Inner("y", T().Sizes({3}))))
          .Build();
  g = GuardSet::Create(nested, limits);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PathOf(g.status()),
            "guards.inputs[0].tensor.subclass.inner[0].guard.subclass");

  limits = {};
  limits.max_shape_guards = 0;
  g = GuardSet::Create(Valid(), limits);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(PathOf(g.status()), "guards.shape_guards");

  limits = {};
  limits.max_sym_expr_depth = 2;
  v1::GuardContext deep = Valid();
  *deep.mutable_shape_guards(0) =
      Ge(Add(Add(Add(S("s0"), C(1)), C(1)), C(1)), C(2));
  g = GuardSet::Create(deep, limits);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
}

v1::CallSignature ValidCall() {
  return Sig()
      .In(T().Sizes({5, 4}))
      .In(T("test.TwoTensor")
              .Sizes({3})
              .Inner("a", T().Sizes({3}).Alias(0))
              .Inner("b", T().Sizes({3}).Alias(0))
              .Metadata(M::Dict({{M::Str("k"), M::Int(1)}})))
      .SymInt(7)
      .Constant(CInt(2))
      .Build();
}

TEST(ValidateSignature, ErrorsNameTheField) {
  EXPECT_TRUE(ValidateSignature(ValidCall()).ok());
  struct SigCase {
    std::string name;
    std::function<void(v1::CallSignature*)> mutate;
    std::string path;
  };
  auto tensor = [](v1::CallSignature* c, int i) {
    return c->mutable_inputs(i)->mutable_tensor();
  };
  std::vector<SigCase> cases = {
      {"symbolic size",
       [&](v1::CallSignature* c) {
         *tensor(c, 0)->mutable_meta()->mutable_sizes(1)->mutable_expr() =
             S("s0");
       },
       "signature.inputs[0].tensor.meta.sizes[1].expr"},
      {"symbolic offset",
       [&](v1::CallSignature* c) {
         *tensor(c, 0)
              ->mutable_meta()
              ->mutable_storage_offset()
              ->mutable_expr() = C(1);
       },
       "signature.inputs[0].tensor.meta.storage_offset.expr"},
      {"negative stride",
       [&](v1::CallSignature* c) {
         tensor(c, 0)->mutable_meta()->mutable_strides(0)->set_static_size(-4);
       },
       "signature.inputs[0].tensor.meta.strides[0]"},
      {"symint not constant",
       [&](v1::CallSignature* c) {
         *c->mutable_inputs(2)->mutable_symint()->mutable_expr() = S("s0");
       },
       "signature.inputs[2].symint.expr"},
      {"symint in metadata",
       [&](v1::CallSignature* c) {
         *tensor(c, 1)->mutable_subclass()->mutable_metadata() =
             M::Tuple({M::SymInt()});
       },
       "signature.inputs[1].tensor.subclass.metadata.tuple.values[0].symint"},
      {"alias group on a wrapper",
       [&](v1::CallSignature* c) { tensor(c, 1)->set_alias_group(3); },
       "signature.inputs[1].tensor.alias_group"},
      {"inner tensor",
       [&](v1::CallSignature* c) {
         tensor(c, 1)
             ->mutable_subclass()
             ->mutable_inner(0)
             ->mutable_guard()
             ->set_alias_group(-2);
       },
       "signature.inputs[1].tensor.subclass.inner[0].guard.alias_group"},
      {"device type",
       [&](v1::CallSignature* c) {
         tensor(c, 0)->mutable_meta()->mutable_device()->set_type(
             v1::DEVICE_TYPE_UNSPECIFIED);
       },
       "signature.inputs[0].tensor.meta.device.type"},
      {"global state", [&](v1::CallSignature* c) { c->clear_global_state(); },
       "signature.global_state"},
      {"input kind", [&](v1::CallSignature* c) { c->add_inputs(); },
       "signature.inputs[4]"},
  };
  for (const SigCase& k : cases) {
    v1::CallSignature c = ValidCall();
    k.mutate(&c);
    absl::Status s = ValidateSignature(c);
    ASSERT_FALSE(s.ok()) << k.name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.name;
    EXPECT_EQ(PathOf(s), k.path) << k.name << ": " << s;
  }
  GuardLimits limits;
  limits.max_inputs = 2;
  absl::Status s = ValidateSignature(ValidCall(), limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace kiln::cache
