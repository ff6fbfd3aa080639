#ifndef KILN_COMPILER_BACKENDS_CUDA_CUDA_PROBE_H_
#define KILN_COMPILER_BACKENDS_CUDA_CUDA_PROBE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cuda {

// One CUDA device as the driver reports it.
struct CudaDevice {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  uint64_t total_memory_bytes = 0;

  // "sm_90" for compute capability 9.0.
  std::string Arch() const;
};

// What the CUDA driver on this host offers.
struct CudaProbe {
  bool available = false;
  // Why CUDA is unusable when !available ("libcuda.so.1 not found", ...).
  std::string reason;
  int driver_version = 0;  // e.g. 13000 for CUDA 13.0
  std::vector<CudaDevice> devices;
};

// Loads the CUDA driver at run time (dlopen of libcuda.so.1), so one binary
// runs on hosts with and without a GPU, and lists the usable devices. Never
// fails: an absent driver or device is reported in `reason`. The result is
// computed once per process and cached; thread-safe.
const CudaProbe& ProbeCuda();

}  // namespace kiln::cuda

#endif  // KILN_COMPILER_BACKENDS_CUDA_CUDA_PROBE_H_
