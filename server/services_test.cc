#include <string>

#include "compiler/backends/cuda/cuda_probe.h"
#include "gtest/gtest.h"
#include "kiln/version.h"
#include "server/compiler_service.h"
#include "server/unimplemented.h"

namespace kiln::server {
namespace {

TEST(CapabilitiesTest, DescribesVersionsBackendsAndLimits) {
  ServerConfig config;
  config.max_message_bytes = 1 << 20;
  v1::CapabilitiesResponse caps = DescribeCapabilities(config, "abc");
  EXPECT_EQ(caps.server_version(), kServerVersion);
  EXPECT_EQ(caps.protocol_version(), "kiln.v1");
  EXPECT_EQ(caps.store_id(), "abc");
  ASSERT_EQ(caps.backends_size(), 3);
  const v1::BackendInfo& cpu = caps.backends(0);
  EXPECT_EQ(cpu.name(), "cpu");
  EXPECT_TRUE(cpu.available());
  EXPECT_EQ(cpu.target().rfind("cpu-", 0), 0u) << cpu.target();
  EXPECT_NE(cpu.target().find("-k1-salt0"), std::string::npos);
  const v1::BackendInfo& gpu = caps.backends(1);
  EXPECT_EQ(gpu.name(), "cuda");
  // No CUDA code generator yet: unavailable either way, with the reason.
  EXPECT_FALSE(gpu.available());
  EXPECT_FALSE(gpu.reason().empty());
  if (cuda::ProbeCuda().available) {
    EXPECT_EQ(gpu.target().rfind("cuda-sm_", 0), 0u);
    EXPECT_EQ(gpu.devices_size(),
              static_cast<int>(cuda::ProbeCuda().devices.size()));
  } else {
    EXPECT_TRUE(gpu.target().empty());
  }
  const v1::BackendInfo& interpreter = caps.backends(2);
  EXPECT_EQ(interpreter.name(), "interpreter");
  EXPECT_TRUE(interpreter.available());
  EXPECT_EQ(interpreter.target(), "interpreter-k1-salt0");
  EXPECT_GT(cpu.ops_size(), 100);
  EXPECT_EQ(cpu.option_keys_size(), 2);
  EXPECT_EQ(caps.limits().max_message_bytes(), 1 << 20);
  EXPECT_EQ(caps.limits().recompile_limit(), 8);
  EXPECT_GT(caps.limits().max_graph_nodes(), 0);
  EXPECT_FALSE(caps.shared_memory_allowed());
  // A chunk and its framing fit in one message.
  EXPECT_LT(caps.limits().stream_chunk_bytes(), 1 << 20);
  config.allow_client_shm = true;
  EXPECT_TRUE(DescribeCapabilities(config, "abc").shared_memory_allowed());
}

TEST(NotYetTest, NamesTheMethodAndTheFeature) {
  absl::Status s = NotYet("Compile", Feature::kCompile);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  std::string m(s.message());
  EXPECT_NE(m.find("Compile"), std::string::npos);
  EXPECT_NE(m.find("issue #3"), std::string::npos) << m;
}

}  // namespace
}  // namespace kiln::server
