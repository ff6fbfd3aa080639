// The op registry: one OpDef per ATen overload, registered once at static
// initialization with KILN_REGISTER_OP.
//
// An OpDef holds everything the compiler knows about an op:
//   * its ATen schema (schema.h), which drives argument checking and
//     normalization;
//   * a category (pointwise, reduction, view, ...), which passes use;
//   * shape and dtype inference (Infer), which validates argument values
//     and computes output types with symbolic sizes;
//   * the reference implementation, run by the interpreter (the oracle);
//   * for pointwise ops, a PointwiseSpec (pointwise.h) from which the
//     inference, the reference implementation and the codegen rule (a C++
//     scalar expression per node, see EmitPointwiseExpr) are all derived.
//
// Adding an op (see docs/compiler.md, "Adding an op"):
//
//   KILN_REGISTER_OP("aten::mm(Tensor self, Tensor mat2) -> Tensor")
//       .Category(OpCategory::kMatmul)
//       .Infer(InferMm)          // absl::StatusOr<std::vector<InferredOutput>>
//                                //     (const InferContext&)
//       .Reference(RunMm);       // absl::Status(KernelContext&)
//
//   KILN_REGISTER_OP("aten::relu(Tensor self) -> Tensor")
//       .Pointwise(UnaryOp(KILN_SCALAR_FN(Relu, 1))
//                      .Allowed(DTypeSet::All().Without(DType::kBool)));
//
// Threading: registration happens during static initialization (single
// threaded); afterwards the registry and every OpDef are immutable and may
// be read from any thread.
#ifndef KILN_COMPILER_OPS_OP_DEF_H_
#define KILN_COMPILER_OPS_OP_DEF_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/schema.h"
#include "compiler/runtime/tensor.h"
#include "compiler/symbolic/expr.h"

namespace kiln::ops {

struct PointwiseSpec;

enum class OpCategory : uint8_t {
  kPointwise,
  kReduction,
  kNormalization,  // softmax, layer norm and their backwards
  kView,           // outputs alias an input's storage
  kLayout,         // layout changes that copy (clone, _to_copy), or return
                   // the input itself when it already has the layout
                   // (contiguous, reshape: their schemas say Tensor(a))
  kMatmul,
  kCreation,
  kDataMovement,  // cat, gather, index_select, padding, ...
  kMutation,      // copy_ into a graph input
  kOther,
};
std::string OpCategoryName(OpCategory c);

// The inferred type of one output. `type` is nullopt for a None output.
// `exact_strides` is false when the strides could not be decided (symbolic
// comparisons): the type then carries contiguous strides and a declared
// layout is accepted as long as sizes and dtype agree.
struct InferredOutput {
  std::optional<ir::TensorType> type;
  bool exact_strides = true;

  InferredOutput() = default;
  InferredOutput(ir::TensorType t, bool exact = true)  // NOLINT: implicit
      : type(std::move(t)), exact_strides(exact) {}
  static InferredOutput None() { return InferredOutput(); }
};

// Whether declared output metadata agrees with inference: same dtype,
// device and sizes; strides and storage offset too when inference decided
// them (dims of size 1 and empty tensors are exempt: ATen's strides carry no
// meaning there). INVALID_ARGUMENT naming what differs, without a path.
absl::Status CheckDeclaredType(const ir::TensorType& declared,
                               const InferredOutput& inferred);

// What shape inference sees: the schema and the normalized arguments (one
// per schema argument). Tensor arguments are Values whose types are known.
class InferContext {
 public:
  InferContext(const Schema& schema, const std::vector<ir::Arg>& args)
      : schema_(schema), args_(args) {}

  const Schema& schema() const { return schema_; }
  const std::vector<ir::Arg>& args() const { return args_; }
  const ir::Arg& arg(int i) const { return args_[i]; }
  // Index of the argument named `name` (must exist).
  int index(std::string_view name) const;
  const ir::Arg& arg(std::string_view name) const { return args_[index(name)]; }
  bool is_none(int i) const { return args_[i].is_none(); }
  // Argument i is a tensor Value.
  bool is_tensor(int i) const {
    return args_[i].kind == ir::Arg::Kind::kValue && args_[i].value &&
           args_[i].value->is_tensor();
  }
  const ir::TensorType& tensor(int i) const { return args_[i].value->type(); }
  // The tensor types of a Tensor[] argument (nullptr for None entries).
  std::vector<const ir::TensorType*> tensor_list(int i) const;

 private:
  const Schema& schema_;
  const std::vector<ir::Arg>& args_;
};

// A value at run time: a tensor, a scalar, or nothing (None / str inputs).
struct RuntimeValue {
  enum class Kind : uint8_t { kNone, kTensor, kScalar };
  Kind kind = Kind::kNone;
  rt::Tensor tensor;
  rt::Scalar scalar;

  static RuntimeValue OfTensor(rt::Tensor t) {
    RuntimeValue v;
    v.kind = Kind::kTensor;
    v.tensor = std::move(t);
    return v;
  }
  static RuntimeValue OfScalar(rt::Scalar s) {
    RuntimeValue v;
    v.kind = Kind::kScalar;
    v.scalar = s;
    return v;
  }
};

// What a reference implementation sees: the node, its arguments' run-time
// values and the symbol bindings; it fills the outputs. Built by the
// interpreter for one node execution.
class KernelContext {
 public:
  using Lookup = std::function<const RuntimeValue*(const ir::Value*)>;
  KernelContext(const ir::Node& node, const sym::Bindings& bindings,
                Lookup lookup);

  const ir::Node& node() const { return node_; }
  const sym::Bindings& bindings() const { return bindings_; }
  const ir::Arg& arg(int i) const;
  int index(std::string_view name) const;

  // Argument accessors (by schema position).
  bool is_none(int i) const;
  const rt::Tensor& tensor(int i) const;
  std::vector<const rt::Tensor*> tensor_list(int i) const;
  absl::StatusOr<int64_t> int_arg(int i) const;
  absl::StatusOr<std::vector<int64_t>> int_list(int i) const;
  // A Scalar, int, float or bool argument (constant or graph input).
  absl::StatusOr<rt::Scalar> scalar(int i) const;
  // The value of a scalar/SymInt placeholder (kValue args that are not
  // tensors).
  const RuntimeValue* value(const ir::Value* v) const { return lookup_(v); }

  // Outputs. Declared output i's sizes, strides and offset under the
  // bindings.
  absl::StatusOr<std::vector<int64_t>> OutputSizes(int i) const;
  // A fresh tensor with output i's declared dtype and layout.
  absl::StatusOr<rt::Tensor> AllocateOutput(int i) const;
  void SetOutput(int i, rt::Tensor t);
  std::vector<rt::Tensor>& outputs() { return outputs_; }

 private:
  absl::StatusOr<std::vector<int64_t>> Eval(
      const std::vector<sym::ExprRef>& exprs) const;

  const ir::Node& node_;
  const sym::Bindings& bindings_;
  Lookup lookup_;
  std::vector<rt::Tensor> outputs_;
};

using InferFn = std::function<absl::StatusOr<std::vector<InferredOutput>>(
    const InferContext&)>;
using ReferenceFn = std::function<absl::Status(KernelContext&)>;

class OpDef {
 public:
  const Schema& schema() const { return schema_; }
  // "aten::add.Tensor".
  const std::string& name() const { return name_; }
  OpCategory category() const { return category_; }
  // Runs the op's inference (argument value checks included). Errors carry
  // no path; callers prefix the node.
  absl::StatusOr<std::vector<InferredOutput>> Infer(
      const InferContext& ctx) const;
  bool has_reference() const { return static_cast<bool>(reference_); }
  const ReferenceFn& reference() const { return reference_; }
  // Non-null for pointwise ops.
  const PointwiseSpec* pointwise() const { return pointwise_.get(); }
  // Schema positions of the arguments the op writes in place (annotated
  // `Tensor(a!)`), e.g. {0} for aten::copy_. Nodes of such ops have side
  // effects: passes must keep them even when their outputs are unused, and
  // must not move other uses of those arguments across them.
  const std::vector<int>& mutated_args() const { return mutated_args_; }

 private:
  friend class OpDefBuilder;
  Schema schema_;
  std::string name_;
  OpCategory category_ = OpCategory::kOther;
  InferFn infer_;
  ReferenceFn reference_;
  std::shared_ptr<const PointwiseSpec> pointwise_;
  std::vector<int> mutated_args_;
};

// Fluent construction of an OpDef; KILN_REGISTER_OP registers the result.
class OpDefBuilder {
 public:
  // CHECK-fails on a schema that does not parse (a programming error, caught
  // by every test binary at start-up).
  explicit OpDefBuilder(std::string_view schema);
  OpDefBuilder& Category(OpCategory c);
  OpDefBuilder& Infer(InferFn fn);
  OpDefBuilder& Reference(ReferenceFn fn);
  // A pointwise op: sets the category, inference and reference from `spec`.
  OpDefBuilder& Pointwise(PointwiseSpec spec);

  std::unique_ptr<OpDef> Build() { return std::move(def_); }

 private:
  std::unique_ptr<OpDef> def_;
};

// The process-wide registry.
class OpRegistry {
 public:
  static OpRegistry& Global();
  // CHECK-fails on a duplicate name (a programming error).
  void Register(std::unique_ptr<OpDef> def);
  // By full name ("aten::add.Tensor", "aten::mm.default"); nullptr if
  // unknown.
  const OpDef* Find(std::string_view name) const;
  // Every registered op, sorted by name.
  std::vector<const OpDef*> All() const;

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<OpDef>> ops_;
};

// Convenience: Find or CHECK-fail (tests, passes that create known ops).
const OpDef& GetOp(std::string_view name);

// The graph inputs a graph mutates: placeholder indices (ascending, each
// once) that some node writes in place through a mutated argument
// (OpDef::mutated_args; after functionalization, a trailing `aten::copy_`
// into a placeholder). This is kiln.v1.OutputSpec.mutated_inputs; the
// interpreter writes the new values into the input tensors' storage.
std::vector<int> MutatedInputs(const ir::Graph& graph);

class OpRegistrar {
 public:
  OpRegistrar(OpDefBuilder& builder);   // NOLINT: implicit by design
  OpRegistrar(OpDefBuilder&& builder);  // NOLINT: implicit by design
};

#define KILN_REGISTER_OP_CONCAT_INNER(a, b) a##b
#define KILN_REGISTER_OP_CONCAT(a, b) KILN_REGISTER_OP_CONCAT_INNER(a, b)
// Registers one op: KILN_REGISTER_OP("schema").Category(...).Infer(...)...;
#define KILN_REGISTER_OP(schema)                                            \
  [[maybe_unused]] static ::kiln::ops::OpRegistrar KILN_REGISTER_OP_CONCAT( \
      kiln_op_registrar_, __COUNTER__) = ::kiln::ops::OpDefBuilder(schema)

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_OP_DEF_H_
