// Backends: what turns a verified ir::Graph into something that runs.
//
// A Backend compiles a graph into an Executable (Glow's Backend /
// CompiledFunction split). Backends register themselves by name with
// KILN_REGISTER_BACKEND (Glow's REGISTER_GLOW_BACKEND_FACTORY):
//   "interpreter"  the reference interpreter behind this interface (the
//                  oracle; its artifact is the graph itself);
//   "cpu"          generated C++ compiled by the host compiler into one
//                  shared object per graph (compiler/backends/cpu).
// Later backends ("cuda") plug in the same way.
//
// An Executable runs the graph on concrete inputs (one per placeholder).
// Symbols are bound from the inputs exactly as the interpreter binds them
// (interp::BindInputs), so one executable serves every size its symbolic
// types allow. It serializes into an artifact; Backend::Load turns the
// artifact back into an executable without compiling again (in another
// process too).
//
// Ownership: Compile does not keep a reference to the graph it is given;
// an Executable owns everything it needs. Threading: Backend objects are
// stateless and thread-safe; Executable::Run may be called from several
// threads at once.
#ifndef KILN_COMPILER_BACKENDS_BACKEND_H_
#define KILN_COMPILER_BACKENDS_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"

namespace kiln::backends {

using ops::RuntimeValue;

struct CompileOptions {
  // The code-generation target, e.g. "cpu-x86_64-avx2". Empty: the host's
  // (cpu::HostTarget()). The CPU backend derives the host compiler's flags
  // from it (never -march=native).
  std::string target;
  // Threads a kernel may use; 0: the hardware's concurrency.
  int num_threads = 0;
  // Wall-clock limit of one host-compiler run; the compiler is killed and
  // Compile returns DEADLINE_EXCEEDED when it runs longer.
  absl::Duration host_compiler_timeout = absl::Seconds(300);
  // Host-compiler processes run at once for a large graph (its kernels are
  // split into several translation units); 0: the hardware's concurrency.
  int host_compiler_jobs = 0;
  // The host compiler to run (tests substitute a broken or hanging one).
  std::string host_compiler = "/usr/bin/g++";
  // Let vectorized loops call glibc's vector math functions (libmvec) for
  // exp, log, tanh, erf, ...: a few ulps from the scalar libm results the
  // interpreter uses, several times faster.
  bool vector_math = true;
  // Run the compiler's passes (compiler/passes DefaultPipeline: view
  // simplification, constant folding, CSE, DCE, fusion, memory planning)
  // before code generation; off, every node gets its own kernel.
  bool run_passes = true;
  // Verify the graph after every pass (tests).
  bool verify_passes = false;
  // Keep the generated source in the artifact (debugging, golden tests).
  bool keep_source = true;
  // Test hook: edits the generated source before it is compiled (to inject
  // a syntax error).
  std::function<void(std::string&)> source_hook;
};

struct LoadOptions {
  // Threads a kernel may use; 0: the hardware's concurrency.
  int num_threads = 0;
};

// Where compile time went, in microseconds.
struct CompileStats {
  int64_t verify_us = 0;
  int64_t passes_us = 0;
  int64_t codegen_us = 0;
  int64_t host_compile_us = 0;
  int64_t load_us = 0;  // writing and dlopen-ing the shared object
  int64_t total_us = 0;
  int num_kernels = 0;        // generated kernels (distinct)
  int num_launches = 0;       // kernel launches per run
  int graph_nodes = 0;        // nodes after the passes
  int num_library_calls = 0;  // precompiled runtime functions (gemm, ...)
  int64_t source_bytes = 0;   // generated C++
  int64_t object_bytes = 0;   // the shared object
};

// What an output is, known at compile time (kiln.v1.OutputInfo's
// aliasing): aliases_input >= 0 when the output is a view of that
// placeholder's storage.
struct OutputAlias {
  int aliases_input = -1;
};

class Executable {
 public:
  virtual ~Executable() = default;

  // Runs the graph: one input per placeholder (tensors for tensor
  // placeholders, scalars for SymInt and scalar ones). Returns one value per
  // graph output (kNone for None outputs, kScalar for int/float/bool ones).
  // Inputs the graph mutates (copy_ into a placeholder) are written in place
  // through the caller's tensors, whose storage the executable shares;
  // mutated_inputs() lists them. INVALID_ARGUMENT for inputs that do not
  // match the graph's placeholders; a failing kernel (integer division by
  // zero, an index out of range) is INVALID_ARGUMENT naming the node.
  virtual absl::StatusOr<std::vector<RuntimeValue>> Run(
      const std::vector<RuntimeValue>& inputs) const = 0;

  // The artifact: everything Backend::Load needs to rebuild this executable
  // in another process without compiling.
  virtual absl::StatusOr<std::string> Serialize() const = 0;

  // One entry per graph output.
  virtual const std::vector<OutputAlias>& output_aliases() const = 0;
  // Placeholder indices the graph writes, ascending.
  virtual const std::vector<int>& mutated_inputs() const = 0;
  virtual const CompileStats& stats() const = 0;
  // The backend's target string ("cpu-x86_64-avx2", "interpreter").
  virtual const std::string& target() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Compiles a verified graph (the caller's graph is not modified; passes
  // run on a copy). UNIMPLEMENTED names an op or feature the backend lacks;
  // a failing host compiler is INTERNAL with the compiler's message; a host
  // compiler that runs out of time is DEADLINE_EXCEEDED.
  virtual absl::StatusOr<std::unique_ptr<Executable>> Compile(
      const ir::Graph& graph, const CompileOptions& options) const = 0;

  // Rebuilds an executable from Executable::Serialize()'s bytes.
  // INVALID_ARGUMENT (DATA_LOSS for a shared object whose hash does not
  // match) when the bytes are not this backend's artifact;
  // FAILED_PRECONDITION when it was built for a target this host cannot
  // run.
  virtual absl::StatusOr<std::unique_ptr<Executable>> Load(
      std::string_view artifact, const LoadOptions& options) const = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

// The process-wide backend registry. Registration happens during static
// initialization; lookups are thread-safe afterwards.
class BackendRegistry {
 public:
  static BackendRegistry& Global();
  // CHECK-fails on a duplicate name (a programming error).
  void Register(std::string name, BackendFactory factory);
  // NOT_FOUND naming the available backends.
  absl::StatusOr<std::unique_ptr<Backend>> Create(std::string_view name) const;
  // Registered names, sorted.
  std::vector<std::string> Names() const;

 private:
  std::vector<std::pair<std::string, BackendFactory>> factories_;
};

// Convenience: BackendRegistry::Global().Create(name).
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name);

class BackendRegistrar {
 public:
  BackendRegistrar(std::string name, BackendFactory factory);
};

#define KILN_REGISTER_BACKEND_CONCAT_INNER(a, b) a##b
#define KILN_REGISTER_BACKEND_CONCAT(a, b) \
  KILN_REGISTER_BACKEND_CONCAT_INNER(a, b)
// KILN_REGISTER_BACKEND("cpu", CpuBackend): registers a factory that
// default-constructs the class. The library holding it must be alwayslink.
#define KILN_REGISTER_BACKEND(name, Class)                            \
  [[maybe_unused]] static ::kiln::backends::BackendRegistrar          \
  KILN_REGISTER_BACKEND_CONCAT(kiln_backend_registrar_, __COUNTER__)( \
      name,                                                           \
      [] { return std::unique_ptr<::kiln::backends::Backend>(new Class()); })

}  // namespace kiln::backends

#endif  // KILN_COMPILER_BACKENDS_BACKEND_H_
