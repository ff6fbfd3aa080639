// An artifact compiled here loads and runs in another process (a separate
// binary that links no compiler front end and never runs the host
// compiler), for several sizes of one symbolic graph, with the same
// results as in this process.
#include <fstream>

#include "compiler/backends/backend.h"
#include "compiler/backends/testing/backend_testing.h"
#include "compiler/ir/text.h"
#include "compiler/runtime/tensor_proto.h"
#include "gtest/gtest.h"
#include "kiln/v1/compiler_service.pb.h"
#include "tests/testing/process.h"

namespace kiln::backends {
namespace {

TEST(ArtifactProcessTest, LoadsAndRunsInAFreshProcess) {
  auto graph =
      ir::ParseGraph(R"(graph(%x: f32[s0, 8], %w: f32[8, 5], %b: f32[5]) {
  %mm = aten::mm.default(%x, %w) : f32[s0, 5]
  %add = aten::add.Tensor(%mm, %b) : f32[s0, 5]
  %sm = aten::_softmax.default(%add, 1, False) : f32[s0, 5]
  %sum = aten::sum.dim_IntList(%sm, [0]) : f32[5]
  return (%sm, %sum)
})");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto backend = CreateBackend("cpu");
  ASSERT_TRUE(backend.ok());
  auto exe = (*backend)->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto bytes = (*exe)->Serialize();
  ASSERT_TRUE(bytes.ok());
  std::string dir = kiln::testing::MakeTempDir("artifact");
  std::string artifact = dir + "/graph.kart";
  std::ofstream(artifact, std::ios::binary) << *bytes;

  for (int64_t rows : {3, 1000}) {
    auto inputs = testing::RandomInputs(**graph, {{"s0", rows}}, rows);
    ASSERT_TRUE(inputs.ok());
    v1::ExecuteRequest req;
    for (const RuntimeValue& v : *inputs) {
      rt::TensorToProto(v.tensor, req.add_inputs()->mutable_tensor());
    }
    std::string in_path = dir + "/in.pb", out_path = dir + "/out.pb";
    std::ofstream(in_path, std::ios::binary) << req.SerializeAsString();
    auto result = kiln::testing::RunCommand(
        {kiln::testing::Runfile("compiler/backends/cpu/artifact-runner"),
         "--backend=cpu", "--artifact=" + artifact, "--inputs=" + in_path,
         "--outputs=" + out_path},
        {{"PATH", "/nonexistent"}});
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->exit_code, 0) << result->err;
    std::ifstream f(out_path, std::ios::binary);
    v1::ExecuteResponse resp;
    ASSERT_TRUE(resp.ParseFromIstream(&f));
    auto want = (*exe)->Run(*inputs);
    ASSERT_TRUE(want.ok());
    ASSERT_EQ(resp.outputs_size(), 2);
    for (int i = 0; i < 2; ++i) {
      auto t = rt::TensorFromProto(resp.outputs(i).tensor(), "out");
      ASSERT_TRUE(t.ok());
      EXPECT_EQ(
          testing::CompareValues(RuntimeValue::OfTensor(*t), (*want)[i], {0.0}),
          "")
          << "rows " << rows << " output " << i;
    }
  }
  // A damaged artifact is refused by the other process too.
  std::string bad = *bytes;
  bad[bad.size() - 100] ^= 0x11;
  std::ofstream(artifact, std::ios::binary) << bad;
  auto result = kiln::testing::RunCommand(
      {kiln::testing::Runfile("compiler/backends/cpu/artifact-runner"),
       "--backend=cpu", "--artifact=" + artifact, "--inputs=/dev/null",
       "--outputs=/dev/null"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 1);
}

}  // namespace
}  // namespace kiln::backends
