// Canonical form and digest: contexts that differ only in naming and order
// share a digest; any real difference changes it.
#include <openssl/sha.h>

#include <functional>
#include <string>

#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::Add;
using testing::C;
using testing::CInt;
using testing::Ctx;
using testing::Eq;
using testing::Ge;
using testing::Lt;
using testing::Mul;
using testing::MustCreate;
using testing::S;
using testing::T;
namespace M = testing::M;

std::string Digest(const v1::GuardContext& c) {
  return MustCreate(c)->digest();
}

// x: [a, 4], y: [b], n: SymInt b; guards Eq(2*b, a), a >= 4; x and z alias.
v1::GuardContext Example(const std::string& a, const std::string& b,
                         bool reorder = false, int label = 0) {
  Ctx ctx;
  ctx.In(T().Sizes({a.c_str(), 4}).Alias(label))
      .In(T().Sizes({b.c_str()}))
      .In(T().Sizes({3}).Alias(label))
      .SymInt(S(b));
  v1::SymExpr g1 = Eq(Mul(C(2), S(b)), S(a));
  v1::SymExpr g2 = Ge(S(a), C(4));
  if (reorder) {
    ctx.Guard(g2).Guard(g1).Sym(b, 4).Sym(a, 8);
  } else {
    ctx.Guard(g1).Guard(g2).Sym(a, 8).Sym(b, 4);
  }
  return ctx.Build();
}

TEST(Canonicalize, RenamedSymbolsGiveTheSameDigest) {
  const std::string d = Digest(Example("s0", "s1"));
  EXPECT_EQ(Digest(Example("s1", "s0")), d);
  EXPECT_EQ(Digest(Example("batch", "half")), d);
  EXPECT_EQ(Digest(Example("s17", "s3")), d);
}

TEST(Canonicalize, ReorderedGuardsAndDeclarationsGiveTheSameDigest) {
  EXPECT_EQ(Digest(Example("s0", "s1", /*reorder=*/true)),
            Digest(Example("s0", "s1")));
  v1::GuardContext duplicated = Example("s0", "s1");
  *duplicated.add_shape_guards() = duplicated.shape_guards(0);
  EXPECT_EQ(Digest(duplicated), Digest(Example("s0", "s1")));
}

TEST(Canonicalize, AliasLabelsAreRenumbered) {
  EXPECT_EQ(Digest(Example("s0", "s1", false, 42)),
            Digest(Example("s0", "s1", false, 0)));
  // A singleton group is the same as no group.
  EXPECT_EQ(Digest(Ctx().In(T().Sizes({3}).Alias(5)).Build()),
            Digest(Ctx().In(T().Sizes({3})).Build()));
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({3}).Alias(9))
                          .In(T().Sizes({3}).Alias(4))
                          .In(T().Sizes({3}).Alias(9))
                          .In(T().Sizes({3}).Alias(4))
                          .Build());
  EXPECT_EQ(g->canonical().inputs(0).tensor().alias_group(), 0);
  EXPECT_EQ(g->canonical().inputs(1).tensor().alias_group(), 1);
  EXPECT_EQ(g->canonical().inputs(2).tensor().alias_group(), 0);
}

TEST(Canonicalize, EquivalentSpellingsOfDimsAndMetadata) {
  // A bare-constant expression is a static dim.
  EXPECT_EQ(Digest(Ctx().In(T().Sizes({C(3)}).Strides({C(1)})).Build()),
            Digest(Ctx().In(T().Sizes({3})).Build()));
  // Storage offset 0 is unset.
  EXPECT_EQ(Digest(Ctx().In(T().Sizes({3}).Offset(0)).Build()),
            Digest(Ctx().In(T().Sizes({3})).Build()));
  // Metadata None is unset.
  T none("test.Sub");
  none.Sizes({3}).Inner("a", T().Sizes({3}));
  T explicit_none = none;
  explicit_none.Metadata(M::None());
  EXPECT_EQ(Digest(Ctx().In(explicit_none).Build()),
            Digest(Ctx().In(none).Build()));
}

TEST(Canonicalize, SymbolsAreNamedByFirstAppearanceOverTheLeavesFirst) {
  // Outer wrapper [j, w] over a leaf [t, w]: the leaf names come first (as
  // the graph's placeholders), then the wrapper's own symbols.
  T t("test.Wrapper");
  t.Sizes({"j", "w"}).Inner("x", T().Sizes({"t", "w"}));
  auto g =
      MustCreate(Ctx().In(t).SymInt(S("n")).Sym("n", 5, std::nullopt).Build());
  const v1::TensorGuard& c = g->canonical().inputs(0).tensor();
  const v1::TensorGuard& leaf = c.subclass().inner(0).guard();
  EXPECT_EQ(leaf.meta().sizes(0).expr().symbol(), "s0");               // t
  EXPECT_EQ(leaf.meta().sizes(1).expr().symbol(), "s1");               // w
  EXPECT_EQ(g->canonical().inputs(1).symint().expr().symbol(), "s2");  // n
  EXPECT_EQ(c.meta().sizes(0).expr().symbol(), "s3");                  // j
  EXPECT_EQ(c.meta().sizes(1).expr().symbol(), "s1");
  // Declarations sorted by (renamed) name.
  ASSERT_EQ(g->canonical().symbols_size(), 4);
  EXPECT_EQ(g->canonical().symbols(0).name(), "s0");
  EXPECT_EQ(g->canonical().symbols(2).name(), "s2");
  EXPECT_EQ(g->canonical().symbols(2).hint(), 5);
}

TEST(Canonicalize, CanonicalFormIsAFixedPoint) {
  for (const v1::GuardContext& c :
       {Example("b", "a", true, 3),
        Ctx()
            .In(T("test.Wrapper")
                    .Sizes({"j", "w"})
                    .Inner("x", T().Sizes({"t", "w"}).Alias(2))
                    .Inner("y", T().Sizes({"t", "w"}).Alias(2)))
            .Build()}) {
    auto g = MustCreate(c);
    auto again = MustCreate(g->canonical());
    EXPECT_EQ(again->digest(), g->digest());
    EXPECT_EQ(again->canonical().SerializeAsString(),
              g->canonical().SerializeAsString());
  }
}

TEST(Canonicalize, DigestIsSha256OfTheCanonicalSerialization) {
  auto g = MustCreate(Example("s0", "s1"));
  std::string bytes;
  ASSERT_TRUE(g->canonical().SerializeToString(&bytes));
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         md);
  std::string hex;
  for (unsigned char c : md) {
    static const char* kHex = "0123456789abcdef";
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  EXPECT_EQ(g->digest(), hex);
  EXPECT_EQ(g->digest().size(), 64u);
}

TEST(Canonicalize, GoldenCanonicalText) {
  auto g = MustCreate(Example("b", "a", /*reorder=*/true, /*label=*/7));
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string inputs, guards, symbols;
  for (const v1::InputGuard& in : g->canonical().inputs()) {
    std::string s;
    printer.PrintToString(in, &s);
    inputs += s + "\n";
  }
  for (const v1::SymExpr& e : g->canonical().shape_guards()) {
    std::string s;
    printer.PrintToString(e, &s);
    guards += s + "\n";
  }
  for (const v1::SymbolDecl& d : g->canonical().symbols()) {
    std::string s;
    printer.PrintToString(d, &s);
    symbols += s + "\n";
  }
  EXPECT_EQ(inputs,
            "tensor { type_name: \"torch.Tensor\" meta { dtype: FLOAT32 device "
            "{ type: CPU } sizes { expr { op: SYMBOL symbol: \"s0\" } } sizes "
            "{ static_size: 4 } strides { static_size: 4 } strides { "
            "static_size: 1 } } alias_group: 0 } \n"
            "tensor { type_name: \"torch.Tensor\" meta { dtype: FLOAT32 device "
            "{ type: CPU } sizes { expr { op: SYMBOL symbol: \"s1\" } } "
            "strides { static_size: 1 } } } \n"
            "tensor { type_name: \"torch.Tensor\" meta { dtype: FLOAT32 device "
            "{ type: CPU } sizes { static_size: 3 } strides { static_size: 1 "
            "} } alias_group: 0 } \n"
            "symint { expr { op: SYMBOL symbol: \"s1\" } } \n");
  // Sorted by serialization: GE (35) sorts after EQ (30).
  EXPECT_EQ(guards,
            "op: EQ operands { op: MUL operands { op: CONSTANT constant: 2 } "
            "operands { op: SYMBOL symbol: \"s1\" } } operands { op: SYMBOL "
            "symbol: \"s0\" } \n"
            "op: GE operands { op: SYMBOL symbol: \"s0\" } operands { op: "
            "CONSTANT constant: 4 } \n");
  EXPECT_EQ(symbols,
            "name: \"s0\" hint: 8 min: 2 \n"
            "name: \"s1\" hint: 4 min: 2 \n");
}

// Every real difference changes the digest.
TEST(Canonicalize, AnyRealDifferenceChangesTheDigest) {
  const std::string base = Digest(Example("s0", "s1"));
  using Mutation = std::function<void(v1::GuardContext*)>;
  auto tensor = [](v1::GuardContext* c, int i) {
    return c->mutable_inputs(i)->mutable_tensor();
  };
  std::vector<std::pair<std::string, Mutation>> mutations = {
      {"dtype",
       [&](v1::GuardContext* c) {
         tensor(c, 0)->mutable_meta()->set_dtype(v1::FLOAT16);
       }},
      {"device index",
       [&](v1::GuardContext* c) {
         auto* d = tensor(c, 0)->mutable_meta()->mutable_device();
         d->set_type(v1::CUDA);
         d->set_index(1);
       }},
      {"requires_grad",
       [&](v1::GuardContext* c) {
         tensor(c, 1)->mutable_meta()->set_requires_grad(true);
       }},
      {"type",
       [&](v1::GuardContext* c) {
         tensor(c, 1)->set_type_name("torch.nn.parameter.Parameter");
       }},
      {"static size",
       [&](v1::GuardContext* c) {
         tensor(c, 0)->mutable_meta()->mutable_sizes(1)->set_static_size(5);
       }},
      {"stride",
       [&](v1::GuardContext* c) {
         tensor(c, 2)->mutable_meta()->mutable_strides(0)->set_static_size(2);
       }},
      {"storage offset",
       [&](v1::GuardContext* c) {
         tensor(c, 2)
             ->mutable_meta()
             ->mutable_storage_offset()
             ->set_static_size(1);
       }},
      {"duck sizing (one symbol instead of two)",
       [&](v1::GuardContext* c) {
         *tensor(c, 1)->mutable_meta()->mutable_sizes(0)->mutable_expr() =
             S("s0");
         *c->mutable_inputs(3)->mutable_symint()->mutable_expr() = S("s0");
         c->mutable_symbols()->RemoveLast();
         c->clear_shape_guards();
         *c->add_shape_guards() = Ge(S("s0"), C(4));
       }},
      {"aliasing",
       [&](v1::GuardContext* c) { tensor(c, 2)->clear_alias_group(); }},
      {"extra shape guard",
       [&](v1::GuardContext* c) {
         *c->add_shape_guards() = Lt(S("s1"), C(100));
       }},
      {"shape guard constant",
       [&](v1::GuardContext* c) {
         c->mutable_shape_guards(1)->mutable_operands(1)->set_constant(5);
       }},
      {"symbol range",
       [&](v1::GuardContext* c) { c->mutable_symbols(0)->set_max(1024); }},
      {"symint expression",
       [&](v1::GuardContext* c) {
         *c->mutable_inputs(3)->mutable_symint()->mutable_expr() =
             Add(S("s1"), C(1));
       }},
      {"grad mode",
       [&](v1::GuardContext* c) {
         c->mutable_global_state()->set_grad_mode(false);
       }},
      {"autocast",
       [&](v1::GuardContext* c) {
         c->mutable_global_state()->mutable_autocast(0)->set_enabled(true);
       }},
      {"matmul precision",
       [&](v1::GuardContext* c) {
         c->mutable_global_state()->set_fp32_matmul_precision(
             v1::GlobalState::MEDIUM);
       }},
      {"extra input",
       [&](v1::GuardContext* c) {
         *c->add_inputs()->mutable_constant() = CInt(1);
       }},
  };
  for (const auto& [name, mutate] : mutations) {
    v1::GuardContext c = Example("s0", "s1");
    mutate(&c);
    EXPECT_NE(Digest(c), base) << name;
  }
}

TEST(Canonicalize, SubclassDifferencesChangeTheDigest) {
  auto wrapper = [](const v1::MetadataValue& meta, const std::string& inner,
                    bool custom) {
    return Ctx()
        .In(T("test.Sub")
                .Sizes({3})
                .Inner(inner, T().Sizes({3}))
                .Metadata(meta)
                .MetadataGuard(custom))
        .Build();
  };
  const std::string base =
      Digest(wrapper(M::Tuple({M::Str("ab")}), "a", false));
  EXPECT_NE(Digest(wrapper(M::Tuple({M::Str("ac")}), "a", false)), base);
  EXPECT_NE(Digest(wrapper(M::List({M::Str("ab")}), "a", false)), base);
  EXPECT_NE(Digest(wrapper(M::Tuple({M::Bytes("ab")}), "a", false)), base);
  EXPECT_NE(Digest(wrapper(M::Tuple({M::SymInt()}), "a", false)), base);
  EXPECT_NE(Digest(wrapper(M::Tuple({M::Str("ab")}), "b", false)), base);
  EXPECT_NE(Digest(wrapper(M::Tuple({M::Str("ab")}), "a", true)), base);
}

}  // namespace
}  // namespace kiln::cache
