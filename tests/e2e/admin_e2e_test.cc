// End-to-end tests of the CacheAdmin service: the real kiln-server binary on
// a free port with a temporary data dir (a real RocksDB), called over real
// gRPC. Entries come from the Compiler service (Compile with the
// interpreter backend) and from //tests:admin_store_writer, which stores
// real compiled artifacts directly in a data dir before the server opens it
// (to make entries of the past, and for targets this host cannot run).
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cache/guards/test_util.h"
#include "client/cpp/admin_client.h"
#include "client/cpp/kiln_client.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"
#include "tests/testing/store_writer.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::cache::testing::Ctx;
using ::kiln::cache::testing::Sig;
using ::kiln::cache::testing::T;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

// relu(x) * x + y over [s0, 4] inputs.
constexpr char kDynamicGraph[] = R"(graph(%x: f32[s0, 4], %y: f32[s0, 4]) {
  %r = aten::relu.default(%x) : f32[s0, 4]
  %m = aten::mul.Tensor(%r, %x) : f32[s0, 4]
  %a = aten::add.Tensor(%m, %y) : f32[s0, 4]
  return (%a)
})";

float Expected(float x, float y) { return (x > 0 ? x * x : 0.0f) + y; }

using Written = ::kiln::testing::WrittenEntry;

v1::Tensor FloatTensor(int64_t rows, const std::vector<float>& values) {
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  t.mutable_device()->set_type(v1::CPU);
  t.add_sizes(rows);
  t.add_sizes(4);
  t.add_strides(4);
  t.add_strides(1);
  t.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                        values.size() * sizeof(float)));
  return t;
}

std::vector<float> Floats(const v1::Tensor& t) {
  std::vector<float> out(t.raw().size() / sizeof(float));
  std::memcpy(out.data(), t.raw().data(), out.size() * sizeof(float));
  return out;
}

std::vector<std::string> Keys(const std::vector<v1::ArtifactInfo>& entries) {
  std::vector<std::string> keys;
  for (const v1::ArtifactInfo& e : entries) keys.push_back(e.artifact_key());
  return keys;
}

class AdminE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    writer_bin_ = Runfile("tests/admin_store_writer");
    tmp_ = testing::MakeTempDir("admin");
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::string Dir(const std::string& name) { return tmp_ + "/" + name; }

  // Runs admin_store_writer on `dir` (before a server opens it).
  std::vector<Written> Write(const std::string& dir,
                             const std::vector<std::string>& specs) {
    auto written = testing::WriteEntries(writer_bin_, dir, specs);
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? *std::move(written) : std::vector<Written>();
  }

  std::unique_ptr<ServerProcess> StartServer(
      const std::string& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + dir,
                                     "--shutdown-timeout=5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::unique_ptr<client::KilnClient> Connect(const ServerProcess& server) {
    client::ClientOptions options;
    options.server = server.address();
    options.timeout = absl::Seconds(30);
    auto client = client::KilnClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  // Compiles kDynamicGraph for the interpreter with s0 in [lo, hi].
  v1::CompileResponse Compile(client::KilnClient& client, int lo, int hi,
                              const std::string& client_id = "admin-e2e") {
    v1::CompileRequest request;
    absl::StatusOr<v1::Graph> graph = ir::ParseGraphToProto(kDynamicGraph);
    EXPECT_TRUE(graph.ok()) << graph.status();
    *request.mutable_graph() = *graph;
    *request.mutable_guards() = Ctx()
                                    .Sym("s0", (lo + hi) / 2, lo, hi)
                                    .In(T().Sizes({"s0", 4}))
                                    .In(T().Sizes({"s0", 4}))
                                    .Build();
    request.mutable_target()->set_backend("interpreter");
    request.set_client_id(client_id);
    auto response = client.Compile(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::CompileResponse();
  }

  // A call of the writer's graphs (two f32[rows, 4] inputs).
  static v1::CallSignature Call(int rows) {
    return Sig().In(T().Sizes({rows, 4})).In(T().Sizes({rows, 4})).Build();
  }

  std::string server_bin_, writer_bin_, tmp_;
};

// Expects `status` to be INVALID_ARGUMENT naming `field`.
#define EXPECT_INVALID(status, field)                               \
  do {                                                              \
    absl::Status s_ = (status);                                     \
    EXPECT_EQ(s_.code(), absl::StatusCode::kInvalidArgument) << s_; \
    EXPECT_THAT(std::string(s_.message()), HasSubstr(field)) << s_; \
  } while (0)

TEST_F(AdminE2ETest, ListPagesFiltersAndSorts) {
  // Last used (and created): e0 now, e3 30 s ago, e2 1 min ago, e4 10 min
  // ago, e1 2 h ago. Graphs 0..5 grow in size with their number.
  std::vector<Written> w =
      Write(Dir("a"), {"graph=0,variant=0,client=job-a,hits=3",
                       "graph=0,variant=1,age_s=7200",
                       "graph=3,variant=0,client=job-b,age_s=60,hits=1",
                       "graph=5,variant=2,age_s=30",
                       "graph=1,variant=0,age_s=600,device=cuda-sm_90"});
  ASSERT_EQ(w.size(), 5u);
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);
  const std::vector<std::string> by_use = {w[0].key, w[3].key, w[2].key,
                                           w[4].key, w[1].key};

  // Pages of two, newest use first (the default sort, descending).
  v1::ListRequest request;
  request.set_page_size(2);
  request.set_descending(true);
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    request.set_page_token(token);
    auto page = admin.List(request);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total(), 5);
    EXPECT_LE(page->entries_size(), 2);
    for (const auto& e : page->entries()) seen.push_back(e.artifact_key());
    token = page->next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAreArray(by_use));

  // Ascending reverses the order; ListAll follows every page.
  request.set_descending(false);
  request.set_page_token("");
  int64_t total = 0;
  auto all = admin.ListAll(request, 0, &total);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Keys(*all), ElementsAreArray(std::vector<std::string>(
                              by_use.rbegin(), by_use.rend())));

  // Every entry's metadata is there.
  auto first = admin.Get(w[0].key);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->info().hit_count(), 3);
  EXPECT_EQ(first->info().producing_client(), "job-a");
  EXPECT_EQ(first->info().size_bytes(), w[0].size);
  EXPECT_GT(first->info().compile_time_us(), 0);

  // By size, smallest first, ties by key.
  request.set_sort(v1::ListRequest::SIZE);
  all = admin.ListAll(request, 0, &total);
  ASSERT_TRUE(all.ok());
  std::vector<Written> by_size = w;
  std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
    return std::tie(a.size, a.key) < std::tie(b.size, b.key);
  });
  std::vector<std::string> size_keys;
  for (const auto& x : by_size) size_keys.push_back(x.key);
  EXPECT_THAT(Keys(*all), ElementsAreArray(size_keys));
  // By hits, most first; by creation, oldest first.
  request.set_sort(v1::ListRequest::HITS);
  request.set_descending(true);
  all = admin.ListAll(request, 2, &total);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Keys(*all), ElementsAreArray({w[0].key, w[2].key}));
  request.set_sort(v1::ListRequest::CREATED);
  request.set_descending(false);
  all = admin.ListAll(request, 1, &total);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Keys(*all), ElementsAreArray({w[1].key}));
  EXPECT_EQ(total, 5);

  // Filters, each alone and together.
  auto matching = [&](const v1::EntryFilter& filter) {
    v1::ListRequest r;
    *r.mutable_filter() = filter;
    int64_t n = 0;
    auto entries = admin.ListAll(r, 0, &n);
    EXPECT_TRUE(entries.ok()) << entries.status();
    EXPECT_EQ(n, entries.ok() ? static_cast<int64_t>(entries->size()) : -1);
    return entries.ok() ? Keys(*entries) : std::vector<std::string>();
  };
  v1::EntryFilter f;
  f.set_graph_digest(w[0].graph);
  EXPECT_THAT(matching(f), UnorderedElementsAreArray({w[0].key, w[1].key}));
  f.Clear();
  f.set_target("cuda-sm_90-k1-salt0");
  EXPECT_THAT(matching(f), ElementsAreArray({w[4].key}));
  f.Clear();
  f.set_producing_client("job-b");
  EXPECT_THAT(matching(f), ElementsAreArray({w[2].key}));
  f.Clear();
  f.set_min_age_s(300);
  EXPECT_THAT(matching(f), UnorderedElementsAreArray({w[1].key, w[4].key}));
  f.Clear();
  f.set_max_age_s(45);
  EXPECT_THAT(matching(f), UnorderedElementsAreArray({w[0].key, w[3].key}));
  f.set_min_age_s(20);
  EXPECT_THAT(matching(f), ElementsAreArray({w[3].key}));
  f.Clear();
  f.set_min_bytes(by_size[3].size);
  std::vector<std::string> big;
  for (const auto& x : w) {
    if (x.size >= by_size[3].size) big.push_back(x.key);
  }
  EXPECT_THAT(matching(f), UnorderedElementsAreArray(big));
  f.Clear();
  f.set_max_bytes(by_size[0].size);
  std::vector<std::string> small;  // the smallest, and any of equal size
  for (const auto& x : w) {
    if (x.size <= by_size[0].size) small.push_back(x.key);
  }
  EXPECT_THAT(matching(f), UnorderedElementsAreArray(small));
  f.set_target("no-such-target");
  EXPECT_TRUE(matching(f).empty());

  // Entries added between pages neither repeat nor shift the rest.
  request.Clear();
  request.set_page_size(2);
  request.set_descending(true);
  auto page = admin.List(request);
  ASSERT_TRUE(page.ok());
  Compile(*client, 2, 64);  // the newest use of all: sorts before the cursor
  request.set_page_token(page->next_page_token());
  all = admin.ListAll(request, 0, &total);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(total, 6);
  EXPECT_THAT(Keys(*all), ElementsAreArray({by_use[2], by_use[3], by_use[4]}));

  // A token only fits the request it came from.
  v1::ListRequest other = request;
  other.mutable_filter()->set_producing_client("job-a");
  EXPECT_INVALID(admin.List(other).status(), "page_token: belongs to another");
  other = request;
  other.set_page_size(3);
  EXPECT_INVALID(admin.List(other).status(), "page_token");
  other.set_page_token("not a token");
  EXPECT_INVALID(admin.List(other).status(), "page_token: not a page token");

  // Bad requests name the field.
  v1::ListRequest bad;
  bad.set_page_size(1001);
  EXPECT_INVALID(admin.List(bad).status(), "page_size: at most 1000");
  bad.set_page_size(-1);
  EXPECT_INVALID(admin.List(bad).status(), "page_size: must not be negative");
  bad.Clear();
  bad.set_sort(static_cast<v1::ListRequest::SortOrder>(99));
  EXPECT_INVALID(admin.List(bad).status(), "sort: unknown sort order 99");
  bad.Clear();
  bad.mutable_filter()->set_min_age_s(-1);
  EXPECT_INVALID(admin.List(bad).status(), "filter.min_age_s");
  bad.Clear();
  bad.mutable_filter()->set_min_bytes(10);
  bad.mutable_filter()->set_max_bytes(5);
  EXPECT_INVALID(admin.List(bad).status(),
                 "filter.min_bytes: must not exceed max_bytes");
  bad.Clear();
  bad.mutable_filter()->set_graph_digest("xyz");
  EXPECT_INVALID(admin.List(bad).status(), "filter.graph_digest");
  // The server keeps serving.
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
}

TEST_F(AdminE2ETest, GetShowsGraphsGuardsAndMetadata) {
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);
  v1::CompileResponse compiled = Compile(*client, 2, 64, "job-7/rank-0");
  ASSERT_FALSE(compiled.artifact_key().empty());

  auto entry = admin.Get(compiled.artifact_key());
  ASSERT_TRUE(entry.ok()) << entry.status();
  const v1::ArtifactInfo& info = entry->info();
  EXPECT_EQ(info.artifact_key(), compiled.artifact_key());
  EXPECT_EQ(info.graph_digest(), compiled.graph_digest());
  EXPECT_EQ(info.guards_digest(), compiled.guards_digest());
  EXPECT_EQ(info.target(), "interpreter-k1-salt0");
  EXPECT_EQ(info.producing_client(), "job-7/rank-0");
  EXPECT_GT(info.size_bytes(), 0);
  EXPECT_GT(info.compile_time_us(), 0);
  EXPECT_EQ(info.hit_count(), 0);
  EXPECT_EQ(info.entry_index(), 0);
  EXPECT_GE(info.last_used_unix_ms(), info.created_unix_ms());
  // The graph as the compiler's IR text, before and after fusion.
  EXPECT_THAT(entry->graph_text(), HasSubstr("aten::relu.default(%p0)"));
  EXPECT_THAT(entry->graph_text(), HasSubstr("aten::add.Tensor"));
  EXPECT_THAT(entry->optimized_graph_text(), HasSubstr("kiln::fused"));
  EXPECT_TRUE(ir::ParseGraph(entry->graph_text()).ok());
  EXPECT_TRUE(ir::ParseGraph(entry->optimized_graph_text()).ok());
  // Guards in words, and the canonical context they come from.
  std::string words;
  for (const std::string& g : entry->guard_descriptions()) words += g + "\n";
  EXPECT_THAT(words, HasSubstr("global.grad_mode: true"));
  EXPECT_THAT(words, HasSubstr("inputs[0]: torch.Tensor, torch.float32"));
  EXPECT_THAT(words, HasSubstr("size (s0, 4)"));
  EXPECT_THAT(words, HasSubstr("2 <= s0 <= 64"));
  EXPECT_EQ(entry->guards().inputs_size(), 2);
  ASSERT_EQ(entry->output_spec().outputs_size(), 1);
  EXPECT_EQ(entry->output_spec().outputs(0).meta().dtype(), v1::FLOAT32);

  // Get is an inspection: it does not count as a use.
  auto again = admin.Get(compiled.artifact_key());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->info().last_used_unix_ms(), info.last_used_unix_ms());

  // Unknown and malformed keys.
  auto missing = admin.Get(std::string(64, 'a'));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("artifact_key: no entry with key aaaa"));
  EXPECT_INVALID(admin.Get("ABC").status(),
                 "artifact_key: expected 64 lowercase hex characters");
  EXPECT_INVALID(admin.Get("").status(), "artifact_key: required");
}

TEST_F(AdminE2ETest, StatsCountHitsMissesEvictionsAndTimeSaved) {
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);
  auto before = admin.Stats();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->entries(), 0);
  EXPECT_EQ(before->hit_rate(), 0);

  v1::CompileResponse a = Compile(*client, 2, 16);  // a miss
  v1::CompileResponse hit = Compile(*client, 2, 16);
  ASSERT_TRUE(hit.cache_hit());
  Compile(*client, 17, 64);  // another miss
  v1::LookupRequest lookup;
  lookup.set_graph_digest(a.graph_digest());
  lookup.mutable_target()->set_backend("interpreter");
  *lookup.mutable_signature() = Call(8);
  auto looked = client->Lookup(lookup);
  ASSERT_TRUE(looked.ok() && looked->has_hit());
  *lookup.mutable_signature() = Call(100);  // over every range: a miss
  looked = client->Lookup(lookup);
  ASSERT_TRUE(looked.ok() && looked->has_miss());

  auto stats = admin.Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->entries(), 2);
  EXPECT_EQ(stats->artifacts(), 2);
  EXPECT_GT(stats->bytes(), 0);
  EXPECT_EQ(stats->hits() - before->hits(), 2);
  EXPECT_EQ(stats->misses() - before->misses(), 3);
  EXPECT_DOUBLE_EQ(stats->hit_rate(), static_cast<double>(stats->hits()) /
                                          (stats->hits() + stats->misses()));
  auto info = admin.Get(a.artifact_key());
  ASSERT_TRUE(info.ok());
  // Each hit saved the entry's compile time.
  EXPECT_EQ(stats->compile_time_saved_us(), 2 * info->info().compile_time_us());
  ASSERT_EQ(stats->by_target_size(), 1);
  const v1::TargetStats& t = stats->by_target(0);
  EXPECT_EQ(t.target(), "interpreter-k1-salt0");
  EXPECT_EQ(t.entries(), 2);
  EXPECT_EQ(t.bytes(), stats->bytes());
  EXPECT_EQ(t.hits(), 2);
  EXPECT_EQ(t.misses(), 3);
  EXPECT_EQ(info->info().hit_count(), 2);

  v1::EvictRequest evict;
  evict.set_artifact_key(a.artifact_key());
  ASSERT_TRUE(admin.Evict(evict).ok());
  stats = admin.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->entries(), 1);
  EXPECT_EQ(stats->evictions(), 1);
}

TEST_F(AdminE2ETest, ExplainSaysWhichEntryWouldHitAndWhy) {
  std::vector<Written> w =
      Write(Dir("a"),
            {"graph=2,variant=0", "graph=2,variant=1", "graph=4,variant=0"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);

  v1::ExplainRequest request;
  request.set_graph_digest(w[0].graph);
  request.set_target("interpreter-k1-salt0");
  *request.mutable_signature() = Call(14);  // variant 1: s0 in [12, 21]
  auto explained = admin.Explain(request);
  ASSERT_TRUE(explained.ok()) << explained.status();
  ASSERT_EQ(explained->entries_size(), 2);
  // Newest first: variant 1 was stored last.
  const v1::EntryExplanation& newest = explained->entries(0);
  EXPECT_EQ(newest.artifact_key(), w[1].key);
  EXPECT_EQ(newest.entry_index(), 0);
  EXPECT_TRUE(newest.would_hit());
  const v1::EntryExplanation& older = explained->entries(1);
  EXPECT_EQ(older.artifact_key(), w[0].key);
  EXPECT_FALSE(older.would_hit());
  EXPECT_EQ(older.first_failure().kind(), v1::GuardFailure::SYMBOL_RANGE);
  EXPECT_EQ(older.first_failure().path(), "symbols[s0]");
  EXPECT_THAT(older.first_failure().message(), HasSubstr("got 14"));
  EXPECT_FALSE(explained->recompile_limit_reached());

  // A target spec resolves as Compile would; a dtype miss names the input.
  request.mutable_target_spec()->set_backend("interpreter");
  *request.mutable_signature() = Sig()
                                     .In(T().Sizes({4, 4}).DType(v1::FLOAT64))
                                     .In(T().Sizes({4, 4}))
                                     .Build();
  explained = admin.Explain(request);
  ASSERT_TRUE(explained.ok()) << explained.status();
  ASSERT_EQ(explained->entries_size(), 2);
  for (const auto& e : explained->entries()) {
    EXPECT_EQ(e.first_failure().kind(), v1::GuardFailure::DTYPE);
    EXPECT_EQ(e.first_failure().path(), "inputs[0].dtype");
  }
  // Explain changes nothing: no hits, no misses counted.
  auto stats = admin.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->hits() + stats->misses(), 0);
  // A graph without entries on the target: nothing to explain.
  request.set_graph_digest(std::string(64, '0'));
  explained = admin.Explain(request);
  ASSERT_TRUE(explained.ok());
  EXPECT_EQ(explained->entries_size(), 0);

  // Bad requests name the field.
  v1::ExplainRequest bad = request;
  bad.clear_graph_digest();
  EXPECT_INVALID(admin.Explain(bad).status(), "graph_digest: required");
  bad = request;
  bad.set_graph_digest("nothex");
  EXPECT_INVALID(admin.Explain(bad).status(), "graph_digest");
  bad = request;
  bad.clear_target_key();
  EXPECT_INVALID(admin.Explain(bad).status(), "target: required");
  bad = request;
  bad.set_target("bogus");
  EXPECT_INVALID(admin.Explain(bad).status(), "target: ");
  bad = request;
  bad.mutable_target_spec()->set_backend("tpu");
  EXPECT_INVALID(admin.Explain(bad).status(),
                 "target_spec.backend: unknown backend 'tpu'");
  bad = request;
  bad.clear_signature();
  EXPECT_INVALID(admin.Explain(bad).status(), "signature: required");
  bad = request;
  bad.mutable_signature()
      ->mutable_inputs(0)
      ->mutable_tensor()
      ->mutable_meta()
      ->mutable_sizes(0)
      ->set_static_size(-3);
  EXPECT_INVALID(admin.Explain(bad).status(), "signature.inputs[0]");
}

TEST_F(AdminE2ETest, EvictsByEachSelector) {
  std::vector<Written> w =
      Write(Dir("a"),
            {"graph=0,variant=0", "graph=0,variant=1,age_s=7200",
             "graph=1,variant=0,client=job-b,age_s=60",
             "graph=2,variant=0,age_s=600", "graph=3,variant=0,client=job-c",
             "graph=4,variant=0,client=job-c,age_s=30"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);
  auto remaining = [&] {
    int64_t total = 0;
    auto all = admin.ListAll(v1::ListRequest(), 0, &total);
    EXPECT_TRUE(all.ok());
    std::vector<std::string> keys =
        all.ok() ? Keys(*all) : std::vector<std::string>();
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  auto without = [&](std::vector<std::string> keys,
                     const std::set<std::string>& gone) {
    keys.erase(
        std::remove_if(keys.begin(), keys.end(),
                       [&](const std::string& k) { return gone.count(k) > 0; }),
        keys.end());
    return keys;
  };
  std::vector<std::string> keys = remaining();
  ASSERT_EQ(keys.size(), 6u);

  // A dry run says what would go and removes nothing.
  v1::EvictRequest request;
  request.set_older_than_s(300);
  request.set_dry_run(true);
  auto r = admin.Evict(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->evicted_entries(), 2);
  EXPECT_THAT(r->artifact_keys(),
              UnorderedElementsAreArray({w[1].key, w[3].key}));
  EXPECT_EQ(r->evicted_bytes(), w[1].size + w[3].size);
  EXPECT_EQ(remaining(), keys);

  // Older than 5 minutes (last use).
  request.set_dry_run(false);
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 2);
  keys = without(keys, {w[1].key, w[3].key});
  EXPECT_EQ(remaining(), keys);
  EXPECT_EQ(admin.Get(w[1].key).status().code(), absl::StatusCode::kNotFound);

  // One key.
  request.Clear();
  request.set_artifact_key(w[2].key);
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->artifact_keys(), ElementsAreArray({w[2].key}));
  keys = without(keys, {w[2].key});
  EXPECT_EQ(remaining(), keys);
  // An unknown key evicts nothing.
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_entries(), 0);

  // A filter: client job-c, used within the last 10 s.
  request.Clear();
  request.mutable_filter()->set_producing_client("job-c");
  request.mutable_filter()->set_max_age_s(10);
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->artifact_keys(), ElementsAreArray({w[4].key}));
  keys = without(keys, {w[4].key});

  // Every entry of a graph (here the one left of graph 0).
  request.Clear();
  request.set_graph_digest(w[0].graph);
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->artifact_keys(), ElementsAreArray({w[0].key}));
  keys = without(keys, {w[0].key});
  EXPECT_EQ(remaining(), keys);

  // Everything.
  request.Clear();
  request.set_all(true);
  r = admin.Evict(request);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->artifact_keys(), ElementsAreArray({w[5].key}));
  EXPECT_TRUE(remaining().empty());
  auto stats = admin.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->evictions(), 6);
  EXPECT_EQ(stats->bytes(), 0);

  // Bad requests name the field.
  EXPECT_INVALID(admin.Evict(v1::EvictRequest()).status(), "selector");
  request.Clear();
  request.set_older_than_s(-1);
  EXPECT_INVALID(admin.Evict(request).status(), "older_than_s");
  request.set_all(false);
  EXPECT_INVALID(admin.Evict(request).status(), "all: must be true");
  request.set_artifact_key("zz");
  EXPECT_INVALID(admin.Evict(request).status(), "artifact_key");
  request.set_graph_digest("zz");
  EXPECT_INVALID(admin.Evict(request).status(), "graph_digest");
  request.mutable_filter()->set_min_bytes(-4);
  EXPECT_INVALID(admin.Evict(request).status(), "filter.min_bytes");
  // Evicted entries stay gone across a restart.
  ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  client = Connect(*server);
  client::AdminClient again(*client);
  int64_t total = -1;
  ASSERT_TRUE(again.ListAll(v1::ListRequest(), 0, &total).ok());
  EXPECT_EQ(total, 0);
}

TEST_F(AdminE2ETest, ExportOnOneServerImportOnAnotherAndExecuteThere) {
  // Server A: two compiled entries, one old entry from the writer, and one
  // for a GPU (left out of the export by a target filter).
  std::vector<Written> w =
      Write(Dir("a"), {"graph=2,variant=0,age_s=3600,client=old-job",
                       "graph=1,variant=0,device=cuda-sm_90"});
  auto a = StartServer(Dir("a"));
  ASSERT_NE(a, nullptr);
  auto client_a = Connect(*a);
  client::AdminClient admin_a(*client_a);
  v1::CompileResponse small = Compile(*client_a, 2, 16);
  v1::CompileResponse large = Compile(*client_a, 17, 64);
  ASSERT_FALSE(large.artifact_key().empty());

  const std::string bundle = tmp_ + "/cache.kiln";
  v1::ExportRequest request;
  request.mutable_filter()->set_target("interpreter-k1-salt0");
  std::vector<client::TransferProgress> reports;
  auto exported = admin_a.ExportToFile(
      request, bundle,
      [&](const client::TransferProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->entries, 3);
  EXPECT_EQ(exported->bytes, static_cast<int64_t>(fs::file_size(bundle)));
  EXPECT_FALSE(fs::exists(bundle + ".partial"));
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.front().expected_entries, 3);
  EXPECT_TRUE(reports.back().done);
  EXPECT_EQ(reports.back().bytes, exported->bytes);
  {
    std::ifstream in(bundle, std::ios::binary);
    char magic[8];
    in.read(magic, 8);
    EXPECT_EQ(std::string(magic, 8), "KILNBNDL");
  }
  // Exporting is no use of the entries.
  auto old = admin_a.Get(w[0].key);
  ASSERT_TRUE(old.ok());
  EXPECT_LT(old->info().last_used_unix_ms(),
            absl::ToUnixMillis(absl::Now()) - 3000 * 1000);

  // Server B, empty, imports the bundle.
  auto b = StartServer(Dir("b"));
  ASSERT_NE(b, nullptr);
  auto client_b = Connect(*b);
  client::AdminClient admin_b(*client_b);
  auto imported = admin_b.ImportFromFile(bundle);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->imported(), 3);
  EXPECT_EQ(imported->skipped_existing(), 0);
  EXPECT_EQ(imported->rejected(), 0);
  EXPECT_TRUE(imported->errors().empty());

  for (const std::string& key :
       {small.artifact_key(), large.artifact_key(), w[0].key}) {
    auto there = admin_a.Get(key);
    auto here = admin_b.Get(key);
    ASSERT_TRUE(there.ok()) << there.status();
    ASSERT_TRUE(here.ok()) << here.status();
    EXPECT_EQ(here->graph_text(), there->graph_text());
    EXPECT_EQ(here->optimized_graph_text(), there->optimized_graph_text());
    EXPECT_EQ(here->info().graph_digest(), there->info().graph_digest());
    EXPECT_EQ(here->info().guards_digest(), there->info().guards_digest());
    EXPECT_EQ(here->info().created_unix_ms(), there->info().created_unix_ms());
    EXPECT_EQ(here->info().producing_client(),
              there->info().producing_client());
    EXPECT_EQ(here->info().compile_time_us(), there->info().compile_time_us());
    EXPECT_EQ(here->info().entry_index(), there->info().entry_index());
    EXPECT_EQ(here->guard_descriptions_size(),
              there->guard_descriptions_size());
  }
  EXPECT_EQ(admin_b.Get(w[1].key).status().code(), absl::StatusCode::kNotFound);

  // B serves the imported artifacts: Compile hits without compiling, Lookup
  // finds them, and Execute runs them.
  v1::CompileResponse hit = Compile(*client_b, 17, 64);
  EXPECT_TRUE(hit.cache_hit());
  EXPECT_EQ(hit.artifact_key(), large.artifact_key());
  EXPECT_THAT(b->Log(), Not(HasSubstr("compiled artifact")));
  v1::LookupRequest lookup;
  lookup.set_graph_digest(small.graph_digest());
  lookup.mutable_target()->set_backend("interpreter");
  *lookup.mutable_signature() = Call(5);
  auto found = client_b->Lookup(lookup);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_hit());
  EXPECT_EQ(found->hit().artifact_key(), small.artifact_key());
  std::vector<float> x, y;
  for (int i = 0; i < 20; ++i) {
    x.push_back(-2.5f + 0.5f * i);
    y.push_back(0.25f * i);
  }
  v1::ExecuteRequest execute;
  execute.set_artifact_key(small.artifact_key());
  *execute.add_inputs()->mutable_tensor() = FloatTensor(5, x);
  *execute.add_inputs()->mutable_tensor() = FloatTensor(5, y);
  *execute.mutable_signature() = Call(5);
  auto result = client_b->Execute(execute);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs_size(), 1);
  std::vector<float> out = Floats(result->outputs(0).tensor());
  ASSERT_EQ(out.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_FLOAT_EQ(out[i], Expected(x[i], y[i]));

  // Importing again changes nothing; the entries survive a restart of B.
  imported = admin_b.ImportFromFile(bundle);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->imported(), 0);
  EXPECT_EQ(imported->skipped_existing(), 3);
  ASSERT_EQ(b->Stop(SIGTERM, absl::Seconds(20)).value(), 0);
  b = StartServer(Dir("b"));
  ASSERT_NE(b, nullptr);
  client_b = Connect(*b);
  client::AdminClient admin_b2(*client_b);
  int64_t total = 0;
  ASSERT_TRUE(admin_b2.ListAll(v1::ListRequest(), 0, &total).ok());
  EXPECT_EQ(total, 3);
  EXPECT_TRUE(admin_b2.Get(w[0].key).ok());
}

TEST_F(AdminE2ETest, CorruptOrTruncatedBundlesImportNothing) {
  std::vector<Written> w =
      Write(Dir("a"),
            {"graph=4,variant=0", "graph=5,variant=0", "graph=5,variant=1"});
  auto a = StartServer(Dir("a"));
  ASSERT_NE(a, nullptr);
  auto client_a = Connect(*a);
  client::AdminClient admin_a(*client_a);
  const std::string bundle = tmp_ + "/good.kiln";
  auto exported = admin_a.ExportToFile(v1::ExportRequest(), bundle);
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(exported->entries, 3);
  std::string bytes;
  {
    std::ifstream in(bundle, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::string& content) {
    std::string path = tmp_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  };

  auto b = StartServer(Dir("b"));
  ASSERT_NE(b, nullptr);
  auto client_b = Connect(*b);
  client::AdminClient admin_b(*client_b);
  auto count_b = [&] {
    int64_t total = -1;
    EXPECT_TRUE(admin_b.ListAll(v1::ListRequest(), 0, &total).ok());
    return total;
  };

  // One flipped bit in the last entry's artifact: DATA_LOSS naming the
  // entry, and not even the good entries before it are imported.
  std::string flipped = bytes;
  flipped[bytes.size() - 200] ^= 0x04;
  auto r = admin_b.ImportFromFile(write("flipped.kiln", flipped));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("bundle entry 3 at byte"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("checksum"));
  EXPECT_EQ(count_b(), 0);

  // Cut short: INVALID_ARGUMENT, nothing imported.
  r = admin_b.ImportFromFile(
      write("short.kiln", bytes.substr(0, bytes.size() - 30)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("truncated"));
  EXPECT_EQ(count_b(), 0);

  // Not a bundle at all; an empty file; a future format version.
  r = admin_b.ImportFromFile(write("notes.txt", "these are not the bytes"));
  EXPECT_INVALID(r.status(), "not a Kiln bundle");
  r = admin_b.ImportFromFile(write("empty.kiln", ""));
  EXPECT_INVALID(r.status(), "empty");
  std::string v9 = bytes;
  v9[8] = 9;
  r = admin_b.ImportFromFile(write("v9.kiln", v9));
  EXPECT_INVALID(r.status(), "bundle format version 9 is not supported");
  EXPECT_EQ(count_b(), 0);

  // A chunk over the server's limit is refused.
  auto context = client_b->NewContext();
  v1::ImportResponse response;
  auto writer = client_b->admin().Import(context.get(), &response);
  v1::ImportChunk chunk;
  chunk.set_data(std::string((4 << 20) + 1, 'x'));
  writer->Write(chunk);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("stream_chunk_bytes"));

  // The intact bundle still imports, and the server kept serving.
  r = admin_b.ImportFromFile(bundle);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->imported(), 3);
  EXPECT_EQ(count_b(), 3);
}

TEST_F(AdminE2ETest, BundlesForTargetsThisServerCannotRunAreRefused) {
  auto b = StartServer(Dir("b"));
  ASSERT_NE(b, nullptr);
  auto client_b = Connect(*b);
  client::AdminClient admin_b(*client_b);
  // Each bundle holds a runnable entry and one for another machine: a GPU
  // this host lacks, or another CPU architecture.
  for (const std::string device : {"cuda-sm_90", "cpu-armv9-sve2"}) {
    SCOPED_TRACE(device);
    const std::string dir = Dir(device);
    std::vector<Written> w =
        Write(dir, {"graph=0,variant=0", "graph=1,variant=0,device=" + device});
    const std::string bundle = tmp_ + "/" + device + ".kiln";
    {
      auto a = StartServer(dir);
      ASSERT_NE(a, nullptr);
      auto client_a = Connect(*a);
      client::AdminClient admin_a(*client_a);
      auto exported = admin_a.ExportToFile(v1::ExportRequest(), bundle);
      ASSERT_TRUE(exported.ok()) << exported.status();
      ASSERT_EQ(exported->entries, 2);
    }
    auto r = admin_b.ImportFromFile(bundle);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
        << r.status();
    std::string message(r.status().message());
    EXPECT_THAT(message, HasSubstr("which this server cannot run"));
    EXPECT_THAT(message, HasSubstr(w[1].key));
    EXPECT_THAT(message, HasSubstr(absl::StrCat(
                             device, " (backend ",
                             device.substr(0, device.find('-')), ")")));
    EXPECT_THAT(message, HasSubstr("interpreter (interpreter)"));
    int64_t total = -1;
    ASSERT_TRUE(admin_b.ListAll(v1::ListRequest(), 0, &total).ok());
    EXPECT_EQ(total, 0) << "nothing is imported from a refused bundle";
  }
}

TEST_F(AdminE2ETest, ImportRespectsTheRecompileLimit) {
  // Three entries of one graph exported into a server that allows two.
  std::vector<Written> w =
      Write(Dir("a"), {"graph=3,variant=0", "graph=3,variant=1",
                       "graph=3,variant=2", "graph=4,variant=0"});
  auto a = StartServer(Dir("a"));
  ASSERT_NE(a, nullptr);
  auto client_a = Connect(*a);
  client::AdminClient admin_a(*client_a);
  const std::string bundle = tmp_ + "/four.kiln";
  ASSERT_TRUE(admin_a.ExportToFile(v1::ExportRequest(), bundle).ok());
  auto b = StartServer(Dir("b"), {"--recompile-limit=2"});
  ASSERT_NE(b, nullptr);
  auto client_b = Connect(*b);
  client::AdminClient admin_b(*client_b);
  auto r = admin_b.ImportFromFile(bundle);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->imported(), 3);
  EXPECT_EQ(r->rejected(), 1);
  ASSERT_EQ(r->errors_size(), 1);
  // The newest two of graph 3 are kept (the bundle lists them first).
  EXPECT_THAT(r->errors(0), HasSubstr(w[0].key));
  EXPECT_THAT(r->errors(0), HasSubstr("recompile limit"));
  EXPECT_TRUE(admin_b.Get(w[1].key).ok());
  EXPECT_TRUE(admin_b.Get(w[2].key).ok());
  EXPECT_EQ(admin_b.Get(w[0].key).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminE2ETest, MalformedMessagesLeaveTheServerAndItsEntriesAlone) {
  std::vector<Written> w = Write(Dir("a"), {"graph=1,variant=0"});
  auto server = StartServer(Dir("a"));
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  client::AdminClient admin(*client);
  grpc::GenericStub generic(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  for (const char* method :
       {"/kiln.v1.CacheAdmin/Evict", "/kiln.v1.CacheAdmin/List",
        "/kiln.v1.CacheAdmin/Explain"}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    // A varint that never ends: no protobuf parses it.
    grpc::Slice garbage(std::string("\x0a\xff\xff\xff\xff\xff\xff", 7));
    grpc::ByteBuffer request(&garbage, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) { done.set_value(s); });
    grpc::Status status = done.get_future().get();
    // gRPC's deserializer refuses it before the service runs; the server
    // says the caller sent bad bytes.
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    EXPECT_THAT(status.error_message(), HasSubstr("request: not a valid "))
        << method;
  }
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
  auto entry = admin.Get(w[0].key);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_FALSE(entry->graph_text().empty());
}

}  // namespace
}  // namespace kiln
