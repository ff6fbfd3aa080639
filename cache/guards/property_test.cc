// Properties over many random contexts and signatures:
//   * Check(call) == !Explain(call).has_value();
//   * a failure always names a kind, a path and a sentence starting with it;
//   * the canonical form is a fixed point with the same digest and verdicts;
//   * WobbledDims is empty for hits.
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/test_util.h"
#include "compiler/symbolic/expr.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

using testing::Add;
using testing::C;
using testing::CInt;
using testing::Ctx;
using testing::D;
using testing::Sig;
using testing::T;
namespace M = testing::M;

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // A random size: static, a bare symbol, or a derived expression over a
  // symbol that is bound elsewhere too.
  D Size() {
    const int r = Uniform(0, 9);
    if (r < 4) return D(static_cast<int64_t>(Uniform(1, 4)));
    std::string s = "s" + std::to_string(Uniform(0, 2));
    if (r < 9) {
      used_bare_.push_back(s);
      return D(s.c_str());
    }
    return D(Add(testing::S(s), C(Uniform(0, 2))));
  }

  T Tensor(int depth) {
    const int rank = Uniform(0, 3);
    std::vector<D> sizes;
    for (int d = 0; d < rank; ++d) sizes.push_back(Size());
    if (depth < 2 && Chance(0.2)) {
      T t("test.Wrapper" + std::to_string(depth));
      t.Sizes(sizes);
      const int inner = Uniform(1, 2);
      for (int j = 0; j < inner; ++j) {
        t.Inner(std::string(1, 'a' + j), Tensor(depth + 1));
      }
      t.Metadata(Chance(0.5) ? M::Tuple({M::Int(Uniform(0, 2))})
                             : M::Dict({{M::Str("n"), M::SymInt()}}));
      if (Chance(0.2)) t.MetadataGuard();
      return t;
    }
    T t(Chance(0.8) ? "torch.Tensor" : "torch.nn.parameter.Parameter");
    t.Sizes(sizes);
    if (Chance(0.2)) t.Grad();
    if (Chance(0.3)) t.Alias(Uniform(0, 1));
    if (Chance(0.1)) t.Offset(Uniform(0, 2));
    return t;
  }

  v1::GuardContext Context() {
    used_bare_.clear();
    Ctx ctx;
    const int n = Uniform(1, 5);
    for (int i = 0; i < n; ++i) {
      const int kind = Uniform(0, 9);
      if (kind < 7) {
        ctx.In(Tensor(0));
      } else if (kind < 9) {
        std::string s = "s" + std::to_string(Uniform(0, 3));
        used_bare_.push_back(s);
        ctx.SymInt(testing::S(s));
      } else {
        ctx.Constant(CInt(Uniform(0, 1)));
      }
    }
    if (!used_bare_.empty() && Chance(0.5)) {
      std::string a = used_bare_[Uniform(0, used_bare_.size() - 1)];
      std::string b = used_bare_[Uniform(0, used_bare_.size() - 1)];
      ctx.Guard(Chance(0.5)
                    ? testing::Le(testing::S(a), Add(testing::S(b), C(1)))
                    : testing::Ne(testing::S(a), C(3)));
    }
    if (!used_bare_.empty() && Chance(0.3)) {
      ctx.Sym(used_bare_[0], 2, 2, 4);
    }
    return ctx.Build();
  }

  // A signature close to `context`: symbols get values, then a few random
  // perturbations.
  v1::CallSignature Call(const v1::GuardContext& context) {
    sym::Bindings values;
    for (const v1::SymbolDecl& d : context.symbols()) {
      values[d.name()] = Uniform(2, 5);
    }
    v1::CallSignature call = Sig().Build();
    for (const v1::InputGuard& in : context.inputs()) {
      v1::InputGuard* out = call.add_inputs();
      if (in.has_tensor()) {
        *out->mutable_tensor() = Concrete(in.tensor(), values);
      } else if (in.has_symint()) {
        *out->mutable_symint()->mutable_expr() =
            C(Eval(in.symint().expr(), values));
      } else {
        *out->mutable_constant() = in.constant();
      }
    }
    Perturb(&call);
    return call;
  }

 private:
  int64_t Eval(const v1::SymExpr& e, const sym::Bindings& values) {
    auto expr = sym::FromProto(e, "", false);
    auto v = sym::Evaluate(**expr, values);
    return v.ok() ? *v : 0;
  }

  v1::TensorGuard Concrete(const v1::TensorGuard& t,
                           const sym::Bindings& values) {
    v1::TensorGuard out = t;
    v1::TensorMeta* m = out.mutable_meta();
    auto fix = [&](v1::Dim* d) {
      if (d->has_expr()) d->set_static_size(Eval(d->expr(), values));
    };
    for (v1::Dim& d : *m->mutable_sizes()) fix(&d);
    for (v1::Dim& d : *m->mutable_strides()) fix(&d);
    if (m->has_storage_offset()) fix(m->mutable_storage_offset());
    if (out.has_subclass()) {
      v1::SubclassInfo* s = out.mutable_subclass();
      if (s->metadata().has_dict()) {
        *s->mutable_metadata() =
            M::Dict({{M::Str("n"), M::Int(Uniform(0, 9))}});
      }
      for (v1::InnerTensor& in : *s->mutable_inner()) {
        *in.mutable_guard() = Concrete(in.guard(), values);
      }
    }
    return out;
  }

  void Tensors(v1::TensorGuard* t, std::vector<v1::TensorGuard*>* out) {
    out->push_back(t);
    if (!t->has_subclass()) return;
    for (v1::InnerTensor& in : *t->mutable_subclass()->mutable_inner()) {
      Tensors(in.mutable_guard(), out);
    }
  }

  void Perturb(v1::CallSignature* call) {
    const int changes = Uniform(0, 2);
    for (int k = 0; k < changes; ++k) {
      std::vector<v1::TensorGuard*> tensors;
      for (v1::InputGuard& in : *call->mutable_inputs()) {
        if (in.has_tensor()) Tensors(in.mutable_tensor(), &tensors);
      }
      const int what = Uniform(0, 9);
      if (what == 0) {
        call->mutable_global_state()->set_grad_mode(false);
        continue;
      }
      if (what == 1 && call->inputs_size() > 0) {
        v1::InputGuard* in =
            call->mutable_inputs(Uniform(0, call->inputs_size() - 1));
        if (in->has_symint()) {
          in->mutable_symint()->mutable_expr()->set_constant(Uniform(0, 6));
        } else if (in->has_constant()) {
          *in->mutable_constant() = CInt(Uniform(0, 2));
        }
        continue;
      }
      if (tensors.empty()) continue;
      v1::TensorGuard* t = tensors[Uniform(0, tensors.size() - 1)];
      v1::TensorMeta* m = t->mutable_meta();
      switch (what) {
        case 2:
        case 3:
        case 4:
          if (m->sizes_size() > 0) {
            v1::Dim* d = m->mutable_sizes(Uniform(0, m->sizes_size() - 1));
            d->set_static_size(
                std::max<int64_t>(0, d->static_size() + Uniform(-1, 1)));
          }
          break;
        case 5:
          if (m->strides_size() > 0) {
            m->mutable_strides(0)->set_static_size(Uniform(0, 6));
          }
          break;
        case 6:
          if (!t->has_subclass()) {
            if (Chance(0.5)) {
              t->clear_alias_group();
            } else {
              t->set_alias_group(Uniform(0, 2));
            }
          }
          break;
        case 7:
          m->set_requires_grad(!m->requires_grad());
          break;
        case 8:
          if (t->has_subclass()) {
            *t->mutable_subclass()->mutable_metadata() =
                M::Tuple({M::Int(Uniform(0, 2))});
          } else {
            m->set_dtype(v1::FLOAT16);
          }
          break;
        default:
          if (t->has_subclass() && t->subclass().inner_size() > 1) {
            t->mutable_subclass()->mutable_inner()->RemoveLast();
          } else {
            m->clear_storage_offset();
          }
      }
    }
  }

  std::mt19937 rng_;
  std::vector<std::string> used_bare_;
};

TEST(Property, CheckAgreesWithExplain) {
  Generator gen(/*seed=*/20240607);
  int contexts = 0, hits = 0, misses = 0, skipped_hits = 0;
  std::vector<int> kinds(v1::GuardFailure::Kind_ARRAYSIZE, 0);
  for (int round = 0; round < 3000; ++round) {
    v1::GuardContext context = gen.Context();
    absl::StatusOr<std::shared_ptr<const GuardSet>> created =
        GuardSet::Create(context);
    if (!created.ok()) {
      // Only the generator's unbound derived symbols are rejected.
      ASSERT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument)
          << created.status();
      ASSERT_TRUE(absl::StrContains(created.status().message(), "never bound"))
          << created.status();
      continue;
    }
    const GuardSet& g = **created;
    auto again = GuardSet::Create(g.canonical());
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ((*again)->digest(), g.digest());
    ++contexts;
    for (int k = 0; k < 20; ++k) {
      v1::CallSignature call = gen.Call(context);
      ASSERT_TRUE(ValidateSignature(call).ok())
          << ValidateSignature(call) << "\n"
          << call.DebugString();
      for (bool skip : {false, true}) {
        EvalOptions options;
        options.skip_custom_metadata = skip;
        const bool check = g.Check(call, options);
        std::optional<v1::GuardFailure> why = g.Explain(call, options);
        ASSERT_EQ(check, !why.has_value())
            << (why ? why->message() : "") << "\n"
            << context.DebugString() << "\n"
            << call.DebugString();
        ASSERT_EQ((*again)->Check(call, options), check);
        if (why) {
          ASSERT_NE(why->kind(), v1::GuardFailure::KIND_UNSPECIFIED);
          ASSERT_FALSE(why->path().empty());
          ASSERT_TRUE(absl::StartsWith(why->message(), why->path() + ": "))
              << why->message();
          if (!skip) ++kinds[why->kind()];
        }
        if (skip) {
          skipped_hits += check;
        } else {
          check ? ++hits : ++misses;
          if (check) {
            ASSERT_TRUE(g.WobbledDims(call).empty());
          }
        }
      }
    }
  }
  // The generator exercises both outcomes and most kinds of guards.
  EXPECT_GT(contexts, 1000);
  EXPECT_GT(hits, 1000);
  EXPECT_GT(misses, 1000);
  EXPECT_GE(skipped_hits, hits);
  int kinds_seen = 0;
  std::string seen;
  for (size_t k = 0; k < kinds.size(); ++k) {
    if (kinds[k] == 0) continue;
    ++kinds_seen;
    seen += " " + v1::GuardFailure::Kind_Name(static_cast<int>(k)) + "=" +
            std::to_string(kinds[k]);
  }
  std::printf("%d contexts, %d hits, %d misses:%s\n", contexts, hits, misses,
              seen.c_str());
  EXPECT_GE(kinds_seen, 12);
}

}  // namespace
}  // namespace kiln::cache

namespace kiln::cache {
namespace {

// A GuardSet is immutable: threads evaluating it at once agree with one
// thread evaluating alone.
TEST(Property, ConcurrentEvaluationAgrees) {
  Generator gen(/*seed=*/7);
  std::vector<std::shared_ptr<const GuardSet>> sets;
  std::vector<v1::CallSignature> calls;
  while (sets.size() < 50) {
    v1::GuardContext context = gen.Context();
    auto g = GuardSet::Create(context);
    if (!g.ok()) continue;
    sets.push_back(*g);
    for (int k = 0; k < 10; ++k) calls.push_back(gen.Call(context));
  }
  auto verdicts = [&] {
    std::vector<int> out;
    for (size_t s = 0; s < sets.size(); ++s) {
      for (size_t k = s * 10; k < s * 10 + 10; ++k) {
        auto why = sets[s]->Explain(calls[k]);
        out.push_back(sets[s]->Check(calls[k]) * 2 + !why.has_value());
        out.push_back(static_cast<int>(sets[s]->WobbledDims(calls[k]).size()));
      }
    }
    return out;
  };
  const std::vector<int> expected = verdicts();
  std::vector<std::vector<int>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) results[t] = verdicts();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::vector<int>& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
}  // namespace kiln::cache
