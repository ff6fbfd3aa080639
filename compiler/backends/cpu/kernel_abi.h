// The calling convention between the CPU backend's executor and the kernels
// it generates. Self-contained (only <cstdint>): the code generator pastes
// this header into every generated source, and the executor includes it.
//
// A kernel is `extern "C" int kiln_kN(const kiln::cpu::KernelArgs*)`. Its
// tensors are the step's outputs, then its inputs (plan.proto's Step),
// each with its run-time sizes and strides, so one kernel serves every size
// and layout. It returns 0, or a KernelError the executor turns into a
// Status naming the node. Kernels never throw and never abort.
#ifndef KILN_COMPILER_BACKENDS_CPU_KERNEL_ABI_H_
#define KILN_COMPILER_BACKENDS_CPU_KERNEL_ABI_H_

#include <cstdint>

namespace kiln {
namespace cpu {

// One tensor operand: `data` points at element 0 (the storage offset is
// applied); sizes and strides (in elements) have `rank` entries.
struct TensorArg {
  char* data;
  const int64_t* sizes;
  const int64_t* strides;
  int64_t rank;
};

struct KernelArgs {
  const TensorArg* tensors;
  const int64_t* ints;   // Step.ints, evaluated for this run
  const double* floats;  // Step.floats
  int64_t num_threads;   // threads the kernel may use (>= 1)
};

enum KernelError : int {
  kKernelOk = 0,
  kZeroDivision = 1,     // integer division by zero
  kIndexOutOfRange = 2,  // gather / index_select / embedding index
  kTooManyDims = 3,      // more non-trivial dims than kMaxDims
  kBadLayout = 4,        // an operand the executor should have made dense
  kOutOfMemory = 5,
  kEmptyReduction = 6,  // max / argmax / ... over zero elements
};

// "integer division by zero (ZeroDivisionError)", ...
inline const char* KernelErrorMessage(int code) {
  switch (code) {
    case kZeroDivision:
      return "ZeroDivisionError: integer division by zero";
    case kIndexOutOfRange:
      return "index out of range";
    case kTooManyDims:
      return "too many dimensions for a generated kernel";
    case kBadLayout:
      return "operand layout not supported by the kernel";
    case kOutOfMemory:
      return "out of memory in a kernel";
    case kEmptyReduction:
      return "Expected reduction dim to have non-zero size";
    default:
      return "kernel failed";
  }
}

typedef int (*KernelFn)(const KernelArgs*);

// Marks a generated kernel: exported from a shared object built with
// -fvisibility=hidden.
#define KILN_KERNEL extern "C" __attribute__((visibility("default")))

}  // namespace cpu
}  // namespace kiln

#endif  // KILN_COMPILER_BACKENDS_CPU_KERNEL_ABI_H_
