// Explain: the first failing guard's kind, input index, path, expected and
// actual values and sentence, for every kind of guard; value formatting.
#include <cmath>
#include <limits>
#include <string>

#include "cache/guards/expect.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::Add;
using testing::C;
using testing::CFloat;
using testing::CInt;
using testing::CNone;
using testing::CStr;
using testing::Ctx;
using testing::Eq;
using testing::Ge;
using testing::Mul;
using testing::MustCreate;
using testing::S;
using testing::Sig;
using testing::T;
using testing::Why;
namespace M = testing::M;
using F = v1::GuardFailure;

TEST(Explain, SpecExamples) {
  auto size = MustCreate(Ctx().In(T().Sizes({3, 4})).Build());
  EXPECT_EQ(Why(*size, Sig().In(T().Sizes({3, 5})).Build()),
            "inputs[0].size(1): expected 4, got 5");

  auto ctx_sub = [](int64_t c) {
    return T("test.CtxSubclassTensor")
        .Sizes({3})
        .Inner("a", T().Sizes({3}))
        .Metadata(M::Tuple({M::Int(c)}));
  };
  auto meta = MustCreate(Ctx().In(T().Sizes({3})).In(ctx_sub(3)).Build());
  EXPECT_EQ(Why(*meta, Sig().In(T().Sizes({3})).In(ctx_sub(4)).Build()),
            "inputs[1].subclass(CtxSubclassTensor).metadata: expected (3,), "
            "got (4,)");

  Sig no_grad;
  no_grad.In(T().Sizes({3, 4})).global().set_grad_mode(false);
  EXPECT_EQ(Why(*size, no_grad.Build()),
            "global.grad_mode: expected true, got false");
}

TEST(Explain, FailureFields) {
  auto g = MustCreate(Ctx().In(T().Sizes({3})).In(T().Sizes({3, 4})).Build());
  auto f = g->Explain(Sig().In(T().Sizes({3})).In(T().Sizes({3, 5})).Build());
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind(), F::SIZE);
  ASSERT_TRUE(f->has_input_index());
  EXPECT_EQ(f->input_index(), 1);
  EXPECT_EQ(f->path(), "inputs[1].size(1)");
  EXPECT_EQ(f->expected(), "4");
  EXPECT_EQ(f->actual(), "5");
  EXPECT_EQ(f->message(), "inputs[1].size(1): expected 4, got 5");
  // Guards not about one input carry no index.
  Sig s;
  s.In(T().Sizes({3})).In(T().Sizes({3, 4})).global().set_grad_mode(false);
  auto global = g->Explain(s.Build());
  ASSERT_TRUE(global.has_value());
  EXPECT_FALSE(global->has_input_index());
  auto count = g->Explain(Sig().In(T().Sizes({3})).Build());
  ASSERT_TRUE(count.has_value());
  EXPECT_FALSE(count->has_input_index());
  EXPECT_EQ(count->message(), "inputs: expected 2, got 1");
}

TEST(Explain, Sentences) {
  struct Example {
    v1::GuardContext context;
    v1::CallSignature call;
    std::string message;
  };
  T scaled = T("test.OptionalScaledTensor")
                 .Sizes({4})
                 .Inner("_data", T().Sizes({4}))
                 .Inner("_scale", T().Sizes({1}));
  T unscaled =
      T("test.OptionalScaledTensor").Sizes({4}).Inner("_data", T().Sizes({4}));
  Ctx tf;
  tf.In(T().Sizes({2}))
      .global()
      .set_torch_function(v1::GlobalState::SUBCLASS_DISABLED);
  Sig no_cuda_autocast;
  no_cuda_autocast.In(T().Sizes({2})).global().mutable_autocast()->RemoveLast();
  Sig precision;
  precision.In(T().Sizes({2}))
      .global()
      .set_fp32_matmul_precision(v1::GlobalState::HIGH);
  std::vector<Example> examples = {
      {Ctx()
           .In(T().Sizes({2}))
           .SymInt(S("s0"))
           .Sym("s0", 3, std::nullopt)
           .Build(),
       Sig().In(T().Sizes({2})).Constant(CInt(3)).Build(),
       "inputs[1]: expected SymInt, got constant"},
      {Ctx().In(T().Sizes({2})).Build(),
       Sig().In(T("torch.nn.parameter.Parameter").Sizes({2})).Build(),
       "inputs[0].type: expected torch.Tensor, got "
       "torch.nn.parameter.Parameter"},
      {Ctx().In(scaled).Build(), Sig().In(unscaled).Build(),
       "inputs[0].subclass(OptionalScaledTensor).inner_names: expected "
       "['_data', '_scale'], got ['_data']"},
      {Ctx().In(scaled).Build(),
       Sig().In(T("test.OptionalScaledTensor").Sizes({4})).Build(),
       "inputs[0].subclass(OptionalScaledTensor).inner_names: expected "
       "['_data', '_scale'], got None (not a wrapper subclass)"},
      {Ctx().In(T().Sizes({2})).Build(),
       Sig().In(T().Sizes({2}).DType(v1::BFLOAT16)).Build(),
       "inputs[0].dtype: expected torch.float32, got torch.bfloat16"},
      {Ctx().In(T().Sizes({2}).Cuda(0)).Build(),
       Sig().In(T().Sizes({2})).Build(),
       "inputs[0].device: expected cuda:0, got cpu"},
      {Ctx().In(T().Sizes({2}).Grad()).Build(),
       Sig().In(T().Sizes({2})).Build(),
       "inputs[0].requires_grad: expected true, got false"},
      {Ctx().In(T().Sizes({2, 2})).Build(),
       Sig().In(T().Sizes({2, 2, 1})).Build(),
       "inputs[0].dim(): expected 2, got 3"},
      {Ctx().In(T().Sizes({"s0"})).In(T().Sizes({"s0"})).Build(),
       Sig().In(T().Sizes({5})).In(T().Sizes({6})).Build(),
       "inputs[1].size(0): expected s0 = 5, got 6"},
      {Ctx().In(T().Sizes({"s0"})).Build(), Sig().In(T().Sizes({1})).Build(),
       "inputs[0].size(0): expected s0 >= 2, got 1"},
      {Ctx().In(T().Sizes({Add(S("s0"), C(1))})).In(T().Sizes({"s0"})).Build(),
       Sig().In(T().Sizes({5})).In(T().Sizes({5})).Build(),
       "inputs[0].size(0): expected s0 + 1 = 6, got 5"},
      {Ctx().In(T().Sizes({"s0", "s1"})).Build(),
       Sig().In(T().Sizes({3, 4}).Strides({1, 3})).Build(),
       "inputs[0].stride(0): expected s1 = 4, got 1"},
      {Ctx().In(T().Sizes({2, 3})).Build(),
       Sig().In(T().Sizes({2, 3}).Strides({1, 2})).Build(),
       "inputs[0].stride(0): expected 3, got 1"},
      {Ctx().In(T().Sizes({2})).Build(),
       Sig().In(T().Sizes({2}).Offset(2)).Build(),
       "inputs[0].storage_offset(): expected 0, got 2"},
      {Ctx().In(T().Sizes({2}).Alias(0)).In(T().Sizes({2}).Alias(0)).Build(),
       Sig().In(T().Sizes({2})).In(T().Sizes({2})).Build(),
       "inputs[1].alias_group: expected same storage as inputs[0], got no "
       "storage shared with an earlier tensor"},
      {Ctx().In(T().Sizes({2})).In(T().Sizes({2})).Build(),
       Sig().In(T().Sizes({2}).Alias(3)).In(T().Sizes({2}).Alias(3)).Build(),
       "inputs[1].alias_group: expected no storage shared with an earlier "
       "tensor, got same storage as inputs[0]"},
      {Ctx().In(T().Sizes({"s0"})).SymInt(Mul(C(2), S("s0"))).Build(),
       Sig().In(T().Sizes({3})).SymInt(7).Build(),
       "inputs[1].value: expected 2*s0 = 6, got 7"},
      {Ctx().In(T().Sizes({"s0"})).SymInt(S("s0")).Build(),
       Sig().In(T().Sizes({3})).SymInt(7).Build(),
       "inputs[1].value: expected s0 = 3, got 7"},
      {Ctx().Constant(CStr("mean")).Build(),
       Sig().Constant(CStr("sum")).Build(),
       "inputs[0].value: expected 'mean', got 'sum'"},
      {Ctx().Constant(CInt(1)).Build(), Sig().Constant(CFloat(1.0)).Build(),
       "inputs[0].value: expected 1, got 1.0"},
      {Ctx().Constant(CNone()).Build(), Sig().Constant(CInt(0)).Build(),
       "inputs[0].value: expected None, got 0"},
      {Ctx().In(T().Sizes({"s0"})).Sym("s0", 8, 2, 64).Build(),
       Sig().In(T().Sizes({65})).Build(),
       "symbols[s0]: expected 2 <= s0 <= 64, got 65"},
      {Ctx().In(T().Sizes({"s0"})).Sym("s0", 8, std::nullopt, 64).Build(),
       Sig().In(T().Sizes({65})).Build(),
       "symbols[s0]: expected s0 <= 64, got 65"},
      {Ctx()
           .In(T().Sizes({"s0"}))
           .In(T().Sizes({"s1"}))
           .Guard(Eq(Mul(C(2), S("s1")), S("s0")))
           .Build(),
       Sig().In(T().Sizes({8})).In(T().Sizes({5})).Build(),
       "shape_guards[0]: expected Eq(2*s1, s0), got false (s0 = 8, s1 = 5)"},
      {Ctx()
           .In(T().Sizes({"s0"}))
           .Guard(Ge(testing::FloorDiv(S("s0"), Add(S("s0"), C(-3))), C(1)))
           .Build(),
       Sig().In(T().Sizes({3})).Build(),
       "shape_guards[0]: expected 1 <= FloorDiv(s0, s0 - 3), got cannot be "
       "evaluated (s0 = 3)"},
      {tf.Build(), Sig().In(T().Sizes({2})).Build(),
       "global.torch_function: expected subclass_disabled, got enabled"},
      {Ctx().In(T().Sizes({2})).Build(), no_cuda_autocast.Build(),
       "global.autocast(cuda): expected enabled false, dtype torch.float16, "
       "got absent"},
      {Ctx().In(T().Sizes({2})).Build(), precision.Build(),
       "global.fp32_matmul_precision: expected highest, got high"},
  };
  for (const Example& e : examples) {
    auto g = MustCreate(e.context);
    EXPECT_EQ(Why(*g, e.call), e.message);
    EXPECT_FALSE(g->Check(e.call)) << e.message;
  }
}

TEST(Explain, MetadataIsPrintedPythonLike) {
  struct Case {
    v1::MetadataValue value;
    std::string text;
  };
  std::vector<Case> cases = {
      {M::Tuple({M::Int(3)}), "(3,)"},
      {M::Tuple({}), "()"},
      {M::Tuple({M::Int(1), M::Int(-2)}), "(1, -2)"},
      {M::List({M::Int(1), M::Str("a")}), "[1, 'a']"},
      {M::List({}), "[]"},
      {M::Dict({{M::Str("_constant"), M::Int(0)}}), "{'_constant': 0}"},
      {M::Dict({}), "{}"},
      {M::None(), "None"},
      {M::Bool(true), "True"},
      {M::Bool(false), "False"},
      {M::Str("it's"), "\"it's\""},
      {M::Str("a\\b\n"), "'a\\\\b\\n'"},
      {M::Bytes(std::string("\x00z'", 3)), "b\"\\x00z'\""},
      {M::DType(v1::BFLOAT16), "torch.bfloat16"},
      {M::Device(v1::CUDA, 1), "device(type='cuda', index=1)"},
      {M::Device(v1::CPU, 0), "device(type='cpu')"},
      {M::SymInt(), "<SymInt>"},
      {M::Opaque("my.Config", "Config(x=1)"), "Config(x=1)"},
      {M::Tuple({M::Tuple({M::Int(1)}), M::List({M::None()})}),
       "((1,), [None])"},
  };
  for (const Case& c : cases) EXPECT_EQ(FormatMetadata(&c.value), c.text);
  EXPECT_EQ(FormatMetadata(nullptr), "None");
}

TEST(Explain, FloatsArePrintedAsPythonRepr) {
  struct Case {
    double value;
    std::string text;
  };
  std::vector<Case> cases = {
      {0.1, "0.1"},
      {3.0, "3.0"},
      {-2.5, "-2.5"},
      {100.0, "100.0"},
      {1e15, "1000000000000000.0"},
      {1e16, "1e+16"},
      {1.2345678901234568e+17, "1.2345678901234568e+17"},
      {1e-4, "0.0001"},
      {1e-5, "1e-05"},
      {1.5e-7, "1.5e-07"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {1.0 / 3.0, "0.3333333333333333"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::nan(""), "nan"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (const Case& c : cases) {
    v1::MetadataValue v = M::Float(c.value);
    EXPECT_EQ(FormatMetadata(&v), c.text);
  }
}

TEST(Explain, HitHasNoExplanation) {
  auto g = MustCreate(Ctx().In(T().Sizes({"s0", 4})).Build());
  EXPECT_FALSE(g->Explain(Sig().In(T().Sizes({7, 4})).Build()).has_value());
}

TEST(Describe, OneLinePerGuard) {
  auto g = MustCreate(Ctx()
                          .In(T().Sizes({"n", 4}).Alias(1))
                          .In(T("test.Pair")
                                  .Sizes({"n"})
                                  .Inner("a", T().Sizes({"n"}).Alias(1))
                                  .Metadata(M::Tuple({M::Int(3)})))
                          .SymInt(S("k"))
                          .Constant(CStr("mean"))
                          .Sym("k", 5, std::nullopt, 10)
                          .Guard(Ge(S("n"), S("k")))
                          .Build());
  std::vector<std::string> expected = {
      "global.grad_mode: true",
      "global.torch_function: enabled",
      "global.autocast(cpu): enabled false, dtype torch.bfloat16",
      "global.autocast(cuda): enabled false, dtype torch.float16",
      "global.default_dtype: torch.float32",
      "global.deterministic_algorithms: false",
      "global.fp32_matmul_precision: highest",
      "inputs: 4",
      "inputs[0]: torch.Tensor, torch.float32, cpu, requires_grad false, "
      "size (s0, 4), stride (4, 1), alias group 0",
      "inputs[1]: test.Pair, torch.float32, cpu, requires_grad false, size "
      "(s0,), stride (1,)",
      "inputs[1].subclass(Pair): inner_names ['a'], metadata (3,)",
      "inputs[1].subclass(Pair).inner(a): torch.Tensor, torch.float32, cpu, "
      "requires_grad false, size (s0,), stride (1,), alias group 0",
      "inputs[2]: SymInt s1",
      "inputs[3]: constant 'mean'",
      "symbols[s0]: s0 >= 2 (hint 2)",
      "symbols[s1]: s1 <= 10 (hint 5)",
      "shape_guards[0]: s1 <= s0",
  };
  EXPECT_EQ(g->Describe(), expected);
  EXPECT_EQ(g->input_count(), 4);
  EXPECT_EQ(g->placeholder_count(), 4);
}

}  // namespace
}  // namespace kiln::cache
