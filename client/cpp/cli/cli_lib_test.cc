// The CLI's pieces that need no server: call signatures from flags, entry
// filters, JSON output and graph drawing.
#include <string>

#include "client/cpp/cli/commands.h"
#include "client/cpp/cli/graph_dot.h"
#include "client/cpp/cli/json.h"
#include "client/cpp/cli/signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::cli {
namespace {

using ::testing::HasSubstr;

TEST(SignatureTest, TensorsScalarsAndGlobalState) {
  SignatureFlags flags;
  flags.inputs = {"f32[8,16]", "f16[4,3]{1,4}@cuda:1+grad#0",
                  "sym:8",     "int:3",
                  "float:0.5", "bool:true",
                  "str:mean",  "none"};
  flags.no_grad = true;
  flags.autocast = {"cuda=bf16"};
  flags.matmul_precision = "high";
  absl::StatusOr<v1::CallSignature> call = BuildSignature(flags);
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_EQ(call->inputs_size(), 8);
  const v1::TensorGuard& a = call->inputs(0).tensor();
  EXPECT_EQ(a.type_name(), "torch.Tensor");
  EXPECT_EQ(a.meta().dtype(), v1::FLOAT32);
  EXPECT_EQ(a.meta().sizes(0).static_size(), 8);
  EXPECT_EQ(a.meta().strides(0).static_size(), 16);
  EXPECT_EQ(a.meta().strides(1).static_size(), 1);
  EXPECT_FALSE(a.has_alias_group());
  const v1::TensorGuard& b = call->inputs(1).tensor();
  EXPECT_EQ(b.meta().dtype(), v1::FLOAT16);
  EXPECT_EQ(b.meta().strides(0).static_size(), 1);
  EXPECT_EQ(b.meta().strides(1).static_size(), 4);
  EXPECT_EQ(b.meta().device().type(), v1::CUDA);
  EXPECT_EQ(b.meta().device().index(), 1);
  EXPECT_TRUE(b.meta().requires_grad());
  EXPECT_EQ(b.alias_group(), 0);
  EXPECT_EQ(call->inputs(2).symint().expr().constant(), 8);
  EXPECT_EQ(call->inputs(3).constant().int_value(), 3);
  EXPECT_EQ(call->inputs(4).constant().float_value(), 0.5);
  EXPECT_TRUE(call->inputs(5).constant().bool_value());
  EXPECT_EQ(call->inputs(6).constant().string_value(), "mean");
  EXPECT_TRUE(call->inputs(7).constant().has_none());
  const v1::GlobalState& g = call->global_state();
  EXPECT_FALSE(g.grad_mode());
  EXPECT_EQ(g.torch_function(), v1::GlobalState::ENABLED);
  ASSERT_EQ(g.autocast_size(), 2);  // sorted: cpu, cuda
  EXPECT_EQ(g.autocast(0).device_type(), "cpu");
  EXPECT_FALSE(g.autocast(0).enabled());
  EXPECT_TRUE(g.autocast(1).enabled());
  EXPECT_EQ(g.autocast(1).dtype(), v1::BFLOAT16);
  EXPECT_EQ(g.default_dtype(), v1::FLOAT32);
  EXPECT_EQ(g.fp32_matmul_precision(), v1::GlobalState::HIGH);
}

TEST(SignatureTest, BadFlagsNameThemselves) {
  auto error = [](SignatureFlags flags) {
    return std::string(BuildSignature(flags).status().message());
  };
  SignatureFlags f;
  EXPECT_THAT(error(f), HasSubstr("--signature FILE, or one --input"));
  f.inputs = {"f32[8,x]"};
  EXPECT_THAT(error(f), HasSubstr("--input #1 'f32[8,x]': sizes: 'x'"));
  f.inputs = {"q32[8]"};
  EXPECT_THAT(error(f), HasSubstr("unknown dtype 'q32'"));
  f.inputs = {"f32[2,2]{1}"};
  EXPECT_THAT(error(f), HasSubstr("1 strides for 2 sizes"));
  f.inputs = {"f32[2]@tpu"};
  EXPECT_THAT(error(f), HasSubstr("unexpected '@tpu'"));
  f.inputs = {"sym:x"};
  EXPECT_THAT(error(f), HasSubstr("integer"));
  f.inputs = {"f32[2]"};
  f.matmul_precision = "low";
  EXPECT_THAT(error(f), HasSubstr("--matmul-precision"));
  f.matmul_precision = "highest";
  f.autocast = {"cuda"};
  EXPECT_THAT(error(f), HasSubstr("--autocast: 'cuda' is not DEVICE=DTYPE"));
  f.autocast.clear();
  f.file = "/nonexistent/sig.json";
  EXPECT_THAT(error(f), HasSubstr("exclude each other"));
}

TEST(FilterTest, FlagsBecomeAnEntryFilter) {
  FilterFlags flags;
  flags.graph = std::string(64, 'a');
  flags.target = "interpreter-k1-salt0";
  flags.client = "job-1";
  flags.older_than = "2h";
  flags.newer_than = "7d";
  flags.min_size = "1K";
  flags.max_size = "1M";
  absl::StatusOr<v1::EntryFilter> f = BuildFilter(flags);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->min_age_s(), 7200);
  EXPECT_EQ(f->max_age_s(), 7 * 86400);
  EXPECT_EQ(f->min_bytes(), 1024);
  EXPECT_EQ(f->max_bytes(), 1 << 20);
  EXPECT_EQ(f->producing_client(), "job-1");
  flags.graph = "abc";
  EXPECT_THAT(std::string(BuildFilter(flags).status().message()),
              HasSubstr("--graph: 'abc' is not a graph digest"));
  flags.graph.clear();
  flags.min_size = "lots";
  EXPECT_THAT(std::string(BuildFilter(flags).status().message()),
              HasSubstr("--min-size: 'lots' is not a size"));
}

TEST(JsonTest, IntegersAreNumbersAndEnumsNames) {
  v1::StatsResponse stats;
  stats.set_entries(3);
  stats.set_bytes(int64_t{5} << 40);
  stats.set_hit_rate(0.25);
  stats.add_by_target()->set_target("cpu");
  nlohmann::ordered_json j = ProtoToJson(stats);
  EXPECT_EQ(j["entries"], 3);
  EXPECT_EQ(j["bytes"], int64_t{5} << 40);
  EXPECT_EQ(j["hit_rate"], 0.25);
  EXPECT_EQ(j["misses"], 0);  // defaults are present
  EXPECT_EQ(j["by_target"][0]["target"], "cpu");

  v1::GuardFailure failure;
  failure.set_kind(v1::GuardFailure::SIZE);
  failure.set_input_index(0);
  j = ProtoToJson(failure);
  EXPECT_EQ(j["kind"], "SIZE");
  EXPECT_EQ(j["input_index"], 0);
  EXPECT_FALSE(ProtoToJson(v1::GuardFailure()).contains("input_index"));
}

TEST(GraphDotTest, DrawsFusedKernelsAsOneNode) {
  const char* fused = R"(
graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1]) {
  %fused = kiln::fused.default([%x, %b, %c]) : f32[4, 8] {
    kind=pointwise, shape=[4, 8], input_dims=[[0, 1], [1], [0, -1]]
    graph(%x: f32[4, 8], %b: f32[8], %c: f32[4, 1]) {
      %add = aten::add.Tensor(%x, %b) : f32[4, 8]
      %mul = aten::mul.Tensor(%add, %c) : f32[4, 8]
      %relu = aten::relu.default(%mul) : f32[4, 8]
      return (%relu)
    }
  }
  %s = aten::sum.default(%fused) : f32[]
  return (%s)
}
)";
  absl::StatusOr<std::string> dot = GraphTextToDot(fused, "title \"q\"");
  ASSERT_TRUE(dot.ok()) << dot.status();
  EXPECT_THAT(*dot, HasSubstr("digraph kiln {"));
  EXPECT_THAT(*dot, HasSubstr("label=\"title \\\"q\\\"\""));
  EXPECT_THAT(*dot, HasSubstr("%x\\nf32[4, 8]"));
  EXPECT_THAT(*dot,
              HasSubstr("fused pointwise kernel, 3 ops\\nadd > mul > relu"));
  EXPECT_THAT(*dot, HasSubstr("aten::sum.default"));
  EXPECT_THAT(*dot, HasSubstr("v0 -> v3 [label=\"f32[4, 8]\"]"));
  EXPECT_THAT(*dot, HasSubstr("v3 -> v4 [label=\"f32[4, 8]\"]"));
  EXPECT_THAT(*dot, HasSubstr("v4 -> out"));
  EXPECT_EQ(GraphTextToDot("graph(", "t").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::cli
