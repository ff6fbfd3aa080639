// C++ code generation for the CPU backend.
//
// Each kernel is one `extern "C" int kiln_kN(const kiln::cpu::KernelArgs*)`
// function (kernel_abi.h) built from one graph node (or one fused node):
// its tensors are the node's outputs then its tensor inputs, with run-time
// sizes and strides, so a kernel serves every size the graph's symbols
// allow. The generated source of a graph is SourcePreamble() (scalar_math.h,
// kernel_abi.h and kernel_runtime.h, pasted) followed by every kernel.
//
// Kernel emitters register per op name (KILN_REGISTER_CPU_KERNEL) or per op
// category (pointwise ops all share one emitter built on the ops' codegen
// rule, ops::LowerPointwise / EmitPointwiseExpr). An op without an emitter
// is not an error: the planner runs it another way (a view, a library call,
// its reference implementation).
//
// Thread-safe: emitters are pure functions; the registry is filled during
// static initialization.
#ifndef KILN_COMPILER_BACKENDS_CPU_CODEGEN_H_
#define KILN_COMPILER_BACKENDS_CPU_CODEGEN_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "compiler/backends/graph_info.h"
#include "compiler/backends/plan.pb.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"

namespace kiln::cpu {

// One generated kernel: its C++ and how the executor calls it.
struct KernelCode {
  std::string symbol;
  std::string kind;        // "pointwise", "reduction", ...
  std::vector<int> nodes;  // node indices computed
  std::string source;      // C++ definitions (helpers + the function)
  // The kernel's tensors, by value number: outputs, then inputs.
  std::vector<int> outputs;
  std::vector<int> inputs;
  std::vector<plan::IntArg> ints;
  std::vector<plan::FloatArg> floats;
  int row_dims = 0;           // see plan.proto Step.row_dims
  std::vector<int> in_place;  // outputs that are placeholders written
};

// What an emitter sees.
struct EmitContext {
  const backends::GraphInfo& info;
  const ir::Node& node;
  std::string symbol;  // the function name to define
};

using KernelEmitFn =
    std::function<absl::StatusOr<KernelCode>(const EmitContext&)>;

class KernelEmitterRegistry {
 public:
  static KernelEmitterRegistry& Global();
  void Register(std::string op_name, KernelEmitFn fn);
  void RegisterCategory(ops::OpCategory category, KernelEmitFn fn);
  // The emitter for `op` (by name, else by category); nullptr if none.
  const KernelEmitFn* Find(const ops::OpDef& op) const;

 private:
  absl::flat_hash_map<std::string, KernelEmitFn> by_name_;
  absl::flat_hash_map<int, KernelEmitFn> by_category_;
};

class KernelEmitterRegistrar {
 public:
  KernelEmitterRegistrar(std::string op_name, KernelEmitFn fn);
  KernelEmitterRegistrar(ops::OpCategory category, KernelEmitFn fn);
};

#define KILN_CPU_KERNEL_CONCAT_INNER(a, b) a##b
#define KILN_CPU_KERNEL_CONCAT(a, b) KILN_CPU_KERNEL_CONCAT_INNER(a, b)
// KILN_REGISTER_CPU_KERNEL("aten::sum.dim_IntList", EmitSum);
// KILN_REGISTER_CPU_KERNEL(ops::OpCategory::kPointwise, EmitPointwise);
#define KILN_REGISTER_CPU_KERNEL(key, fn)                     \
  [[maybe_unused]] static ::kiln::cpu::KernelEmitterRegistrar \
  KILN_CPU_KERNEL_CONCAT(kiln_cpu_kernel_, __COUNTER__)(key, fn)

// The text every generated source starts with. With `vector_math`, glibc's
// vector math functions (libmvec: exp, log, tanh, erf, ... at most a few
// ulps from the scalar ones) are declared SIMD-callable so that loops
// calling them vectorize; link with -lmvec.
const std::string& SourcePreamble(bool vector_math = true);

// ---------------------------------------------------------------------------
// Helpers for emitters.

// Builds a kernel's operand lists and its scalar arguments.
class KernelBuilder {
 public:
  KernelBuilder(const EmitContext& ctx, std::string kind);

  // Tensor operands: outputs first (all before any input). Returns the
  // operand's index in the kernel's tensor list. Inputs are deduplicated.
  int AddOutput(const ir::Value* v);
  // An output written in place: an existing value (copy_'s `self`), not a
  // fresh buffer.
  int AddInPlaceOutput(const ir::Value* v);
  int AddInput(const ir::Value* v, bool dedupe = true);
  // A C++ expression of type int64_t for a symbolic (or constant) int:
  // node argument `arg` (element `element` of an int list when >= 0).
  std::string IntArg(int arg, int element = -1);
  // The same for an argument of body node `body_node` of a kiln::fused
  // node.
  std::string BodyIntArg(const ir::Node& body_node, int arg, int element = -1);
  // An int64_t / double expression for a scalar or SymInt placeholder.
  std::string ScalarInputInt(const ir::Value* placeholder);
  std::string ScalarInputFloat(const ir::Value* placeholder);

  // Declarations of the scalar locals (`const int64_t c0 = a->ints[0];`).
  std::string ScalarDecls() const;
  // `static constexpr int kOps[N] = {...}; static constexpr int64_t
  // kElem[N] = {...};` for every tensor operand.
  std::string OperandTables() const;
  int num_tensors() const {
    return static_cast<int>(code_.outputs.size() + code_.inputs.size());
  }
  // Element storage type of tensor operand i ("float", "kiln::pw::Half").
  std::string StorageType(int i) const;
  ir::DType dtype(int i) const { return dtypes_[i]; }

  KernelCode& code() { return code_; }
  const KernelCode& code() const { return code_; }
  // Declares a scalar local for a float argument of the node (kFloat arg
  // `arg`) or returns its literal.
  std::string FloatArg(int arg);
  // The C++ expression of a Scalar argument of the node (a constant, a
  // symbolic int or a scalar input) in its own wrapped dtype, and that
  // dtype (i64 / f64 / b8).
  absl::StatusOr<std::pair<std::string, ir::DType>> ScalarArg(int arg);

  // Finishes with the kernel's C++ text.
  KernelCode Finish(std::string source);

 private:
  const EmitContext& ctx_;
  KernelCode code_;
  std::vector<const ir::Value*> tensors_;
  std::vector<ir::DType> dtypes_;
  std::vector<std::string> decls_;
};

// `lvalue = expr;` for an element of `dtype`. float16 / bfloat16 elements
// are assigned through their bits (`lvalue.bits = (expr).bits;`): a struct
// copy would keep the host compiler from vectorizing the loop.
std::string Assign(const std::string& lvalue, const std::string& expr,
                   ir::DType dtype);

// `reinterpret_cast<T*>(p[i])`-style typed pointer declaration.
std::string TypedPointer(const std::string& name, const std::string& type,
                         const std::string& expr, bool is_const);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_CODEGEN_H_
