#include "compiler/backends/cuda/cuda_probe.h"

#include <dlfcn.h>

#include <cstddef>

#include "absl/strings/str_cat.h"

namespace kiln::cuda {
namespace {

// The few driver API entry points the probe needs, declared here so the
// build does not require the CUDA toolkit's headers. These signatures and
// attribute numbers are part of the driver's stable ABI.
using CUresult = int;
using CUdevice = int;
constexpr int kAttrComputeMajor =
    75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeMinor =
    76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

using InitFn = CUresult (*)(unsigned int);
using DriverVersionFn = CUresult (*)(int*);
using DeviceCountFn = CUresult (*)(int*);
using DeviceGetFn = CUresult (*)(CUdevice*, int);
using DeviceNameFn = CUresult (*)(char*, int, CUdevice);
using DeviceAttrFn = CUresult (*)(int*, int, CUdevice);
using DeviceMemFn = CUresult (*)(size_t*, CUdevice);
using ErrorStringFn = CUresult (*)(CUresult, const char**);

template <typename Fn>
Fn Lookup(void* lib, const char* name) {
  return reinterpret_cast<Fn>(::dlsym(lib, name));
}

CudaProbe Probe() {
  CudaProbe probe;
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    probe.reason = "CUDA driver (libcuda.so.1) not found";
    return probe;
  }
  // The library stays loaded for the life of the process: later CUDA work
  // reuses the same handle through dlopen's reference count.
  auto init = Lookup<InitFn>(lib, "cuInit");
  auto driver_version = Lookup<DriverVersionFn>(lib, "cuDriverGetVersion");
  auto count = Lookup<DeviceCountFn>(lib, "cuDeviceGetCount");
  auto get = Lookup<DeviceGetFn>(lib, "cuDeviceGet");
  auto name = Lookup<DeviceNameFn>(lib, "cuDeviceGetName");
  auto attr = Lookup<DeviceAttrFn>(lib, "cuDeviceGetAttribute");
  auto mem = Lookup<DeviceMemFn>(lib, "cuDeviceTotalMem_v2");
  auto error_string = Lookup<ErrorStringFn>(lib, "cuGetErrorString");
  if (init == nullptr || count == nullptr || get == nullptr ||
      name == nullptr || attr == nullptr) {
    probe.reason = "CUDA driver lacks required entry points";
    return probe;
  }
  if (CUresult r = init(0); r != 0) {
    const char* text = nullptr;
    if (error_string != nullptr) error_string(r, &text);
    probe.reason =
        absl::StrCat("cuInit failed: ", text != nullptr ? text : "error ", r);
    return probe;
  }
  if (driver_version != nullptr) driver_version(&probe.driver_version);
  int n = 0;
  if (count(&n) != 0 || n == 0) {
    probe.reason = "no CUDA device visible";
    return probe;
  }
  for (int i = 0; i < n; ++i) {
    CUdevice dev = 0;
    if (get(&dev, i) != 0) continue;
    CudaDevice d;
    d.index = i;
    char buf[256] = {0};
    if (name(buf, sizeof(buf) - 1, dev) == 0) d.name = buf;
    attr(&d.compute_major, kAttrComputeMajor, dev);
    attr(&d.compute_minor, kAttrComputeMinor, dev);
    size_t bytes = 0;
    if (mem != nullptr && mem(&bytes, dev) == 0) d.total_memory_bytes = bytes;
    probe.devices.push_back(d);
  }
  probe.available = !probe.devices.empty();
  if (!probe.available) probe.reason = "no CUDA device could be opened";
  return probe;
}

}  // namespace

std::string CudaDevice::Arch() const {
  return absl::StrCat("sm_", compute_major, compute_minor);
}

const CudaProbe& ProbeCuda() {
  static const CudaProbe* probe = new CudaProbe(Probe());
  return *probe;
}

}  // namespace kiln::cuda
