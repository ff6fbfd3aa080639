#include "cache/artifact_cache.h"

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cache/cache_records.pb.h"
#include "cache/guards/test_util.h"
#include "cache/keys.h"
#include "cache/sync_point.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace kiln::cache {
namespace {

namespace fs = std::filesystem;
using ::kiln::cache::testing::Ctx;
using ::kiln::cache::testing::MustCreate;
using ::kiln::cache::testing::Sig;
using ::kiln::cache::testing::T;
using ::testing::HasSubstr;
namespace M = ::kiln::cache::testing::M;

const std::string kTarget =
    ResolveTarget("cpu-x86_64-avx2", {}, kCompilerVersion, kDefaultSalt);

// Only bounds how long a broken build blocks before its test fails; the
// tests never wait for time to pass.
constexpr absl::Duration kSafetyTimeout = absl::Seconds(10);

std::string GraphId(int n) { return Sha256Hex(absl::StrCat("graph-", n)); }

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A static [a, b] float tensor guard set, and its matching call.
std::shared_ptr<const GuardSet> Static(int a, int b) {
  return MustCreate(Ctx().In(T().Sizes({a, b})).Build());
}
std::shared_ptr<const GuardSet> DynamicDim0(int b) {
  return MustCreate(Ctx().In(T().Sizes({"s0", b})).Build());
}
v1::CallSignature Call(int a, int b) {
  return Sig().In(T().Sizes({a, b})).Build();
}

// A compile function that counts its calls and makes a recognizable
// artifact (of `size` random bytes when size > 0).
struct Compiler {
  std::atomic<int> calls{0};
  size_t size = 0;

  CompileFn Fn() {
    return
        [this](const CompileContext& ctx) -> absl::StatusOr<CompiledArtifact> {
          int n = ++calls;
          CompiledArtifact a;
          a.payload = size > 0 ? RandomBytes(size, n)
                               : absl::StrCat("artifact ", ctx.artifact_key(),
                                              " compile ", n);
          a.output_spec.add_outputs()->set_kind(v1::OutputInfo::TENSOR);
          return a;
        };
  }
};

// Counts sync point passes and lets the test wait for a count (no sleeps).
class PassCounter {
 public:
  explicit PassCounter(const std::string& point) {
    SyncPoint::Get().SetCallBack(point, [this](void*) {
      absl::MutexLock lock(&mu_);
      ++n_;
    });
  }
  // Waits until the point has been passed `n` times.
  bool WaitFor(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]()
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { return n_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kSafetyTimeout);
  }

 private:
  absl::Mutex mu_;
  int n_ = 0;
};

class ArtifactCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = fs::path(tmp != nullptr ? tmp : "/tmp") /
           absl::StrCat(
               "artifact_cache_test_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    options_.store.data_dir = dir_.string();
    options_.store.sync_writes = false;  // durability has its own test
    options_.usage_flush_interval = absl::ZeroDuration();
    options_.clock = [this] { return absl::FromUnixMillis(now_ms_.load()); };
  }
  void TearDown() override {
    cache_.reset();
    fs::remove_all(dir_);
  }

  void Open() {
    cache_.reset();
    absl::StatusOr<std::unique_ptr<ArtifactCache>> cache =
        ArtifactCache::Create(options_);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = std::move(*cache);
  }

  absl::StatusOr<GetOrCompileResult> Get(
      int graph, std::shared_ptr<const GuardSet> guards, Compiler& compiler,
      const GetOrCompileOptions& options = {}) {
    return cache_->GetOrCompile({GraphId(graph), kTarget, std::move(guards)},
                                compiler.Fn(), options);
  }

  v1::LookupResponse Lookup(int graph, const v1::CallSignature& call,
                            bool explain = false) {
    absl::StatusOr<v1::LookupResponse> r =
        cache_->Lookup(GraphId(graph), kTarget, call, {.explain = explain});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::LookupResponse();
  }

  bool store_has(Family family, const std::string& key) {
    absl::StatusOr<std::optional<std::string>> r =
        cache_->store().Get(family, key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->has_value();
  }

  fs::path dir_;
  std::atomic<int64_t> now_ms_{1'000'000};
  ArtifactCacheOptions options_;
  std::unique_ptr<ArtifactCache> cache_;
};

TEST_F(ArtifactCacheTest, MissCompileThenHit) {
  Open();
  Compiler compiler;
  v1::LookupResponse miss = Lookup(1, Call(3, 4));
  ASSERT_TRUE(miss.has_miss());
  EXPECT_EQ(miss.miss().entry_count(), 0);
  EXPECT_THAT(miss.miss().advice(), HasSubstr("no entries for this graph"));
  EXPECT_EQ(miss.graph_digest(), GraphId(1));
  EXPECT_EQ(miss.target(), kTarget);

  absl::StatusOr<GetOrCompileResult> first = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->cache_hit);
  EXPECT_EQ(compiler.calls, 1);
  const std::string key = first->artifact.artifact_key();
  EXPECT_EQ(key, ArtifactKey({GraphId(1), Static(3, 4)->digest(), kTarget,
                              kCompilerVersion, kDefaultSalt}));
  EXPECT_THAT(first->artifact.payload(), HasSubstr(key));

  v1::LookupResponse hit = Lookup(1, Call(3, 4));
  ASSERT_TRUE(hit.has_hit());
  EXPECT_EQ(hit.hit().artifact_key(), key);
  EXPECT_EQ(hit.hit().entry_index(), 0);
  EXPECT_EQ(hit.hit().guards_digest(), Static(3, 4)->digest());
  EXPECT_EQ(hit.hit().output_spec().outputs_size(), 1);

  absl::StatusOr<GetOrCompileResult> again = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->cache_hit);
  EXPECT_EQ(again->artifact.payload(), first->artifact.payload());
  EXPECT_EQ(compiler.calls, 1);

  // Another graph or target never shares the entry.
  EXPECT_TRUE(Lookup(2, Call(3, 4)).has_miss());
  std::string cuda =
      ResolveTarget("cuda-sm_90", {}, kCompilerVersion, kDefaultSalt);
  EXPECT_TRUE(cache_->Lookup(GraphId(1), cuda, Call(3, 4))->has_miss());

  v1::StatsResponse stats = cache_->Stats();
  EXPECT_EQ(stats.entries(), 1);
  EXPECT_EQ(stats.hits(), 2);    // Lookup hit + GetOrCompile hit
  EXPECT_EQ(stats.misses(), 4);  // Lookup, compile, graph 2, cuda
  ASSERT_GE(stats.by_target_size(), 1);
}

TEST_F(ArtifactCacheTest, RejectsMalformedKeys) {
  Open();
  Compiler compiler;
  EXPECT_EQ(cache_->Lookup("nothex", kTarget, Call(3, 4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A target resolved with another salt is not this cache's.
  std::string salted =
      ResolveTarget("cpu-x86_64-avx2", {}, kCompilerVersion, kDefaultSalt + 1);
  absl::Status s =
      cache_->GetOrCompile({GraphId(1), salted, Static(3, 4)}, compiler.Fn())
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("salt"));
  v1::CallSignature bad = Call(3, 4);
  bad.mutable_inputs(0)
      ->mutable_tensor()
      ->mutable_meta()
      ->mutable_sizes(0)
      ->mutable_expr()
      ->set_op(v1::SymExpr::SYMBOL);
  EXPECT_EQ(cache_->Lookup(GraphId(1), kTarget, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(compiler.calls, 0);
}

TEST_F(ArtifactCacheTest, EntriesAreTriedNewestFirst) {
  Open();
  Compiler compiler;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  now_ms_ += 10;
  absl::StatusOr<GetOrCompileResult> dynamic = Get(1, DynamicDim0(4), compiler);
  ASSERT_TRUE(dynamic.ok()) << dynamic.status();
  EXPECT_EQ(dynamic->entry_index, 0);

  // [3, 4] satisfies both; the newer (dynamic) entry serves it.
  v1::LookupResponse r = Lookup(1, Call(3, 4));
  ASSERT_TRUE(r.has_hit());
  EXPECT_EQ(r.hit().artifact_key(), dynamic->artifact.artifact_key());
  EXPECT_EQ(r.hit().entry_index(), 0);
  EXPECT_TRUE(Lookup(1, Call(9, 4)).has_hit());

  std::vector<v1::ArtifactInfo> infos = cache_->ListArtifacts();
  ASSERT_EQ(infos.size(), 2u);
  for (const v1::ArtifactInfo& info : infos) {
    EXPECT_EQ(info.entry_index(),
              info.artifact_key() == dynamic->artifact.artifact_key() ? 0 : 1);
  }
}

TEST_F(ArtifactCacheTest, ExplainGivesEveryEntryItsFirstFailure) {
  Open();
  Compiler compiler;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  ASSERT_TRUE(Get(1, DynamicDim0(4), compiler).ok());
  absl::StatusOr<v1::ExplainResponse> e =
      cache_->Explain(GraphId(1), kTarget, Call(3, 5));
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->entries_size(), 2);
  EXPECT_EQ(e->entries(0).entry_index(), 0);
  EXPECT_FALSE(e->entries(0).would_hit());
  EXPECT_EQ(e->entries(0).first_failure().message(),
            "inputs[0].size(1): expected 4, got 5");
  EXPECT_EQ(e->entries(1).first_failure().path(), "inputs[0].size(1)");

  e = cache_->Explain(GraphId(1), kTarget, Call(3, 4));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->entries(0).would_hit());
  EXPECT_TRUE(e->entries(1).would_hit());
  EXPECT_FALSE(e->entries(1).has_first_failure());

  // A miss explains itself on request.
  v1::LookupResponse miss = Lookup(1, Call(3, 5), /*explain=*/true);
  ASSERT_TRUE(miss.has_miss());
  ASSERT_EQ(miss.miss().explanations_size(), 2);
  EXPECT_THAT(miss.miss().explanations(0).first_failure().message(),
              HasSubstr("expected 4, got 5"));
  EXPECT_EQ(miss.miss().entry_count(), 2);
}

TEST_F(ArtifactCacheTest, WobbledDimsAreRememberedPerGraph) {
  Open();
  Compiler compiler;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  v1::LookupResponse r = Lookup(1, Call(4, 5));
  ASSERT_TRUE(r.has_miss());
  ASSERT_EQ(r.dynamic_hints_size(), 1);
  EXPECT_EQ(r.dynamic_hints(0).input_index(), 0);
  EXPECT_EQ(r.dynamic_hints(0).path(), "inputs[0]");
  EXPECT_THAT(r.dynamic_hints(0).dims(), ::testing::ElementsAre(0, 1));
  EXPECT_THAT(r.miss().advice(), HasSubstr("retrace them dynamic"));

  // A dtype change is not a wobble.
  v1::CallSignature half =
      Sig().In(T().Sizes({3, 4}).DType(v1::FLOAT16)).Build();
  EXPECT_EQ(Lookup(1, half).dynamic_hints_size(), 1);  // still the old one

  // Hints come back on hits and from compiles, and survive a restart.
  GetOrCompileOptions options;
  v1::CallSignature call = Call(4, 4);
  options.signature = &call;
  absl::StatusOr<GetOrCompileResult> c =
      Get(1, Static(4, 4), compiler, options);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->dynamic_hints.size(), 1u);
  ASSERT_TRUE(cache_->Close().ok());
  Open();
  r = Lookup(1, Call(3, 4));
  ASSERT_TRUE(r.has_hit());
  ASSERT_EQ(r.dynamic_hints_size(), 1);
  EXPECT_THAT(r.dynamic_hints(0).dims(), ::testing::ElementsAre(0, 1));
  EXPECT_EQ(Lookup(2, Call(3, 4)).dynamic_hints_size(), 0);
}

TEST_F(ArtifactCacheTest, RecompileLimitTellsTheClientToRunEagerly) {
  options_.recompile_limit = 2;
  Open();
  Compiler compiler;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  ASSERT_TRUE(Get(1, Static(4, 4), compiler).ok());
  absl::StatusOr<GetOrCompileResult> third = Get(1, Static(5, 4), compiler);
  ASSERT_FALSE(third.ok());
  EXPECT_TRUE(IsRecompileLimit(third.status())) << third.status();
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("eagerly"));
  EXPECT_EQ(compiler.calls, 2);
  // Existing entries still serve; another graph is unaffected.
  EXPECT_TRUE(Get(1, Static(4, 4), compiler)->cache_hit);
  EXPECT_TRUE(Get(2, Static(5, 4), compiler).ok());

  v1::LookupResponse r = Lookup(1, Call(5, 4));
  ASSERT_TRUE(r.has_miss());
  EXPECT_TRUE(r.miss().recompile_limit_reached());
  EXPECT_THAT(r.miss().advice(), HasSubstr("recompile limit"));
  EXPECT_TRUE(cache_->Explain(GraphId(1), kTarget, Call(5, 4))
                  ->recompile_limit_reached());
  // Other RESOURCE_EXHAUSTED statuses are not the recompile limit.
  EXPECT_FALSE(IsRecompileLimit(absl::ResourceExhaustedError("full")));
}

// N identical concurrent misses: the compile function runs once, blocked
// until every other caller has joined the flight, and all share its result.
TEST_F(ArtifactCacheTest, SingleFlightRunsOneCompileForConcurrentMisses) {
  Open();
  constexpr int kCallers = 8;
  SyncPointGuard sync;
  absl::Mutex mu;
  int joined = 0;
  SyncPoint::Get().SetCallBack("ArtifactCache::GetOrCompile:JoinedFlight",
                               [&](void*) {
                                 absl::MutexLock lock(&mu);
                                 ++joined;
                               });
  std::atomic<int> calls{0};
  CompileFn compile =
      [&](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
    ++calls;
    absl::MutexLock lock(&mu);
    // Deterministic: hold the compile until all others are waiting on it.
    bool all = mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* j) { return *j == kCallers - 1; }, &joined),
        kSafetyTimeout);
    if (!all) return absl::InternalError("callers did not join");
    CompiledArtifact a;
    a.payload = "shared";
    return a;
  };
  std::vector<absl::StatusOr<GetOrCompileResult>> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)},
                                        compile, {.client_id = "t"});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(SyncPoint::Get().PassCount("ArtifactCache::Compile:Start"), 1);
  int shared = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->cache_hit);
    EXPECT_EQ(r->artifact.payload(), "shared");
    EXPECT_EQ(r->artifact.artifact_key(), results[0]->artifact.artifact_key());
    shared += r->shared_compile;
  }
  EXPECT_EQ(shared, kCallers - 1);
  EXPECT_EQ(cache_->Stats().entries(), 1);
}

TEST_F(ArtifactCacheTest, FailedCompileFailsEveryWaiterAndCachesNothing) {
  Open();
  constexpr int kCallers = 4;
  SyncPointGuard sync;
  absl::Mutex mu;
  int joined = 0;
  SyncPoint::Get().SetCallBack("ArtifactCache::GetOrCompile:JoinedFlight",
                               [&](void*) {
                                 absl::MutexLock lock(&mu);
                                 ++joined;
                               });
  std::atomic<int> calls{0};
  CompileFn failing =
      [&](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
    ++calls;
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* j) { return *j == kCallers - 1; }, &joined),
        kSafetyTimeout);
    return absl::UnimplementedError("aten::frobnicate.default");
  };
  std::vector<absl::Status> statuses(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] =
          cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)}, failing)
              .status();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls, 1);
  for (const absl::Status& s : statuses) {
    EXPECT_EQ(s, absl::UnimplementedError("aten::frobnicate.default"));
  }
  EXPECT_EQ(cache_->Stats().entries(), 0);
  EXPECT_EQ(Lookup(1, Call(3, 4)).miss().entry_count(), 0);
  // Nothing was cached: the next request compiles again.
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> r = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cache_hit);
  EXPECT_EQ(compiler.calls, 1);
}

// A waiter stops waiting at its deadline or when cancelled; the compile
// goes on for the others, and once nobody waits it sees abandoned().
TEST_F(ArtifactCacheTest, WaitersGiveUpAndNobodyWaitingAbandonsTheCompile) {
  Open();
  SyncPointGuard sync;
  absl::Mutex mu;
  int gave_up = 0;
  bool saw_abandoned = false;
  SyncPoint::Get().SetCallBack("ArtifactCache::GetOrCompile:GaveUp",
                               [&](void*) {
                                 absl::MutexLock lock(&mu);
                                 ++gave_up;
                               });
  std::atomic<int> calls{0};
  CompileFn compile =
      [&](const CompileContext& ctx) -> absl::StatusOr<CompiledArtifact> {
    ++calls;
    absl::MutexLock lock(&mu);
    mu.AwaitWithTimeout(absl::Condition(
                            +[](int* n) { return *n == 2; }, &gave_up),
                        kSafetyTimeout);
    saw_abandoned = ctx.abandoned();
    return absl::CancelledError("nobody wants it");
  };
  PassCounter started("ArtifactCache::Compile:Start");
  PassCounter done("ArtifactCache::Compile:Done");
  std::atomic<bool> cancel{false};
  absl::Status leader_status;
  std::thread leader([&] {
    GetOrCompileOptions o;
    o.cancelled = [&] { return cancel.load(); };
    leader_status =
        cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)}, compile, o)
            .status();
  });
  // Once the compile runs, join it with a deadline already passed.
  ASSERT_TRUE(started.WaitFor(1));
  GetOrCompileOptions late;
  late.deadline = absl::Now() - absl::Seconds(1);
  absl::StatusOr<GetOrCompileResult> r =
      cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)}, compile, late);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  cancel = true;
  leader.join();
  EXPECT_EQ(leader_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
  // The pool finishes the abandoned compile.
  ASSERT_TRUE(done.WaitFor(1));
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(saw_abandoned);
  }
  // Nothing stored; a later caller compiles afresh.
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> fresh = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->cache_hit);
  EXPECT_EQ(compiler.calls, 1);
}

TEST_F(ArtifactCacheTest, CompileQueueLimit) {
  options_.max_pending_compiles = 1;
  Open();
  SyncPointGuard sync;
  PassCounter started("ArtifactCache::Compile:Start");
  absl::Mutex mu;
  bool release = false;
  CompileFn blocked =
      [&](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&release));
    return CompiledArtifact{"x", {}};
  };
  std::thread first([&] {
    EXPECT_TRUE(
        cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)}, blocked)
            .ok());
  });
  ASSERT_TRUE(started.WaitFor(1));
  Compiler compiler;
  absl::Status full = Get(2, Static(3, 4), compiler).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(IsRecompileLimit(full));
  EXPECT_THAT(std::string(full.message()), HasSubstr("compile queue"));
  {
    absl::MutexLock lock(&mu);
    release = true;
  }
  first.join();
  EXPECT_TRUE(Get(2, Static(3, 4), compiler).ok());
}

TEST_F(ArtifactCacheTest, MetadataGuardEntriesBecomeCandidates) {
  Open();
  auto subclass = [](int constant, bool custom) {
    return T("my_pkg.CtxSubclassTensor")
        .Sizes({3})
        .Inner("_data", T().Sizes({3}))
        .Metadata(M::Tuple({M::Int(constant)}))
        .MetadataGuard(custom);
  };
  Compiler compiler;
  // Oldest: a plain entry whose metadata must match bytewise.
  absl::StatusOr<GetOrCompileResult> plain = cache_->GetOrCompile(
      {GraphId(1), kTarget, MustCreate(Ctx().In(subclass(4, false)).Build())},
      compiler.Fn());
  ASSERT_TRUE(plain.ok()) << plain.status();
  // Newer: one with __metadata_guard__, stored with metadata (3,).
  absl::StatusOr<GetOrCompileResult> custom = cache_->GetOrCompile(
      {GraphId(1), kTarget, MustCreate(Ctx().In(subclass(3, true)).Build())},
      compiler.Fn());
  ASSERT_TRUE(custom.ok()) << custom.status();

  // A call with metadata (4,) and the custom guard: the custom entry is a
  // candidate (the client decides), evaluated before the plain entry...
  v1::CallSignature call = Sig().In(subclass(4, true)).Build();
  v1::LookupResponse r = Lookup(1, call);
  ASSERT_EQ(r.candidates_size(), 1);
  EXPECT_EQ(r.candidates(0).artifact_key(), custom->artifact.artifact_key());
  EXPECT_EQ(r.candidates(0).entry_index(), 0);
  ASSERT_EQ(r.candidates(0).metadata_size(), 1);
  EXPECT_EQ(r.candidates(0).metadata(0).path(), "inputs[0]");
  EXPECT_EQ(
      r.candidates(0).metadata(0).metadata().tuple().values(0).int_value(), 3);
  // ...and the plain entry fails on has_metadata_guard, so this is a miss.
  EXPECT_TRUE(r.has_miss());
  absl::StatusOr<v1::ExplainResponse> e =
      cache_->Explain(GraphId(1), kTarget, call);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->entries(0).needs_metadata_guard());
  EXPECT_FALSE(e->entries(0).would_hit());
  EXPECT_FALSE(e->entries(1).would_hit());

  // A plain call matching the older entry: candidates (none apply) and hit.
  v1::LookupResponse h = Lookup(1, Sig().In(subclass(4, false)).Build());
  ASSERT_TRUE(h.has_hit());
  EXPECT_EQ(h.hit().artifact_key(), plain->artifact.artifact_key());
  EXPECT_EQ(h.hit().entry_index(), 1);
  EXPECT_EQ(h.candidates_size(), 0);
}

TEST_F(ArtifactCacheTest, EntriesAndUsageSurviveReopen) {
  Open();
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> a =
      Get(1, Static(3, 4), compiler, {.client_id = "job-7/rank-0"});
  ASSERT_TRUE(a.ok());
  std::string key = a->artifact.artifact_key();
  std::string payload = a->artifact.payload();
  a->artifact = ArtifactHandle();
  now_ms_ += 5000;
  ASSERT_TRUE(Lookup(1, Call(3, 4)).has_hit());
  ASSERT_TRUE(Lookup(1, Call(3, 4)).has_hit());

  // Hits are not written synchronously: the stored metadata still says 0.
  auto stored_hits = [&]() -> int64_t {
    absl::StatusOr<std::optional<std::string>> raw =
        cache_->store().Get(Family::kMetadata, key);
    EXPECT_TRUE(raw.ok() && raw->has_value());
    records::ArtifactMetadata m;
    EXPECT_TRUE(m.ParseFromString(**raw));
    return m.hit_count();
  };
  EXPECT_EQ(stored_hits(), 0);
  ASSERT_TRUE(cache_->FlushUsage().ok());
  EXPECT_EQ(stored_hits(), 2);

  ASSERT_TRUE(cache_->Close().ok());
  Open();
  std::optional<v1::ArtifactInfo> info = cache_->GetInfo(key);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->hit_count(), 2);
  EXPECT_EQ(info->producing_client(), "job-7/rank-0");
  EXPECT_EQ(info->last_used_unix_ms(), now_ms_.load());
  EXPECT_EQ(info->created_unix_ms(), now_ms_.load() - 5000);
  EXPECT_EQ(info->target(), kTarget);
  EXPECT_EQ(info->graph_digest(), GraphId(1));
  EXPECT_GT(info->size_bytes(), 0);

  v1::LookupResponse r = Lookup(1, Call(3, 4));
  ASSERT_TRUE(r.has_hit());
  EXPECT_EQ(r.hit().artifact_key(), key);
  absl::StatusOr<std::optional<ArtifactHandle>> read =
      cache_->ReadArtifact(key);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->payload(), payload);
  EXPECT_EQ(compiler.calls, 1);

  std::optional<v1::GetResponse> d = cache_->Describe(key);
  ASSERT_TRUE(d.has_value());
  EXPECT_FALSE(d->guard_descriptions().empty());
  EXPECT_EQ(d->guards().inputs_size(), 1);
  EXPECT_FALSE(cache_->Describe(std::string(64, '0')).has_value());
}

TEST_F(ArtifactCacheTest, BypassCacheRecompilesInPlace) {
  Open();
  Compiler compiler;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  ASSERT_TRUE(Get(1, DynamicDim0(4), compiler).ok());
  absl::StatusOr<GetOrCompileResult> again =
      Get(1, Static(3, 4), compiler, {.bypass_cache = true});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cache_hit);
  EXPECT_EQ(again->entry_index, 1);  // kept its place in the list
  EXPECT_THAT(again->artifact.payload(), HasSubstr("compile 3"));
  EXPECT_EQ(cache_->Stats().entries(), 2);
  absl::StatusOr<std::optional<ArtifactHandle>> read =
      cache_->ReadArtifact(again->artifact.artifact_key());
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_THAT((*read)->payload(), HasSubstr("compile 3"));
}

// Over the budget, the least recently used artifacts go first, with their
// entries, in one batch with the write that needed the room.
TEST_F(ArtifactCacheTest, EvictsLeastRecentlyUsedOverBudget) {
  constexpr int64_t kStored = 1000 + 24;  // incompressible payload + frame
  options_.max_bytes = 3 * kStored;
  Open();
  Compiler compiler;
  compiler.size = 1000;
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    now_ms_ += 1000;
    absl::StatusOr<GetOrCompileResult> r = Get(i, Static(3, 4), compiler);
    ASSERT_TRUE(r.ok()) << r.status();
    keys.push_back(r->artifact.artifact_key());
  }
  EXPECT_EQ(cache_->Stats().bytes(), 3 * kStored);
  // Use graph 0 again: graph 1 is now the least recently used.
  now_ms_ += 1000;
  ASSERT_TRUE(Lookup(0, Call(3, 4)).has_hit());
  now_ms_ += 1000;
  ASSERT_TRUE(Get(3, Static(3, 4), compiler).ok());
  EXPECT_FALSE(cache_->GetInfo(keys[1]).has_value());
  EXPECT_TRUE(Lookup(1, Call(3, 4)).has_miss());
  EXPECT_TRUE(cache_->GetInfo(keys[0]).has_value());
  EXPECT_TRUE(cache_->GetInfo(keys[2]).has_value());
  v1::StatsResponse stats = cache_->Stats();
  EXPECT_EQ(stats.evictions(), 1);
  EXPECT_EQ(stats.bytes(), 3 * kStored);
  EXPECT_EQ(stats.capacity_bytes(), 3 * kStored);
  // Next: graph 2, then 0, then 3.
  now_ms_ += 1000;
  ASSERT_TRUE(Get(4, Static(3, 4), compiler).ok());
  EXPECT_FALSE(cache_->GetInfo(keys[2]).has_value());
  EXPECT_TRUE(cache_->GetInfo(keys[0]).has_value());

  // The evictions were durable: gone after a restart too, records included.
  ASSERT_TRUE(cache_->Close().ok());
  Open();
  EXPECT_EQ(cache_->Stats().entries(), 3);
  EXPECT_FALSE(cache_->GetInfo(keys[1]).has_value());
  EXPECT_FALSE(cache_->store().Get(Family::kArtifacts, keys[1])->has_value());
  EXPECT_FALSE(cache_->store().Get(Family::kMetadata, keys[1])->has_value());
  EXPECT_FALSE(
      cache_->store()
          .Get(Family::kEntries, EntryListRecordKey(GraphId(1), kTarget))
          ->has_value());

  // A smaller budget at open evicts down to it.
  ASSERT_TRUE(cache_->Close().ok());
  options_.max_bytes = kStored;
  Open();
  EXPECT_EQ(cache_->Stats().entries(), 1);
  EXPECT_EQ(cache_->Stats().bytes(), kStored);
}

// Pinned artifacts are never evicted; when nothing else can go, writes past
// the hard limit are refused and store nothing.
TEST_F(ArtifactCacheTest, PinnedArtifactsStayAndTheHardLimitRefusesWrites) {
  constexpr int64_t kStored = 1000 + 24;
  options_.max_bytes = 2 * kStored;
  options_.hard_max_bytes = 2 * kStored + kStored / 2;
  Open();
  Compiler compiler;
  compiler.size = 1000;
  std::vector<GetOrCompileResult> held;
  for (int i = 0; i < 2; ++i) {
    now_ms_ += 1000;
    absl::StatusOr<GetOrCompileResult> r = Get(i, Static(3, 4), compiler);
    ASSERT_TRUE(r.ok());
    held.push_back(std::move(*r));  // pins both
  }
  now_ms_ += 1000;
  absl::Status full = Get(2, Static(3, 4), compiler).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(IsRecompileLimit(full));
  EXPECT_THAT(std::string(full.message()), HasSubstr("hard limit"));
  EXPECT_EQ(cache_->Stats().entries(), 2);
  EXPECT_EQ(cache_->Stats().evictions(), 0);
  EXPECT_TRUE(Lookup(2, Call(3, 4)).has_miss());

  // Unpin the older one: it is evicted to make room.
  std::string oldest = held[0].artifact.artifact_key();
  held.erase(held.begin());
  ASSERT_TRUE(Get(2, Static(3, 4), compiler).ok());
  EXPECT_FALSE(cache_->GetInfo(oldest).has_value());
  EXPECT_TRUE(cache_->GetInfo(held[0].artifact.artifact_key()).has_value());
  EXPECT_EQ(cache_->Stats().evictions(), 1);

  // One artifact larger than the hard limit is refused outright.
  Compiler huge;
  huge.size = 3 * kStored;
  absl::Status too_big = Get(5, Static(3, 4), huge).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("more than"));
}

// While an eviction holds a victim, nobody can pin it: a read in that window
// is a miss, never bytes that are about to disappear.
TEST_F(ArtifactCacheTest, AVictimBeingEvictedCannotBePinned) {
  constexpr int64_t kStored = 1000 + 24;
  options_.max_bytes = kStored;
  Open();
  Compiler compiler;
  compiler.size = 1000;
  absl::StatusOr<GetOrCompileResult> first = Get(0, Static(3, 4), compiler);
  ASSERT_TRUE(first.ok());
  std::string victim = first->artifact.artifact_key();
  first->artifact = ArtifactHandle();

  SyncPointGuard sync;
  bool read_during_eviction = false;
  SyncPoint::Get().SetCallBack("ArtifactCache::Evict:Claimed", [&](void*) {
    absl::StatusOr<std::optional<ArtifactHandle>> r =
        cache_->ReadArtifact(victim);
    read_during_eviction = r.ok() && !r->has_value();
  });
  now_ms_ += 1000;
  ASSERT_TRUE(Get(1, Static(3, 4), compiler).ok());
  EXPECT_TRUE(read_during_eviction);
  EXPECT_FALSE(cache_->GetInfo(victim).has_value());
}

TEST_F(ArtifactCacheTest, CorruptArtifactIsRemovedCountedAndRecompiled) {
  Open();
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> a = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(a.ok());
  std::string key = a->artifact.artifact_key();
  std::string good = a->artifact.payload();
  a->artifact = ArtifactHandle();
  // Simulate bit rot: the record no longer matches its checksum. Reopen so
  // the payload LRU does not hold the good bytes.
  std::string framed = EncodeArtifact(good, 512, 3);
  framed[framed.size() - 1] ^= 0x01;
  ASSERT_TRUE(
      cache_->store().PutRawForTest(Family::kArtifacts, key, framed).ok());
  ASSERT_TRUE(cache_->Close().ok());
  Open();

  // Lookup needs no artifact read, so it still hits; reading it is DATA_LOSS.
  EXPECT_TRUE(Lookup(1, Call(3, 4)).has_hit());
  absl::StatusOr<std::optional<ArtifactHandle>> read =
      cache_->ReadArtifact(key);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache_->Stats().corruptions_detected(), 1);
  // Removed: now a miss, and reading again is not found.
  EXPECT_TRUE(Lookup(1, Call(3, 4)).has_miss());
  read = cache_->ReadArtifact(key);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
  // The next compile request recompiles it under the same key.
  absl::StatusOr<GetOrCompileResult> again = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cache_hit);
  EXPECT_EQ(again->artifact.artifact_key(), key);
  EXPECT_EQ(compiler.calls, 2);

  // Corrupt again; this time GetOrCompile finds it and recompiles rather
  // than serve it.
  ASSERT_TRUE(
      cache_->store().PutRawForTest(Family::kArtifacts, key, "junk").ok());
  ASSERT_TRUE(cache_->Close().ok());
  Open();
  absl::StatusOr<GetOrCompileResult> third = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->cache_hit);
  EXPECT_THAT(third->artifact.payload(), HasSubstr("compile 3"));
  EXPECT_EQ(cache_->Stats().corruptions_detected(), 1);  // since this open
}

TEST_F(ArtifactCacheTest, EvictRequests) {
  Open();
  Compiler compiler;
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    now_ms_ += 10'000;
    absl::StatusOr<GetOrCompileResult> r =
        Get(i % 2, Static(3 + i, 4), compiler,
            {.client_id = i == 3 ? "job-b" : "job-a"});
    ASSERT_TRUE(r.ok());
    keys.push_back(r->artifact.artifact_key());
  }
  auto evict = [&](const std::string& text, bool dry_run = false) {
    v1::EvictRequest req;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &req));
    req.set_dry_run(dry_run);
    return cache_->Evict(req);
  };
  EXPECT_EQ(evict("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(evict("older_than_s: -1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(evict("all: false").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(evict("filter { min_bytes: 10 max_bytes: 5 }").status().code(),
            absl::StatusCode::kInvalidArgument);

  // Dry run removes nothing.
  absl::StatusOr<v1::EvictResponse> r = evict("all: true", true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 4);
  EXPECT_EQ(cache_->Stats().entries(), 4);

  // Last used more than 15 s ago: the first two.
  r = evict("older_than_s: 15");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 2);
  EXPECT_FALSE(cache_->GetInfo(keys[0]).has_value());
  EXPECT_FALSE(cache_->GetInfo(keys[1]).has_value());
  // By producing client.
  r = evict("filter { producing_client: 'job-b' }");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->artifact_keys_size(), 1);
  EXPECT_EQ(r->artifact_keys(0), keys[3]);
  // A pinned one is skipped.
  absl::StatusOr<std::optional<ArtifactHandle>> pin =
      cache_->ReadArtifact(keys[2]);
  ASSERT_TRUE(pin.ok() && pin->has_value());
  r = evict(absl::StrCat("artifact_key: '", keys[2], "'"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 0);
  pin->reset();
  r = evict(absl::StrCat("graph_digest: '", GraphId(0), "'"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 1);
  EXPECT_GT(r->evicted_bytes(), 0);
  EXPECT_EQ(cache_->Stats().entries(), 0);
  EXPECT_EQ(cache_->Stats().evictions(), 4);
}

// What Export would carry for `handle`: its parts and metadata.
ImportEntry ExportOf(const ArtifactHandle& handle,
                     const v1::ArtifactInfo& info) {
  ImportEntry e;
  e.artifact_key = handle.artifact_key();
  e.graph_digest = handle.graph_digest();
  e.target = handle.target();
  e.guards = handle.guards();
  e.output_spec = handle.output_spec();
  e.payload = handle.payload();
  e.created_unix_ms = info.created_unix_ms();
  e.compile_time_us = info.compile_time_us();
  e.producing_client = info.producing_client();
  return e;
}

TEST_F(ArtifactCacheTest, ReadArtifactWithoutTouchKeepsLastUsed) {
  Open();
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> r = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(r.ok());
  const std::string key = r->artifact.artifact_key();
  const int64_t created = cache_->GetInfo(key)->last_used_unix_ms();
  now_ms_ += 5'000;
  auto read = cache_->ReadArtifact(key, {.touch = false});
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->payload(), r->artifact.payload());
  EXPECT_EQ(cache_->GetInfo(key)->last_used_unix_ms(), created);
  read = cache_->ReadArtifact(key);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ(cache_->GetInfo(key)->last_used_unix_ms(), created + 5'000);
}

TEST_F(ArtifactCacheTest, ImportAddsEntriesIdempotentlyInCreationOrder) {
  // A source cache with three entries of graph 1 and one of graph 2.
  Open();
  Compiler compiler;
  std::vector<ImportEntry> exported;
  for (int i = 0; i < 4; ++i) {
    now_ms_ += 1'000;
    absl::StatusOr<GetOrCompileResult> r =
        Get(i < 3 ? 1 : 2, Static(3 + i, 4), compiler, {.client_id = "src"});
    ASSERT_TRUE(r.ok()) << r.status();
    exported.push_back(
        ExportOf(r->artifact, *cache_->GetInfo(r->artifact.artifact_key())));
  }
  cache_.reset();
  fs::remove_all(dir_);

  // The destination has one of graph 1's entries already, made later.
  Open();
  now_ms_ += 60'000;
  std::vector<ImportEntry> batch = exported;
  std::swap(batch[0], batch[2]);  // order in the bundle does not matter
  auto first = cache_->Import({exported[1]});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(*(*first)[0], ImportOutcome::kImported);
  auto outcomes = cache_->Import(batch);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 4u);
  int imported = 0, present = 0;
  for (const auto& o : *outcomes) {
    ASSERT_TRUE(o.ok()) << o.status();
    (*o == ImportOutcome::kImported ? imported : present)++;
  }
  EXPECT_EQ(imported, 3);
  EXPECT_EQ(present, 1);

  // Entries keep their source's identity and creation; use starts now.
  for (const ImportEntry& e : exported) {
    std::optional<v1::ArtifactInfo> info = cache_->GetInfo(e.artifact_key);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->created_unix_ms(), e.created_unix_ms);
    EXPECT_EQ(info->producing_client(), "src");
    EXPECT_EQ(info->hit_count(), 0);
    EXPECT_EQ(info->last_used_unix_ms(), now_ms_.load());
    auto read = cache_->ReadArtifact(e.artifact_key);
    ASSERT_TRUE(read.ok() && read->has_value());
    EXPECT_EQ((*read)->payload(), e.payload);
  }
  // Newest first, as on the source: entry 2 was made last.
  v1::LookupResponse hit = Lookup(1, Call(5, 4));
  ASSERT_TRUE(hit.has_hit());
  EXPECT_EQ(hit.hit().artifact_key(), exported[2].artifact_key);
  EXPECT_EQ(hit.hit().entry_index(), 0);
  EXPECT_EQ(cache_->GetInfo(exported[0].artifact_key)->entry_index(), 2);
  EXPECT_EQ(cache_->Stats().entries(), 4);

  // Importing again changes nothing, and everything survives a reopen.
  outcomes = cache_->Import(exported);
  ASSERT_TRUE(outcomes.ok());
  for (const auto& o : *outcomes) EXPECT_EQ(*o, ImportOutcome::kAlreadyPresent);
  Open();
  EXPECT_EQ(cache_->Stats().entries(), 4);
  EXPECT_TRUE(Lookup(2, Call(6, 4)).has_hit());
}

TEST_F(ArtifactCacheTest, ImportRefusesBadEntriesOneByOne) {
  options_.recompile_limit = 2;
  Open();
  Compiler compiler;
  std::vector<ImportEntry> exported;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<GetOrCompileResult> r =
        Get(i == 2 ? 2 : 1, Static(3 + i, 4), compiler);
    ASSERT_TRUE(r.ok()) << r.status();
    exported.push_back(
        ExportOf(r->artifact, *cache_->GetInfo(r->artifact.artifact_key())));
  }
  // A third entry for graph 1, made elsewhere.
  ImportEntry third = exported[0];
  third.guards = Static(9, 4);
  third.artifact_key =
      ArtifactKey({third.graph_digest, third.guards->digest(), third.target,
                   kCompilerVersion, kDefaultSalt});
  ImportEntry wrong_key = exported[2];
  wrong_key.graph_digest = GraphId(7);
  ImportEntry other_salt = exported[2];
  other_salt.target =
      ResolveTarget("cpu-x86_64-avx2", {}, kCompilerVersion, kDefaultSalt + 1);
  cache_.reset();
  fs::remove_all(dir_);
  Open();

  auto outcomes = cache_->Import(
      {exported[0], exported[1], third, wrong_key, other_salt, exported[2]});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 6u);
  EXPECT_TRUE((*outcomes)[0].ok());
  EXPECT_TRUE((*outcomes)[1].ok());
  EXPECT_TRUE(IsRecompileLimit((*outcomes)[2].status()));
  EXPECT_EQ((*outcomes)[3].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*outcomes)[3].status().message(),
              HasSubstr("does not match its graph digest"));
  EXPECT_EQ((*outcomes)[4].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*outcomes)[4].status().message(), HasSubstr("target"));
  ASSERT_TRUE((*outcomes)[5].ok());
  EXPECT_EQ(*(*outcomes)[5], ImportOutcome::kImported);
  EXPECT_EQ(cache_->Stats().entries(), 3);
  EXPECT_FALSE(cache_->GetInfo(third.artifact_key).has_value());
}

TEST_F(ArtifactCacheTest, ImportEvictsLeastRecentlyUsedOverBudget) {
  Open();
  Compiler compiler;
  compiler.size = 4000;  // incompressible
  std::vector<ImportEntry> exported;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<GetOrCompileResult> r = Get(i, Static(3, 4), compiler);
    ASSERT_TRUE(r.ok()) << r.status();
    exported.push_back(
        ExportOf(r->artifact, *cache_->GetInfo(r->artifact.artifact_key())));
  }
  const int64_t one = cache_->GetInfo(exported[0].artifact_key)->size_bytes();
  cache_.reset();
  fs::remove_all(dir_);

  // Room for two: the destination's own old entry makes way.
  options_.max_bytes = 2 * one + one / 2;
  options_.hard_max_bytes = options_.max_bytes;
  Open();
  absl::StatusOr<GetOrCompileResult> own = Get(9, Static(3, 4), compiler);
  ASSERT_TRUE(own.ok());
  const std::string own_key = own->artifact.artifact_key();
  own->artifact = ArtifactHandle();  // unpinned, so it can be evicted
  now_ms_ += 1'000;
  auto outcomes = cache_->Import({exported[0], exported[1]});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_FALSE(cache_->GetInfo(own_key).has_value());
  EXPECT_TRUE(cache_->GetInfo(exported[0].artifact_key).has_value());
  EXPECT_TRUE(cache_->GetInfo(exported[1].artifact_key).has_value());
  EXPECT_EQ(cache_->Stats().evictions(), 1);
  EXPECT_LE(cache_->Stats().bytes(), options_.max_bytes);

  // With both pinned, a third would pass the hard limit: the import fails
  // as a whole and stores nothing.
  auto pin0 = cache_->ReadArtifact(exported[0].artifact_key);
  auto pin1 = cache_->ReadArtifact(exported[1].artifact_key);
  ASSERT_TRUE(pin0.ok() && pin1.ok());
  auto refused = cache_->Import({exported[2]});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache_->Stats().entries(), 2);
  EXPECT_FALSE(cache_->GetInfo(exported[2].artifact_key).has_value());
}

TEST_F(ArtifactCacheTest, UsageIsWrittenBackInTheBackground) {
  options_.usage_flush_interval = absl::Milliseconds(1);
  SyncPointGuard sync;
  PassCounter flushed("ArtifactCache::FlushUsage:Committed");
  Open();
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> a = Get(1, Static(3, 4), compiler);
  ASSERT_TRUE(a.ok());
  std::string key = a->artifact.artifact_key();
  ASSERT_TRUE(Lookup(1, Call(3, 4)).has_hit());
  // The flusher commits the hit without anyone asking.
  ASSERT_TRUE(flushed.WaitFor(1));
  absl::StatusOr<std::optional<std::string>> raw =
      cache_->store().Get(Family::kMetadata, key);
  ASSERT_TRUE(raw.ok() && raw->has_value());
  records::ArtifactMetadata m;
  ASSERT_TRUE(m.ParseFromString(**raw));
  EXPECT_EQ(m.hit_count(), 1);
}

// Close lets a running compile finish and store; a queued one fails with
// CANCELLED without running; later calls are refused.
TEST_F(ArtifactCacheTest, CloseFinishesRunningCompilesAndCancelsQueuedOnes) {
  options_.compile_threads = 1;
  Open();
  SyncPointGuard sync;
  PassCounter flights("ArtifactCache::GetOrCompile:StartedFlight");
  PassCounter compiling("ArtifactCache::Compile:Start");
  PassCounter closing("ArtifactCache::Close:Closing");
  absl::Mutex mu;
  bool release = false;
  std::atomic<int> calls{0};
  CompileFn blocked =
      [&](const CompileContext&) -> absl::StatusOr<CompiledArtifact> {
    ++calls;
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&release));
    return CompiledArtifact{"running", {}};
  };
  absl::Status running, queued;
  std::thread a([&] {
    running = cache_->GetOrCompile({GraphId(1), kTarget, Static(3, 4)}, blocked)
                  .status();
  });
  ASSERT_TRUE(compiling.WaitFor(1));  // A holds the only compile thread
  std::thread b([&] {
    queued = cache_->GetOrCompile({GraphId(2), kTarget, Static(3, 4)}, blocked)
                 .status();
  });
  ASSERT_TRUE(flights.WaitFor(2));
  absl::Status closed;
  std::thread c([&] { closed = cache_->Close(); });
  ASSERT_TRUE(closing.WaitFor(1));
  {
    absl::MutexLock lock(&mu);
    release = true;
  }
  a.join();
  b.join();
  c.join();
  EXPECT_TRUE(running.ok()) << running;
  EXPECT_EQ(queued.code(), absl::StatusCode::kCancelled) << queued;
  EXPECT_TRUE(closed.ok()) << closed;
  EXPECT_EQ(calls, 1);
  Compiler compiler;
  EXPECT_EQ(Get(3, Static(3, 4), compiler).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The running compile was stored durably.
  Open();
  EXPECT_TRUE(Lookup(1, Call(3, 4)).has_hit());
  EXPECT_TRUE(Lookup(2, Call(3, 4)).has_miss());
}

// Open repairs what only a bug or foreign writes could leave behind (the
// cache's own writes are atomic): records of no entry are removed, entries
// whose records are missing are dropped, unreadable records are counted.
TEST_F(ArtifactCacheTest, OpenRepairsInconsistentRecords) {
  Open();
  Compiler compiler;
  absl::StatusOr<GetOrCompileResult> a = Get(1, Static(3, 4), compiler);
  absl::StatusOr<GetOrCompileResult> b = Get(2, Static(3, 4), compiler);
  ASSERT_TRUE(a.ok() && b.ok());
  std::string kept = a->artifact.artifact_key();
  std::string broken = b->artifact.artifact_key();
  a->artifact = b->artifact = ArtifactHandle();
  Store& store = cache_->store();
  const std::string orphan(64, 'e');
  ASSERT_TRUE(store.PutArtifact(orphan, "nobody lists me").ok());
  ASSERT_TRUE(store.Put(Family::kMetadata, orphan, "garbage").ok());
  ASSERT_TRUE(store.Delete(Family::kMetadata, broken).ok());
  ASSERT_TRUE(store
                  .Put(Family::kEntries,
                       EntryListRecordKey(GraphId(9), kTarget), "not a list")
                  .ok());
  ASSERT_TRUE(cache_->Close().ok());

  Open();
  EXPECT_EQ(cache_->Stats().entries(), 1);
  EXPECT_TRUE(cache_->GetInfo(kept).has_value());
  EXPECT_FALSE(cache_->GetInfo(broken).has_value());
  EXPECT_EQ(cache_->Stats().corruptions_detected(), 2);  // metadata, list
  for (Family f : {Family::kArtifacts, Family::kMetadata}) {
    EXPECT_FALSE(store_has(f, orphan));
    EXPECT_FALSE(store_has(f, broken));
  }
  EXPECT_FALSE(
      store_has(Family::kEntries, EntryListRecordKey(GraphId(2), kTarget)));
  EXPECT_FALSE(
      store_has(Family::kEntries, EntryListRecordKey(GraphId(9), kTarget)));
  EXPECT_TRUE(Lookup(1, Call(3, 4)).has_hit());
  // Graph 2 recompiles.
  EXPECT_FALSE(Get(2, Static(3, 4), compiler)->cache_hit);
}

}  // namespace
}  // namespace kiln::cache
