#include "compiler/backends/cuda/cuda_probe.h"

#include <dlfcn.h>

#include "gtest/gtest.h"

namespace kiln::cuda {
namespace {

TEST(CudaProbeTest, ReportsTheDriverItFinds) {
  const CudaProbe& probe = ProbeCuda();
  EXPECT_EQ(&probe, &ProbeCuda()) << "probe must be computed once";
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    EXPECT_FALSE(probe.available);
    EXPECT_NE(probe.reason.find("libcuda.so.1"), std::string::npos)
        << probe.reason;
    EXPECT_TRUE(probe.devices.empty());
    return;
  }
  ::dlclose(lib);
  if (!probe.available) {
    EXPECT_FALSE(probe.reason.empty());
    GTEST_SKIP() << "CUDA driver present but no usable device: "
                 << probe.reason;
  }
  ASSERT_FALSE(probe.devices.empty());
  for (const CudaDevice& d : probe.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_major, 3);
    EXPECT_EQ(d.Arch().rfind("sm_", 0), 0u);
    EXPECT_GT(d.total_memory_bytes, 0u);
  }
}

TEST(CudaDeviceTest, ArchNamesComputeCapability) {
  CudaDevice d;
  d.compute_major = 9;
  d.compute_minor = 0;
  EXPECT_EQ(d.Arch(), "sm_90");
}

}  // namespace
}  // namespace kiln::cuda
