// End-to-end tests of the Compiler service: the real kiln-server binary on a
// free port with a temporary data dir (a real RocksDB), called over real
// gRPC through the C++ client. Graphs are written in the IR text format and
// sent as kiln.v1.Graph; guards come from the cache's test builders.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cache/guards/test_util.h"
#include "client/cpp/kiln_client.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::kiln::cache::testing::Ctx;
using ::kiln::cache::testing::Sig;
using ::kiln::cache::testing::T;
using ::kiln::testing::Runfile;
using ::kiln::testing::ServerProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// relu(x)^2 + 2x over a [s0, 4] input (dynamic dim 0).
constexpr char kDynamicGraph[] = R"(graph(%x: f32[s0, 4]) {
  %r = aten::relu.default(%x) : f32[s0, 4]
  %m = aten::mul.Tensor(%r, %r) : f32[s0, 4]
  %a = aten::add.Tensor(%m, %x, alpha=2) : f32[s0, 4]
  return (%a)
})";

// The same computation on a static [rows, cols] input.
std::string StaticGraph(int rows, int cols) {
  std::string shape = absl::StrCat("f32[", rows, ", ", cols, "]");
  return absl::StrCat("graph(%x: ", shape, ") {\n",
                      "  %r = aten::relu.default(%x) : ", shape, "\n",
                      "  %m = aten::mul.Tensor(%r, %r) : ", shape, "\n",
                      "  %a = aten::add.Tensor(%m, %x, alpha=2) : ", shape,
                      "\n", "  return (%a)\n}");
}

float Expected(float x) { return (x > 0 ? x * x : 0.0f) + 2 * x; }

// acc += x (a trailing copy_ into the placeholder), returns (acc + x) * x.
constexpr char kMutationGraph[] = R"(graph(%acc: f32[4], %x: f32[4]) {
  %s = aten::add.Tensor(%acc, %x) : f32[4]
  %c = aten::copy_.default(%acc, %s) : f32[4]
  %m = aten::mul.Tensor(%s, %x) : f32[4]
  return (%m)
})";

v1::Graph ParseGraph(const std::string& text) {
  absl::StatusOr<v1::Graph> graph = ir::ParseGraphToProto(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *graph : v1::Graph();
}

std::vector<float> Iota(int64_t n, float start = -2.0f, float step = 0.5f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

// A contiguous float32 cpu tensor with inline data.
v1::Tensor FloatTensor(const std::vector<int64_t>& sizes,
                       const std::vector<float>& values) {
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  t.mutable_device()->set_type(v1::CPU);
  int64_t stride = 1;
  std::vector<int64_t> strides(sizes.size());
  for (int d = static_cast<int>(sizes.size()) - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= sizes[d];
  }
  for (int64_t s : sizes) t.add_sizes(s);
  for (int64_t s : strides) t.add_strides(s);
  t.set_raw(std::string(reinterpret_cast<const char*>(values.data()),
                        values.size() * sizeof(float)));
  return t;
}

std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

std::vector<float> Floats(const v1::Tensor& t) { return Floats(t.raw()); }

std::vector<cache::testing::D> Dims(const std::vector<int64_t>& sizes) {
  return std::vector<cache::testing::D>(sizes.begin(), sizes.end());
}

// The signature of a call with float32 tensors of these sizes.
v1::CallSignature SignatureOf(const std::vector<std::vector<int64_t>>& shapes) {
  Sig sig;
  for (const auto& shape : shapes) sig.In(T().Sizes(Dims(shape)));
  return sig.Build();
}

v1::CompileRequest CompileRequestFor(const v1::Graph& graph,
                                     const v1::GuardContext& guards,
                                     const std::string& backend) {
  v1::CompileRequest request;
  *request.mutable_graph() = graph;
  *request.mutable_guards() = guards;
  request.mutable_target()->set_backend(backend);
  request.set_client_id("compiler-e2e");
  return request;
}

v1::ExecuteRequest ExecuteRequestFor(const std::string& key,
                                     const std::vector<v1::Tensor>& tensors) {
  v1::ExecuteRequest request;
  request.set_artifact_key(key);
  std::vector<std::vector<int64_t>> shapes;
  for (const v1::Tensor& t : tensors) {
    *request.add_inputs()->mutable_tensor() = t;
    shapes.emplace_back(t.sizes().begin(), t.sizes().end());
  }
  *request.mutable_signature() = SignatureOf(shapes);
  return request;
}

int CountLines(const std::string& log, const std::string& needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, needle)) ++n;
  }
  return n;
}

class CompilerE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_bin_ = Runfile("server/kiln-server");
    tmp_ = testing::MakeTempDir("compiler-e2e");
    data_dir_ = tmp_ + "/data";
  }
  void TearDown() override { fs::remove_all(tmp_); }

  std::unique_ptr<ServerProcess> StartServer(
      std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {server_bin_, "--listen=127.0.0.1:0",
                                     "--data-dir=" + data_dir_,
                                     "--shutdown-timeout=5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(argv);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::unique_ptr<client::KilnClient> Connect(
      const ServerProcess& server, absl::Duration timeout = absl::Seconds(120),
      int64_t max_message_bytes = int64_t{64} << 20) {
    client::ClientOptions options;
    options.server = server.address();
    options.timeout = timeout;
    options.max_message_bytes = max_message_bytes;
    auto client = client::KilnClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  std::string server_bin_, tmp_, data_dir_;
};

TEST_F(CompilerE2ETest, CompileMissThenHitAndExecute) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  v1::CompileRequest request =
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter");

  auto miss = client->Compile(request);
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_FALSE(miss->cache_hit());
  EXPECT_EQ(miss->artifact_key().size(), 64u);
  EXPECT_EQ(miss->graph_digest().size(), 64u);
  EXPECT_EQ(miss->guards_digest().size(), 64u);
  EXPECT_EQ(miss->target(), "interpreter-k1-salt0");
  EXPECT_EQ(miss->entry_index(), 0);
  EXPECT_GT(miss->timings().compile_us(), 0);
  EXPECT_GT(miss->timings().store_us(), 0);
  EXPECT_GE(miss->timings().total_us(), miss->timings().compile_us());
  ASSERT_EQ(miss->output_spec().outputs_size(), 1);
  const v1::OutputInfo& out = miss->output_spec().outputs(0);
  EXPECT_EQ(out.kind(), v1::OutputInfo::TENSOR);
  EXPECT_EQ(out.meta().dtype(), v1::FLOAT32);
  ASSERT_EQ(out.meta().sizes_size(), 2);
  EXPECT_EQ(out.meta().sizes(1).static_size(), 4);
  EXPECT_FALSE(out.has_aliases_input());
  EXPECT_EQ(miss->output_spec().mutated_inputs_size(), 0);

  auto hit = client->Compile(request);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_TRUE(hit->cache_hit());
  EXPECT_EQ(hit->artifact_key(), miss->artifact_key());
  EXPECT_EQ(hit->timings().compile_us(), 0);
  EXPECT_EQ(hit->timings().store_us(), 0);
  EXPECT_EQ(CountLines(server->Log(), "compiled artifact"), 1);

  std::vector<float> x = Iota(12);
  auto result = client->Execute(
      ExecuteRequestFor(miss->artifact_key(), {FloatTensor({3, 4}, x)}));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs_size(), 1);
  const v1::Tensor& y = result->outputs(0).tensor();
  EXPECT_THAT(y.sizes(), ElementsAre(3, 4));
  EXPECT_THAT(y.strides(), ElementsAre(4, 1));
  EXPECT_EQ(y.device().type(), v1::CPU);
  std::vector<float> values = Floats(y);
  ASSERT_EQ(values.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(values[i], Expected(x[i])) << i;
  EXPECT_GT(result->timings().total_us(), 0);

  // gRPC message compression, as Capabilities advertises it.
  auto caps = client->Capabilities();
  ASSERT_TRUE(caps.ok());
  EXPECT_THAT(caps->compressors(), ::testing::Contains("gzip"));
  auto context = client->NewContext();
  context->set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::ExecuteResponse compressed;
  grpc::Status status = client->compiler().Execute(
      context.get(),
      ExecuteRequestFor(miss->artifact_key(), {FloatTensor({3, 4}, x)}),
      &compressed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Floats(compressed.outputs(0).tensor()), values);
}

TEST_F(CompilerE2ETest, OneDynamicCompileServesTwoSizesAndLookupExplains) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  v1::Graph graph = ParseGraph(kDynamicGraph);
  v1::CompileRequest request = CompileRequestFor(
      graph, Ctx().In(T().Sizes({"s0", 4})).Build(), "interpreter");
  auto compiled = client->Compile(request);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_FALSE(compiled->cache_hit());
  // The output keeps the graph's symbol.
  EXPECT_EQ(compiled->output_spec().outputs(0).meta().sizes(0).expr().symbol(),
            "s0");

  for (int rows : {3, 7}) {
    std::vector<float> x = Iota(rows * 4, -3.0f, 0.25f);
    auto result = client->Execute(ExecuteRequestFor(
        compiled->artifact_key(), {FloatTensor({rows, 4}, x)}));
    ASSERT_TRUE(result.ok()) << result.status();
    const v1::Tensor& y = result->outputs(0).tensor();
    EXPECT_THAT(y.sizes(), ElementsAre(rows, 4));
    std::vector<float> values = Floats(y);
    ASSERT_EQ(values.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_FLOAT_EQ(values[i], Expected(x[i]));
    }
  }
  EXPECT_EQ(CountLines(server->Log(), "compiled artifact"), 1);

  // Lookup by digest, no graph resent: a size the guards admit hits.
  v1::LookupRequest lookup;
  lookup.set_graph_digest(compiled->graph_digest());
  lookup.mutable_target()->set_backend("interpreter");
  *lookup.mutable_signature() = SignatureOf({{9, 4}});
  auto hit = client->Lookup(lookup);
  ASSERT_TRUE(hit.ok()) << hit.status();
  ASSERT_TRUE(hit->has_hit()) << hit->DebugString();
  EXPECT_EQ(hit->hit().artifact_key(), compiled->artifact_key());
  EXPECT_EQ(hit->hit().guards_digest(), compiled->guards_digest());
  EXPECT_EQ(hit->graph_digest(), compiled->graph_digest());
  EXPECT_EQ(hit->target(), compiled->target());

  // The graph itself instead of its digest gives the same answer.
  v1::LookupRequest by_graph = lookup;
  *by_graph.mutable_graph() = graph;
  auto hit2 = client->Lookup(by_graph);
  ASSERT_TRUE(hit2.ok()) << hit2.status();
  ASSERT_TRUE(hit2->has_hit());
  EXPECT_EQ(hit2->graph_digest(), compiled->graph_digest());

  // A static dim that changed misses, explained entry by entry.
  *lookup.mutable_signature() = SignatureOf({{9, 3}});
  lookup.set_explain(true);
  auto miss = client->Lookup(lookup);
  ASSERT_TRUE(miss.ok()) << miss.status();
  ASSERT_TRUE(miss->has_miss());
  EXPECT_EQ(miss->miss().entry_count(), 1);
  ASSERT_EQ(miss->miss().explanations_size(), 1);
  const v1::GuardFailure& failure =
      miss->miss().explanations(0).first_failure();
  EXPECT_EQ(failure.path(), "inputs[0].size(1)");
  EXPECT_THAT(failure.message(), HasSubstr("expected 4, got 3"));
  EXPECT_FALSE(miss->miss().advice().empty());

  // Size 1 is always specialized: a dynamic dim guards >= 2.
  *lookup.mutable_signature() = SignatureOf({{1, 4}});
  auto one = client->Lookup(lookup);
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(one->has_miss());
  EXPECT_FALSE(one->miss().explanations(0).would_hit());

  // A graph this server never saw: a miss with no entries, not an error.
  v1::LookupRequest unknown = lookup;
  unknown.set_graph_digest(std::string(64, 'a'));
  auto none = client->Lookup(unknown);
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_TRUE(none->has_miss());
  EXPECT_EQ(none->miss().entry_count(), 0);
}

TEST_F(CompilerE2ETest, WobbledDimsComeBackAsDynamicHints) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  v1::CompileRequest request =
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter");
  auto compiled = client->Compile(request);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->dynamic_hints_size(), 0);
  // A call whose dim 0 changed misses; the server remembers the wobble.
  v1::LookupRequest lookup;
  lookup.set_graph_digest(compiled->graph_digest());
  lookup.mutable_target()->set_backend("interpreter");
  *lookup.mutable_signature() = SignatureOf({{6, 4}});
  auto miss = client->Lookup(lookup);
  ASSERT_TRUE(miss.ok()) << miss.status();
  ASSERT_TRUE(miss->has_miss());
  ASSERT_EQ(miss->dynamic_hints_size(), 1);
  EXPECT_EQ(miss->dynamic_hints(0).input_index(), 0);
  EXPECT_THAT(miss->dynamic_hints(0).dims(), ElementsAre(0));
  // Compile tells every later client of the graph to trace dim 0 dynamic.
  auto again = client->Compile(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->cache_hit());
  ASSERT_EQ(again->dynamic_hints_size(), 1);
  EXPECT_EQ(again->dynamic_hints(0).path(), "inputs[0]");
  EXPECT_THAT(again->dynamic_hints(0).dims(), ElementsAre(0));
}

TEST_F(CompilerE2ETest, GuardFailureIsFailedPreconditionNamingTheGuard) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  auto compiled = client->Compile(
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();

  auto result = client->Execute(ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({3, 5}, Iota(15))}));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(),
              HasSubstr("inputs[0].size(1): expected 4, got 5"));
  std::optional<v1::GuardFailure> failure =
      client::GuardFailureOf(result.status());
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->kind(), v1::GuardFailure::SIZE);
  EXPECT_EQ(failure->path(), "inputs[0].size(1)");
  EXPECT_EQ(failure->expected(), "4");
  EXPECT_EQ(failure->actual(), "5");

  // Global state is guarded too.
  v1::ExecuteRequest no_grad = ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({3, 4}, Iota(12))});
  no_grad.mutable_signature()->mutable_global_state()->set_grad_mode(false);
  auto global = client->Execute(no_grad);
  ASSERT_FALSE(global.ok());
  EXPECT_EQ(global.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(global.status().message(), HasSubstr("global.grad_mode"));
}

TEST_F(CompilerE2ETest, ExecuteReturnsInputMutations) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  auto compiled = client->Compile(CompileRequestFor(
      ParseGraph(kMutationGraph),
      Ctx().In(T().Sizes({4})).In(T().Sizes({4})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_EQ(compiled->output_spec().mutated_inputs_size(), 1);
  EXPECT_EQ(compiled->output_spec().mutated_inputs(0).input_index(), 0);

  std::vector<float> acc = {1, 2, 3, 4}, x = {10, 20, 30, 40};
  auto result = client->Execute(ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({4}, acc), FloatTensor({4}, x)}));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Floats(result->outputs(0).tensor()),
              ElementsAre(110, 440, 990, 1760));
  ASSERT_EQ(result->mutations_size(), 1);
  EXPECT_EQ(result->mutations(0).input_index(), 0);
  EXPECT_THAT(result->mutations(0).value().sizes(), ElementsAre(4));
  EXPECT_THAT(Floats(result->mutations(0).value()),
              ElementsAre(11, 22, 33, 44));
}

TEST_F(CompilerE2ETest, SymIntInputsAndOutputs) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  // The row count travels as a SymInt input too, and comes back as an
  // output.
  auto compiled = client->Compile(CompileRequestFor(
      ParseGraph(R"(graph(%x: f32[s0, 4], %n: SymInt(s0)) {
  %r = aten::relu.default(%x) : f32[s0, 4]
  return (%r, s0)
})"),
      Ctx().In(T().Sizes({"s0", 4})).SymInt(cache::testing::S("s0")).Build(),
      "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_EQ(compiled->output_spec().outputs_size(), 2);
  EXPECT_EQ(compiled->output_spec().outputs(1).kind(), v1::OutputInfo::SYMINT);
  EXPECT_EQ(compiled->output_spec().outputs(1).symint().symbol(), "s0");

  auto request = [&](int rows, int n) {
    v1::ExecuteRequest r;
    r.set_artifact_key(compiled->artifact_key());
    *r.add_inputs()->mutable_tensor() = FloatTensor({rows, 4}, Iota(rows * 4));
    r.add_inputs()->set_int_value(n);
    *r.mutable_signature() = Sig().In(T().Sizes({rows, 4})).SymInt(n).Build();
    return r;
  };
  auto result = client->Execute(request(5, 5));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs_size(), 2);
  EXPECT_THAT(result->outputs(0).tensor().sizes(), ElementsAre(5, 4));
  EXPECT_EQ(result->outputs(1).int_value(), 5);

  // A SymInt that contradicts the size bound to the same symbol fails its
  // guard; a value that contradicts the signature is a bad request.
  auto contradiction = client->Execute(request(5, 6));
  EXPECT_EQ(contradiction.status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(contradiction.status().message(), HasSubstr("inputs[1]"));
  v1::ExecuteRequest mismatch = request(5, 5);
  mismatch.mutable_inputs(1)->set_int_value(7);
  auto disagreement = client->Execute(mismatch);
  EXPECT_EQ(disagreement.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(disagreement.status().message(), HasSubstr("inputs[1]: int 7"));
  mismatch.mutable_inputs(1)->set_float_value(5.0);
  EXPECT_THAT(client->Execute(mismatch).status().message(),
              HasSubstr("inputs[1]: float_value"));
}

TEST_F(CompilerE2ETest, StreamedExecuteCarriesTensorsOverTheMessageLimit) {
  constexpr int64_t kLimit = 1 << 20;
  auto server = StartServer({absl::StrCat("--max-message-bytes=", kLimit)});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  auto caps = client->Capabilities();
  ASSERT_TRUE(caps.ok());
  EXPECT_EQ(caps->limits().max_message_bytes(), kLimit);
  EXPECT_LT(caps->limits().stream_chunk_bytes(), kLimit);
  EXPECT_GT(caps->limits().stream_chunk_bytes(), kLimit / 2);

  constexpr int kRows = 640, kCols = 1024;  // 2.5 MiB of float32
  auto compiled = client->Compile(CompileRequestFor(
      ParseGraph(StaticGraph(kRows, kCols)),
      Ctx().In(T().Sizes({kRows, kCols})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::vector<float> x = Iota(int64_t{kRows} * kCols, -1000.0f, 0.003f);
  v1::ExecuteRequest request = ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({kRows, kCols}, x)});

  // One message cannot carry it.
  auto unary = client->Execute(request);
  ASSERT_FALSE(unary.ok());
  EXPECT_EQ(unary.status().code(), absl::StatusCode::kResourceExhausted)
      << unary.status();

  auto streamed = client->ExecuteStreamed(request);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  const v1::Tensor& y = streamed->outputs(0).tensor();
  EXPECT_THAT(y.sizes(), ElementsAre(kRows, kCols));
  std::vector<float> values = Floats(y);
  ASSERT_EQ(values.size(), x.size());
  for (size_t i = 0; i < x.size(); i += 997) {
    EXPECT_FLOAT_EQ(values[i], Expected(x[i])) << i;
  }
  EXPECT_FLOAT_EQ(values.back(), Expected(x.back()));

  // Protocol errors are INVALID_ARGUMENT; the server goes on serving.
  {
    auto context = client->NewContext();
    auto stream = client->compiler().ExecuteStream(context.get());
    v1::ExecuteStreamRequest header;
    *header.mutable_header() = request;
    v1::Tensor* t =
        header.mutable_header()->mutable_inputs(0)->mutable_tensor();
    t->clear_raw();
    t->mutable_chunked()->set_byte_size(x.size() * sizeof(float));
    ASSERT_TRUE(stream->Write(header));
    v1::ExecuteStreamRequest chunk;
    chunk.mutable_chunk()->set_tensor_index(0);
    chunk.mutable_chunk()->set_offset(4096);  // not where the tensor starts
    chunk.mutable_chunk()->set_data(std::string(1024, 'x'));
    stream->Write(chunk);
    stream->WritesDone();
    v1::ExecuteStreamResponse ignored;
    while (stream->Read(&ignored)) {
    }
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("offset"));
  }
  {
    auto context = client->NewContext();
    auto stream = client->compiler().ExecuteStream(context.get());
    v1::ExecuteStreamRequest header;
    *header.mutable_header() = request;
    v1::Tensor* t =
        header.mutable_header()->mutable_inputs(0)->mutable_tensor();
    t->clear_raw();
    t->mutable_chunked()->set_byte_size(x.size() * sizeof(float));
    ASSERT_TRUE(stream->Write(header));
    stream->WritesDone();  // no chunks, no end
    v1::ExecuteStreamResponse ignored;
    while (stream->Read(&ignored)) {
    }
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("without `end`"));
  }
  // A chunked tensor outside a stream.
  v1::ExecuteRequest chunked = request;
  chunked.mutable_inputs(0)->mutable_tensor()->mutable_chunked()->set_byte_size(
      x.size() * sizeof(float));
  v1::ExecuteRequest small = ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({kRows, kCols}, {})});
  *small.mutable_inputs(0)->mutable_tensor()->mutable_chunked() =
      chunked.inputs(0).tensor().chunked();
  auto bad = client->Execute(small);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("inputs[0].tensor.chunked"));
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
}

// A POSIX shared-memory object made by the test, as a same-host client
// would.
class SharedMemoryObject {
 public:
  explicit SharedMemoryObject(size_t size)
      : name_(absl::StrCat("/kiln_e2e_", getpid(), "_", Next())), size_(size) {
    int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
    data_ = static_cast<uint8_t*>(
        mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    close(fd);
  }
  ~SharedMemoryObject() {
    munmap(data_, size_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  uint8_t* data() { return data_; }

 private:
  static int Next() {
    static std::atomic<int> n{0};
    return n++;
  }
  std::string name_;
  size_t size_;
  uint8_t* data_ = nullptr;
};

TEST_F(CompilerE2ETest, SharedMemoryIsRefusedUnlessAllowed) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  EXPECT_FALSE(client->Capabilities()->shared_memory_allowed());
  SharedMemoryObject object(4096);
  absl::Status s = client->RegisterSharedMemory("r", object.name(), 0, 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("--allow-client-shm"));
  EXPECT_EQ(client->UnregisterSharedMemory("r").code(),
            absl::StatusCode::kPermissionDenied);

  auto compiled = client->Compile(
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  v1::ExecuteRequest request = ExecuteRequestFor(
      compiled->artifact_key(), {FloatTensor({3, 4}, Iota(12))});
  v1::SharedMemoryRef* ref =
      request.mutable_inputs(0)->mutable_tensor()->mutable_shm();
  ref->set_region("r");
  ref->set_byte_size(48);
  auto result = client->Execute(request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(result.status().message(), HasSubstr("--allow-client-shm"));
}

TEST_F(CompilerE2ETest, SharedMemoryCarriesInputsAndOutputs) {
  auto server = StartServer({"--allow-client-shm=true"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  EXPECT_TRUE(client->Capabilities()->shared_memory_allowed());
  SharedMemoryObject object(1 << 16);
  ASSERT_TRUE(
      client->RegisterSharedMemory("io", object.name(), 0, 1 << 16).ok());
  EXPECT_EQ(
      client->RegisterSharedMemory("io", object.name(), 0, 1 << 16).code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(client->RegisterSharedMemory("gone", "/kiln_no_such_object", 0, 16)
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      client->RegisterSharedMemory("big", object.name(), 0, 1 << 20).code(),
      absl::StatusCode::kInvalidArgument);

  auto compiled = client->Compile(
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::vector<float> x = Iota(12, -1.5f, 0.75f);
  std::memcpy(object.data() + 256, x.data(), 48);

  v1::ExecuteRequest request =
      ExecuteRequestFor(compiled->artifact_key(), {FloatTensor({3, 4}, {})});
  v1::SharedMemoryRef in;
  in.set_region("io");
  in.set_offset(256);
  in.set_byte_size(48);
  *request.mutable_inputs(0)->mutable_tensor()->mutable_shm() = in;
  v1::OutputBuffer* buffer = request.add_output_buffers();
  buffer->set_output_index(0);
  buffer->mutable_shm()->set_region("io");
  buffer->mutable_shm()->set_offset(8192);
  buffer->mutable_shm()->set_byte_size(48);
  auto result = client->Execute(request);
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::Tensor& y = result->outputs(0).tensor();
  ASSERT_TRUE(y.has_shm());
  EXPECT_EQ(y.shm().offset(), 8192u);
  EXPECT_THAT(y.sizes(), ElementsAre(3, 4));
  std::vector<float> values(12);
  std::memcpy(values.data(), object.data() + 8192, 48);
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(values[i], Expected(x[i]));

  // Wrong sizes and ranges name the field.
  v1::ExecuteRequest wrong = request;
  wrong.mutable_output_buffers(0)->mutable_shm()->set_byte_size(40);
  auto small = client->Execute(wrong);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(small.status().message(), HasSubstr("output_buffers"));
  wrong = request;
  wrong.mutable_inputs(0)->mutable_tensor()->mutable_shm()->set_offset(65530);
  auto outside = client->Execute(wrong);
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outside.status().message(), HasSubstr("inputs[0].tensor.shm"));
  wrong = request;
  wrong.mutable_inputs(0)->mutable_tensor()->mutable_shm()->set_byte_size(44);
  auto mismatch = client->Execute(wrong);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(),
              HasSubstr("inputs[0].tensor.shm.byte_size"));

  ASSERT_TRUE(client->UnregisterSharedMemory("io").ok());
  EXPECT_EQ(client->UnregisterSharedMemory("io").code(),
            absl::StatusCode::kNotFound);
  auto unknown = client->Execute(request);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("io"));
}

TEST_F(CompilerE2ETest, CpuArtifactsSurviveARestartWithoutRecompiling) {
  std::string key;
  std::vector<float> x = Iota(64 * 16, -4.0f, 0.01f);
  v1::CompileRequest request =
      CompileRequestFor(ParseGraph(StaticGraph(64, 16)),
                        Ctx().In(T().Sizes({64, 16})).Build(), "cpu");
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    auto client = Connect(*server);
    auto compiled = client->Compile(request);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    EXPECT_FALSE(compiled->cache_hit());
    EXPECT_THAT(compiled->target(), StartsWith("cpu-"));
    key = compiled->artifact_key();

    // GetArtifact: metadata, the plan, and the shared object on request.
    auto artifact = client->GetArtifact(key);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    EXPECT_EQ(artifact->info().artifact_key(), key);
    EXPECT_EQ(artifact->info().graph_digest(), compiled->graph_digest());
    EXPECT_EQ(artifact->info().target(), compiled->target());
    EXPECT_EQ(artifact->info().producing_client(), "compiler-e2e");
    EXPECT_GT(artifact->info().size_bytes(), 0);
    EXPECT_GT(artifact->info().compile_time_us(), 0);
    plan::Artifact plan;
    ASSERT_TRUE(plan.ParseFromString(artifact->plan()));
    EXPECT_EQ(plan.backend(), "cpu");
    EXPECT_GT(plan.plan().kernels_size(), 0);
    EXPECT_TRUE(plan.shared_object().empty());
    EXPECT_TRUE(artifact->binary().empty());
    auto with_binary = client->GetArtifact(key, /*include_binary=*/true);
    ASSERT_TRUE(with_binary.ok()) << with_binary.status();
    EXPECT_THAT(with_binary->binary(), StartsWith("\x7f"
                                                  "ELF"));
    EXPECT_EQ(client->GetArtifact(std::string(64, '0')).status().code(),
              absl::StatusCode::kNotFound);

    auto result =
        client->Execute(ExecuteRequestFor(key, {FloatTensor({64, 16}, x)}));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(30)).value(), 0);
  }
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  auto result =
      client->Execute(ExecuteRequestFor(key, {FloatTensor({64, 16}, x)}));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->timings().load_us(), 0);
  std::vector<float> values = Floats(result->outputs(0).tensor());
  ASSERT_EQ(values.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(values[i], Expected(x[i]), 1e-5) << i;
  }
  auto again = client->Compile(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->cache_hit());
  EXPECT_EQ(again->artifact_key(), key);
  EXPECT_EQ(CountLines(server->Log(), "compiled artifact"), 0) << server->Log();
}

TEST_F(CompilerE2ETest, ConcurrentIdenticalCompilesShareOneCompile) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  v1::CompileRequest request =
      CompileRequestFor(ParseGraph(StaticGraph(32, 8)),
                        Ctx().In(T().Sizes({32, 8})).Build(), "cpu");
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<client::KilnClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(Connect(*server));
  std::vector<absl::StatusOr<v1::CompileResponse>> results(
      kClients, absl::UnknownError("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kClients) std::this_thread::yield();
      results[i] = clients[i]->Compile(request);
    });
  }
  for (std::thread& t : threads) t.join();
  int misses = 0;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->artifact_key(), results[0]->artifact_key());
    if (!results[i]->cache_hit()) ++misses;
  }
  // Exactly one compile ran; the callers that found it in flight waited
  // for it (a miss each), the later ones hit.
  EXPECT_EQ(CountLines(server->Log(), "compiled artifact"), 1) << server->Log();
  EXPECT_GE(misses, 1);
  EXPECT_EQ(CountLines(server->Log(), "artifact cache: stored"), 1);
}

TEST_F(CompilerE2ETest, ConcurrentExecutesOfOneArtifactAreCorrect) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  auto compiled = client->Compile(
      CompileRequestFor(ParseGraph(kDynamicGraph),
                        Ctx().In(T().Sizes({"s0", 4})).Build(), "interpreter"));
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  // More callers than the server runs at once: the rest wait their turn.
  constexpr int kCallers = 12;
  std::vector<std::string> failures(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto own = Connect(*server);
      int rows = 2000 + 37 * i;
      std::vector<float> x = Iota(rows * 4, -7.0f + i, 0.001f);
      auto result = own->Execute(ExecuteRequestFor(
          compiled->artifact_key(), {FloatTensor({rows, 4}, x)}));
      if (!result.ok()) {
        failures[i] = std::string(result.status().message());
        return;
      }
      std::vector<float> values = Floats(result->outputs(0).tensor());
      if (values.size() != x.size()) {
        failures[i] = "wrong size";
        return;
      }
      for (size_t k = 0; k < x.size(); ++k) {
        if (std::fabs(values[k] - Expected(x[k])) > 1e-4f) {
          failures[i] = absl::StrCat("element ", k, ": ", values[k]);
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kCallers; ++i) EXPECT_EQ(failures[i], "") << i;
}

TEST_F(CompilerE2ETest, RecompileLimitTellsTheClientToRunEagerly) {
  auto server = StartServer({"--recompile-limit=2"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  v1::Graph graph = ParseGraph(kDynamicGraph);
  std::vector<v1::GuardContext> contexts;
  for (int variant = 0; variant < 3; ++variant) {
    Ctx ctx;
    ctx.In(T().Sizes({"s0", 4}));
    ctx.global().set_grad_mode(variant != 1);
    ctx.global().set_deterministic_algorithms(variant == 2);
    contexts.push_back(ctx.Build());
  }
  ASSERT_TRUE(
      client->Compile(CompileRequestFor(graph, contexts[0], "interpreter"))
          .ok());
  ASSERT_TRUE(
      client->Compile(CompileRequestFor(graph, contexts[1], "interpreter"))
          .ok());
  auto third =
      client->Compile(CompileRequestFor(graph, contexts[2], "interpreter"));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("recompile limit"));
  EXPECT_THAT(third.status().message(), HasSubstr("eagerly"));

  v1::LookupRequest lookup;
  *lookup.mutable_graph() = graph;
  lookup.mutable_target()->set_backend("interpreter");
  *lookup.mutable_signature() = SignatureOf({{5, 4}});
  lookup.mutable_signature()
      ->mutable_global_state()
      ->set_deterministic_algorithms(true);
  auto miss = client->Lookup(lookup);
  ASSERT_TRUE(miss.ok()) << miss.status();
  ASSERT_TRUE(miss->has_miss());
  EXPECT_TRUE(miss->miss().recompile_limit_reached());
  EXPECT_EQ(miss->miss().entry_count(), 2);
}

TEST_F(CompilerE2ETest, FullCompileQueueAndDeadlines) {
  auto server = StartServer(
      {"--compile-workers=1", "--max-compile-queue=1", "--log-level=debug"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  v1::CompileRequest slow =
      CompileRequestFor(ParseGraph(StaticGraph(48, 8)),
                        Ctx().In(T().Sizes({48, 8})).Build(), "cpu");
  auto first =
      std::async(std::launch::async, [&] { return client->Compile(slow); });
  ASSERT_TRUE(server->WaitForLog("compiling artifact_key=", absl::Seconds(30)));
  v1::CompileRequest other =
      CompileRequestFor(ParseGraph(StaticGraph(5, 4)),
                        Ctx().In(T().Sizes({5, 4})).Build(), "interpreter");
  auto busy = client->Compile(other);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(busy.status().message(), HasSubstr("retry"));
  std::optional<absl::Duration> retry = client::RetryAfterOf(busy.status());
  ASSERT_TRUE(retry.has_value());
  EXPECT_GT(*retry, absl::ZeroDuration());
  ASSERT_TRUE(first.get().ok());
  EXPECT_TRUE(client->Compile(other).ok());

  // A caller whose deadline passes stops waiting; the compile goes on and
  // is stored for the next caller.
  v1::CompileRequest late =
      CompileRequestFor(ParseGraph(StaticGraph(40, 8)),
                        Ctx().In(T().Sizes({40, 8})).Build(), "cpu");
  auto hurried = Connect(*server, absl::Milliseconds(200));
  auto expired = hurried->Compile(late);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
  auto patient = client->Compile(late);
  ASSERT_TRUE(patient.ok()) << patient.status();
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
}

TEST_F(CompilerE2ETest, BadInputsGetTheRightStatusAndTheServerKeepsServing) {
  constexpr int64_t kLimit = 1 << 20;
  auto server = StartServer({absl::StrCat("--max-message-bytes=", kLimit)});
  ASSERT_NE(server, nullptr);
  auto client = Connect(*server);
  // A good artifact first: it must survive everything below.
  auto good = client->Compile(
      CompileRequestFor(ParseGraph(StaticGraph(3, 4)),
                        Ctx().In(T().Sizes({3, 4})).Build(), "interpreter"));
  ASSERT_TRUE(good.ok()) << good.status();
  const std::string key = good->artifact_key();
  const v1::GuardContext guards34 = Ctx().In(T().Sizes({3, 4})).Build();

  struct CompileCase {
    std::string name;
    v1::CompileRequest request;
    absl::StatusCode code;
    std::vector<std::string> expected;
  };
  std::vector<CompileCase> compiles;
  auto add = [&](std::string name, const std::string& graph_text,
                 const v1::GuardContext& guards, absl::StatusCode code,
                 std::vector<std::string> expected,
                 const std::string& backend = "interpreter") {
    compiles.push_back(
        {std::move(name),
         CompileRequestFor(ParseGraph(graph_text), guards, backend), code,
         std::move(expected)});
  };
  add("unknown op", R"(graph(%x: f32[3, 4]) {
  %r = aten::frob.default(%x) : f32[3, 4]
  return (%r)
})",
      guards34, absl::StatusCode::kInvalidArgument,
      {"graph.nodes[0] (aten::frob.default)", "unknown op"});
  add("inner dims", R"(graph(%a: f32[2, 3], %b: f32[4, 5]) {
  %c = aten::mm.default(%a, %b) : f32[2, 5]
  return (%c)
})",
      Ctx().In(T().Sizes({2, 3})).In(T().Sizes({4, 5})).Build(),
      absl::StatusCode::kInvalidArgument,
      {"graph.nodes[0] (aten::mm.default)", "3", "4"});
  add("declared output", R"(graph(%x: f32[3, 4]) {
  %r = aten::relu.default(%x) : f32[3, 5]
  return (%r)
})",
      guards34, absl::StatusCode::kInvalidArgument, {"graph.nodes[0]"});
  add("undefined value", R"(graph(%x: f32[3, 4]) {
  %r = aten::relu.default(%nope) : f32[3, 4]
  return (%r)
})",
      guards34, absl::StatusCode::kInvalidArgument, {"graph.nodes[0]", "nope"});
  add("wrong argument kind", R"(graph(%x: f32[3, 4]) {
  %r = aten::add.Tensor(%x, [1, 2]) : f32[3, 4]
  return (%r)
})",
      guards34, absl::StatusCode::kInvalidArgument, {"graph.nodes[0]"});
  add("guards disagree with the graph", StaticGraph(3, 4),
      Ctx().In(T().Sizes({3, 5})).Build(), absl::StatusCode::kInvalidArgument,
      {"guards.inputs[0].tensor.meta.sizes[1]", "graph.placeholders[0]"});
  add("guard count", StaticGraph(3, 4),
      Ctx().In(T().Sizes({3, 4})).In(T().Sizes({3, 4})).Build(),
      absl::StatusCode::kInvalidArgument, {"guards.inputs", "2 leaves", "1"});
  add("guard dtype", StaticGraph(3, 4),
      Ctx().In(T().Sizes({3, 4}).DType(v1::FLOAT64)).Build(),
      absl::StatusCode::kInvalidArgument,
      {"guards.inputs[0].tensor.meta.dtype", "FLOAT64"});
  add("unknown backend", StaticGraph(3, 4), guards34,
      absl::StatusCode::kInvalidArgument, {"target.backend", "tpu"}, "tpu");
  add("no gpu", StaticGraph(3, 4), guards34,
      absl::StatusCode::kFailedPrecondition, {"target.backend", "cuda"},
      "cuda");
  v1::GuardContext undeclared = guards34;
  undeclared.clear_global_state();
  add("guards without global state", StaticGraph(3, 4), undeclared,
      absl::StatusCode::kInvalidArgument, {"guards.global_state"});

  for (const CompileCase& c : compiles) {
    auto r = client->Compile(c.request);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), c.code) << c.name << ": " << r.status();
    for (const std::string& needle : c.expected) {
      EXPECT_THAT(r.status().message(), HasSubstr(needle)) << c.name;
    }
  }
  {
    v1::CompileRequest r = compiles[0].request;
    r.clear_target();
    EXPECT_THAT(client->Compile(r).status().message(), HasSubstr("target"));
    r = CompileRequestFor(ParseGraph(StaticGraph(3, 4)), guards34, "cpu");
    (*r.mutable_target()->mutable_options())["unroll"] = "4";
    auto bad_option = client->Compile(r);
    EXPECT_EQ(bad_option.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bad_option.status().message(),
                HasSubstr("target.options[unroll]"));
  }

  // Execute: bytes that disagree with the metadata, inputs that disagree
  // with the signature, keys that are unknown or malformed.
  v1::ExecuteRequest short_data =
      ExecuteRequestFor(key, {FloatTensor({3, 4}, Iota(12))});
  short_data.mutable_inputs(0)->mutable_tensor()->mutable_raw()->resize(44);
  auto r1 = client->Execute(short_data);
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r1.status().message(),
              HasSubstr("inputs[0].tensor.raw: 44 bytes"));
  EXPECT_THAT(r1.status().message(), HasSubstr("48"));

  v1::ExecuteRequest disagree =
      ExecuteRequestFor(key, {FloatTensor({4, 3}, Iota(12))});
  *disagree.mutable_signature() = SignatureOf({{3, 4}});
  auto r2 = client->Execute(disagree);
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r2.status().message(), HasSubstr("inputs[0].tensor.sizes"));
  EXPECT_THAT(r2.status().message(), HasSubstr("signature.inputs[0]"));

  v1::ExecuteRequest two = ExecuteRequestFor(
      key, {FloatTensor({3, 4}, Iota(12)), FloatTensor({3, 4}, Iota(12))});
  *two.mutable_signature() = SignatureOf({{3, 4}});
  auto r3 = client->Execute(two);
  EXPECT_EQ(r3.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r3.status().message(), HasSubstr("inputs: 2 values"));

  v1::ExecuteRequest no_signature =
      ExecuteRequestFor(key, {FloatTensor({3, 4}, Iota(12))});
  no_signature.clear_signature();
  EXPECT_THAT(client->Execute(no_signature).status().message(),
              HasSubstr("signature: required"));

  v1::ExecuteRequest huge_layout =
      ExecuteRequestFor(key, {FloatTensor({3, 4}, Iota(12))});
  huge_layout.mutable_inputs(0)->mutable_tensor()->set_storage_offset(int64_t{1}
                                                                      << 40);
  auto r4 = client->Execute(huge_layout);
  EXPECT_EQ(r4.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r4.status().message(), HasSubstr("max_tensor_bytes"));

  v1::ExecuteRequest unknown_key =
      ExecuteRequestFor(std::string(64, 'f'), {FloatTensor({3, 4}, Iota(12))});
  auto r5 = client->Execute(unknown_key);
  EXPECT_EQ(r5.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r5.status().message(), HasSubstr(std::string(64, 'f')));
  unknown_key.set_artifact_key("not-a-key");
  auto r6 = client->Execute(unknown_key);
  EXPECT_EQ(r6.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r6.status().message(), HasSubstr("artifact_key"));

  // Over the message limit: refused by gRPC before it reaches the service.
  auto r7 = client->Execute(
      ExecuteRequestFor(key, {FloatTensor({512, 1024}, Iota(512 * 1024))}));
  EXPECT_EQ(r7.status().code(), absl::StatusCode::kResourceExhausted);

  // Bytes that are not a protobuf at all.
  {
    grpc::GenericStub generic(grpc::CreateChannel(
        server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Slice garbage(std::string("\xff\xff\xff\xff\xff\x0f\x0a", 7));
    grpc::ByteBuffer request(&garbage, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/kiln.v1.Compiler/Compile",
                      grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) { done.set_value(s); });
    grpc::Status status = done.get_future().get();
    // gRPC's own deserializer refuses it before any service code runs; the
    // server answers INVALID_ARGUMENT naming the expected message type.
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "request: not a valid kiln.v1.CompileRequest (the bytes do not "
              "decode as that protobuf)");
  }

  // The server is still up, and its data is still there.
  EXPECT_EQ(client->CheckHealth().value(), client::Health::kServing);
  auto still =
      client->Execute(ExecuteRequestFor(key, {FloatTensor({3, 4}, Iota(12))}));
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_FLOAT_EQ(Floats(still->outputs(0).tensor())[11],
                  Expected(Iota(12)[11]));
  auto info = client->GetArtifact(key);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->info().artifact_key(), key);
  ASSERT_EQ(server->Stop(SIGTERM, absl::Seconds(30)).value(), 0);
}

}  // namespace
}  // namespace kiln
