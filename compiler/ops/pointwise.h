// The pointwise op family: one declarative spec per op, from which the
// inference, the interpreter's reference implementation and the codegen
// rule are all derived.
//
// A pointwise node computes, for every element of its (broadcast) output,
//   result = Convert<result dtype>(fn(in_0, ..., in_k))
// where fn is a scalar functor of runtime/scalar_math.h evaluated in the
// node's compute type (ATen's opmath type: float for f16/bf16/f32, double,
// int64_t for every integer dtype, bool), and each input is an element of a
// tensor operand or a scalar (constant or graph input), converted first to
// its `load dtype` and then to the compute type:
//   * kPromoted inputs take part in ATen's result_type and load as the
//     common dtype (so `u8_tensor < -1` compares with 255, as ATen does);
//   * kToCommon inputs do not promote but load as the common dtype
//     (hardtanh's limits, masked_fill's value, add's alpha, leaky_relu's
//     slope: ATen converts them to scalar_t first);
//   * kToCompute inputs are parameters converted straight to the compute
//     type (round's decimals);
//   * kMask inputs load as bool (where's condition, masked_fill's mask).
//
// Code generators use LowerPointwise + EmitPointwiseExpr: a fused kernel for
// a chain of pointwise nodes is the composition of their expressions, each
// input expression converted with EmitConvert. Thread-safe (pure functions
// over immutable specs).
#ifndef KILN_COMPILER_OPS_POINTWISE_H_
#define KILN_COMPILER_OPS_POINTWISE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/dtype.h"
#include "compiler/ir/graph.h"
#include "compiler/ops/op_def.h"
#include "compiler/runtime/scalar_math.h"

namespace kiln::ops {

using ir::DType;
using ir::DTypeSet;

// A scalar functor of scalar_math.h: its C++ name for code generators and
// its instantiations for the interpreter, one per compute type.
struct ScalarFn {
  const char* cpp_name = "";  // "kiln::pw::Add"
  int arity = 0;
  float (*f32)(const float*) = nullptr;
  double (*f64)(const double*) = nullptr;
  int64_t (*i64)(const int64_t*) = nullptr;
  bool (*b8)(const bool*) = nullptr;
};

namespace internal {
template <class F, class T, size_t... I>
T ApplyArray(const T* a, std::index_sequence<I...>) {
  return F{}(a[I]...);
}
template <class F, int N, class T>
T Apply(const T* a) {
  return ApplyArray<F, T>(a, std::make_index_sequence<N>());
}
}  // namespace internal

template <class F, int N>
const ScalarFn* MakeScalarFn(const char* cpp_name) {
  static const ScalarFn fn{cpp_name,
                           N,
                           &internal::Apply<F, N, float>,
                           &internal::Apply<F, N, double>,
                           &internal::Apply<F, N, int64_t>,
                           &internal::Apply<F, N, bool>};
  return &fn;
}
// KILN_SCALAR_FN(Add, 3): the functor kiln::pw::Add taking 3 inputs.
#define KILN_SCALAR_FN(Functor, N) \
  ::kiln::ops::MakeScalarFn<::kiln::pw::Functor, N>("kiln::pw::" #Functor)

enum class InputRole : uint8_t { kPromoted, kToCommon, kToCompute, kMask };

// How the result dtype follows from the common (promoted) dtype.
enum class ResultRule : uint8_t {
  kCommon,      // result = common dtype (add, abs, maximum, ...)
  kIntToFloat,  // integral/bool common dtype becomes float32 (sqrt, div)
  kBool,        // result bool, computed in the common dtype (eq, isnan)
};

// One input of the scalar function: a schema argument and its role.
struct PointwiseInput {
  std::string arg;  // schema argument name
  InputRole role = InputRole::kPromoted;
  // ATen converts this value with Scalar::to<scalar_t>(), which refuses
  // values the load dtype cannot hold ("value cannot be converted to type
  // int8_t without overflow"): alpha, clamp bounds, masked_fill's value,
  // where's scalar branches. Constants are checked at conversion, run-time
  // values by the interpreter.
  bool checked = false;
};

// What a node computes for its actual arguments.
struct PointwiseForm {
  const ScalarFn* fn = nullptr;
  std::vector<PointwiseInput> inputs;
  ResultRule result = ResultRule::kCommon;
  // Common dtypes the op accepts (after promotion and the result rule's
  // int->float step).
  DTypeSet allowed = DTypeSet::All();
  // Index into `inputs` of an integer divisor: a zero element is
  // ZeroDivisionError in the interpreter, as in ATen. -1 if none.
  int integer_divisor = -1;
};

// Information handed to a spec's `check`.
struct PointwiseCheckInfo {
  const InferContext& ctx;
  const PointwiseForm& form;
  DType common;                       // after promotion
  std::vector<DType> input_dtypes;    // per form input (scalars: i64/f64/b8)
  std::vector<bool> input_is_tensor;  // per form input
};

struct PointwiseSpec {
  // Picks the form from the arguments (e.g. div's rounding_mode, clamp's
  // optional bounds); may reject argument values.
  std::function<absl::StatusOr<PointwiseForm>(const InferContext&)> form;
  // Extra dtype/value rules (sub on bool, alpha, ...). Optional.
  std::function<absl::Status(const PointwiseCheckInfo&)> check;
  // The output is always contiguous (masked_fill clones contiguously);
  // otherwise TensorIterator's layout.
  bool contiguous_output = false;
};

// Builds the common one-form spec:
//   PointwiseOp(KILN_SCALAR_FN(Add, 3), {{"self"}, {"other"},
//               {"alpha", InputRole::kToCompute}})
//       .Result(ResultRule::kCommon).Allowed(...).Check(...)
class PointwiseOp {
 public:
  PointwiseOp(const ScalarFn* fn, std::vector<PointwiseInput> inputs);
  PointwiseOp& Result(ResultRule r);
  PointwiseOp& Allowed(DTypeSet s);
  PointwiseOp& IntegerDivisor(int input);
  PointwiseOp& Check(std::function<absl::Status(const PointwiseCheckInfo&)> c);
  PointwiseOp& ContiguousOutput();
  operator PointwiseSpec() const;  // NOLINT: implicit by design

 private:
  PointwiseForm form_;
  PointwiseSpec spec_;
};

// A node's pointwise computation, resolved against its arguments.
struct PointwiseLowering {
  struct Input {
    enum class Source : uint8_t { kTensor, kScalarConstant, kScalarValue };
    int arg = -1;  // schema argument index
    InputRole role = InputRole::kPromoted;
    Source source = Source::kTensor;
    // kTensor: the tensor; kScalarValue: the scalar/SymInt placeholder.
    const ir::Value* value = nullptr;
    // kScalarConstant: the argument (kInt, possibly symbolic; kFloat; kBool).
    ir::Arg constant;
    DType dtype = DType::kFloat32;  // own dtype (scalars: i64 / f64 / b8)
    DType load_dtype = DType::kFloat32;
    // Values must fit load_dtype (see PointwiseInput::checked).
    bool checked = false;
  };
  const ScalarFn* fn = nullptr;
  std::vector<Input> inputs;
  DType common = DType::kFloat32;
  // The dtype of the C++ compute type: f32 for f16/bf16/f32, f64, i64 for
  // every integer dtype, b8 (ComputeDType(common)).
  DType compute = DType::kFloat32;
  DType result = DType::kFloat32;
  std::vector<ir::ExprRef> sizes;  // broadcast output sizes
  int integer_divisor = -1;
};

// Resolves `op` (which must be pointwise) against normalized arguments:
// form, promotion, dtype checks and broadcasting. Errors carry no path.
absl::StatusOr<PointwiseLowering> LowerPointwise(const OpDef& op,
                                                 const InferContext& ctx);
absl::StatusOr<PointwiseLowering> LowerPointwise(const ir::Node& node);

// Codegen rule: the C++ expression (in the compute type) of a node whose
// inputs are `input_exprs` (one per lowering.inputs entry, each already of
// the compute type; see EmitConvert). Example for add with alpha 2 on f32:
//   kiln::pw::Add{}(a, b, 2.0f)
std::string EmitPointwiseExpr(const PointwiseLowering& lowering,
                              const std::vector<std::string>& input_exprs);
// The whole codegen rule for one node: the C++ expression of its result in
// its result dtype (storage type). `operand` gives the expression of each
// tensor or scalar-input operand in that input's own dtype (for a tensor
// produced by another pointwise node fused into the same kernel, that
// node's EmitPointwiseNode, so intermediates round exactly as unfused ones
// would); constants become exact literals. Symbolic constants must be
// provided by `operand` as well. Every input is converted own dtype -> load
// dtype -> compute dtype, the functor applied, and the result converted to
// the result dtype.
std::string EmitPointwiseNode(
    const PointwiseLowering& lowering,
    const std::function<std::string(const PointwiseLowering::Input&)>& operand);

// C++ type of a dtype's storage ("kiln::pw::Half", "float", "int8_t",
// "bool") and of a compute type ("float", "double", "int64_t", "bool").
std::string CppStorageType(DType dtype);
std::string CppComputeType(DType compute);
// `expr` of dtype `from` as dtype `to` (both storage dtypes; identity when
// equal): "kiln::pw::Convert<float>(x)".
std::string EmitConvert(const std::string& expr, DType from, DType to);
// c10's `overflows<To>(value)`: whether Scalar::to<To>() refuses `value`
// (integers out of range, unsigned types accepting [-max, max]; finite
// floats beyond the type's range; NaN or inf into an integer type; never for
// bool). Returns the error message, or "" when the value fits.
std::string ScalarOverflow(const rt::Scalar& value, DType to);

// The dtype of the C++ type a common dtype computes in.
DType ComputeDType(DType common);
// A C++ literal of a constant scalar argument in its own wrapped dtype
// (ScalarArgDType: i64, f64 or b8), exact: "int64_t(3)", "0x1.8p+1",
// "true". Convert it with EmitConvert(lit, own, load) then (load, compute).
// Symbolic ints have no literal: code generators pass them as kernel
// arguments (returns an empty string).
std::string EmitScalarLiteral(const ir::Arg& constant);

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_POINTWISE_H_
