#include "compiler/tools/run_lib.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "compiler/runtime/tensor_proto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(RunLibTest, RunsAGraphFileOnInputsAndWritesOutputs) {
  std::string graph = TempPath("g.kir");
  WriteFile(graph, R"(graph(%x: f32[2], %n: SymInt(s0)) {
  %y = aten::mul.Tensor(%x, %x) : f32[2]
  return (%y, s0, None)
})");
  v1::ExecuteRequest req;
  rt::TensorToProto(rt::Tensor::FromDoubles(ir::DType::kFloat32, {2}, {3, -4}),
                    req.add_inputs()->mutable_tensor());
  req.add_inputs()->set_int_value(5);
  std::string inputs = TempPath("in.pb");
  WriteFile(inputs, req.SerializeAsString());
  std::string outputs = TempPath("out.pb");

  auto options = ParseFlags({"--graph=" + graph, "--inputs=" + inputs,
                             "--outputs=" + outputs, "--print_outputs"});
  ASSERT_TRUE(options.ok()) << options.status();
  std::ostringstream out;
  absl::Status st = RunTool(*options, out);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_THAT(out.str(), HasSubstr("output 0: f32[2] {9, 16}"));

  std::ifstream f(outputs, std::ios::binary);
  v1::ExecuteResponse resp;
  ASSERT_TRUE(resp.ParseFromIstream(&f));
  ASSERT_EQ(resp.outputs_size(), 3);
  auto y = rt::TensorFromProto(resp.outputs(0).tensor(), "y");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->ToDoubles(), (std::vector<double>{9, 16}));
  EXPECT_EQ(resp.outputs(1).int_value(), 5);
  EXPECT_TRUE(resp.outputs(2).has_none());
}

TEST(RunLibTest, CpuBackendRunsTheGraphAndReportsMutations) {
  std::string graph = TempPath("cpu.kir");
  WriteFile(graph, R"(graph(%x: f32[3], %acc: f32[3]) {
  %y = aten::mul.Tensor(%x, %x) : f32[3]
  %c = aten::copy_.default(%acc, %y) : f32[3]
  return (%y)
})");
  v1::ExecuteRequest req;
  rt::TensorToProto(
      rt::Tensor::FromDoubles(ir::DType::kFloat32, {3}, {1, -2, 3}),
      req.add_inputs()->mutable_tensor());
  rt::TensorToProto(
      rt::Tensor::FromDoubles(ir::DType::kFloat32, {3}, {0, 0, 0}),
      req.add_inputs()->mutable_tensor());
  std::string inputs = TempPath("cpu_in.pb");
  WriteFile(inputs, req.SerializeAsString());
  for (const std::string backend : {"cpu", "interpreter"}) {
    std::string outputs = TempPath("cpu_out_" + backend + ".pb");
    auto options = ParseFlags({"--graph=" + graph, "--inputs=" + inputs,
                               "--outputs=" + outputs, "--backend=" + backend});
    ASSERT_TRUE(options.ok()) << options.status();
    std::ostringstream out;
    absl::Status st = RunTool(*options, out);
    ASSERT_TRUE(st.ok()) << backend << ": " << st;
    std::ifstream f(outputs, std::ios::binary);
    v1::ExecuteResponse resp;
    ASSERT_TRUE(resp.ParseFromIstream(&f));
    ASSERT_EQ(resp.outputs_size(), 1);
    auto y = rt::TensorFromProto(resp.outputs(0).tensor(), "y");
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(y->ToDoubles(), (std::vector<double>{1, 4, 9})) << backend;
    ASSERT_EQ(resp.mutations_size(), 1) << backend;
    EXPECT_EQ(resp.mutations(0).input_index(), 1);
    auto acc = rt::TensorFromProto(resp.mutations(0).value(), "acc");
    ASSERT_TRUE(acc.ok());
    EXPECT_EQ(acc->ToDoubles(), (std::vector<double>{1, 4, 9})) << backend;
  }
}

TEST(RunLibTest, BinaryGraphsAndErrors) {
  EXPECT_FALSE(ParseFlags({}).ok());
  EXPECT_FALSE(ParseFlags({"--graph=x", "--frob"}).ok());
  EXPECT_FALSE(ParseFlags({"--graph=x", "--backend=tpu"}).ok());
  std::string bad = TempPath("bad.pb");
  WriteFile(bad, "\xff\xff\xff");
  auto options = ParseFlags({"--graph=" + bad});
  ASSERT_TRUE(options.ok());
  std::ostringstream out;
  absl::Status st = RunTool(*options, out);
  EXPECT_FALSE(st.ok());
}

TEST(RunLibTest, ListsOpsAndBackends) {
  auto options = ParseFlags({"--list_ops"});
  ASSERT_TRUE(options.ok()) << options.status();
  std::ostringstream ops;
  ASSERT_TRUE(RunTool(*options, ops).ok());
  EXPECT_THAT(ops.str(),
              HasSubstr("aten::mul.Tensor\tpointwise\taten::mul.Tensor("));

  options = ParseFlags({"--list_backends"});
  ASSERT_TRUE(options.ok()) << options.status();
  std::ostringstream backends;
  ASSERT_TRUE(RunTool(*options, backends).ok());
  EXPECT_THAT(backends.str(), HasSubstr("interpreter\n"));
  EXPECT_EQ(AvailableBackends().front(), "interpreter");
}

TEST(RunLibTest, BatchAnswersEachLine) {
  std::string graph = TempPath("batch.kir");
  WriteFile(graph, R"(graph(%x: f32[2]) {
  %y = aten::neg.default(%x) : f32[2]
  return (%y)
})");
  v1::ExecuteRequest req;
  rt::TensorToProto(rt::Tensor::FromDoubles(ir::DType::kFloat32, {2}, {1, 2}),
                    req.add_inputs()->mutable_tensor());
  std::string inputs = TempPath("batch_in.pb");
  WriteFile(inputs, req.SerializeAsString());
  std::string outputs = TempPath("batch_out.pb");

  std::istringstream in("--graph=" + graph + " --inputs=" + inputs +
                        " --outputs=" + outputs + "\n\n" +  // blank: ignored
                        "--graph=" + graph + "\n" +         // no inputs
                        "--graph=" + graph + " --backend=tpu\n" +
                        "--list_ops\n");
  std::ostringstream out, log;
  RunBatch(in, out, log);
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n');
  ASSERT_EQ(lines.size(), 5u) << out.str();
  EXPECT_EQ(lines[0], "ok");
  EXPECT_THAT(lines[1], HasSubstr("error INVALID_ARGUMENT: inputs: the graph "
                                  "takes 1 inputs, got 0"));
  EXPECT_THAT(lines[2], HasSubstr("error INVALID_ARGUMENT: --backend=tpu"));
  EXPECT_THAT(lines[3], HasSubstr("error INVALID_ARGUMENT: a batch line"));
  EXPECT_EQ(lines[4], "");

  std::ifstream f(outputs, std::ios::binary);
  v1::ExecuteResponse resp;
  ASSERT_TRUE(resp.ParseFromIstream(&f));
  auto y = rt::TensorFromProto(resp.outputs(0).tensor(), "y");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->ToDoubles(), (std::vector<double>{-1, -2}));
}

}  // namespace
}  // namespace kiln::tools
