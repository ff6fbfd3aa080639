// Pointwise ops: one declaration per ATen overload. Dtype rules follow ATen
// (which dtypes each op accepts, int->float promotion for transcendental
// functions and true division, bool results for comparisons); float16 and
// bfloat16 are accepted wherever float32 is (ATen implements them on CUDA
// even where its CPU kernels lack them) and compute in float32.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/pointwise.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::Arg;

const DTypeSet kAll = DTypeSet::All();
const DTypeSet kNoBool = DTypeSet::All().Without(DType::kBool);
const DTypeSet kFloating = DTypeSet::Floating();
const DTypeSet kIntegralOrBool = DTypeSet::Integral(/*include_bool=*/true);

PointwiseInput In(std::string name) {
  return {std::move(name), InputRole::kPromoted};
}
// Converted to the compute type, unchecked (an int parameter).
PointwiseInput Param(std::string name) {
  return {std::move(name), InputRole::kToCompute};
}
// A Scalar parameter ATen converts with Scalar::to<scalar_t>() (checked).
PointwiseInput ToCommon(std::string name) {
  return {std::move(name), InputRole::kToCommon, /*checked=*/true};
}
// A promoted operand converted with an overflow check.
PointwiseInput Checked(std::string name) {
  return {std::move(name), InputRole::kPromoted, /*checked=*/true};
}
PointwiseInput Mask(std::string name) {
  return {std::move(name), InputRole::kMask};
}

// Unary: fn(self).
PointwiseOp Unary(const ScalarFn* fn) { return PointwiseOp(fn, {In("self")}); }
// Binary: fn(self, other).
PointwiseOp Binary(const ScalarFn* fn) {
  return PointwiseOp(fn, {In("self"), In("other")});
}

// A constant Scalar argument's kind and value, when known statically.
bool IsFloatScalar(const Arg& a) {
  if (a.kind == Arg::Kind::kFloat) return true;
  return a.kind == Arg::Kind::kValue && a.value &&
         a.value->kind() == ir::Value::Kind::kScalar &&
         a.value->scalar_kind() == ir::ScalarKind::kFloat;
}

// add/sub: "For integral input tensors, argument alpha must not be a
// floating point number."
absl::Status AlphaCheck(const PointwiseCheckInfo& info) {
  const Arg& alpha = info.ctx.arg("alpha");
  bool bool_alpha = alpha.kind == Arg::Kind::kBool ||
                    (alpha.kind == Arg::Kind::kValue && alpha.value &&
                     alpha.value->kind() == ir::Value::Kind::kScalar &&
                     alpha.value->scalar_kind() == ir::ScalarKind::kBool);
  if (bool_alpha && info.common != DType::kBool) {
    return absl::InvalidArgumentError(
        "boolean alpha only supported for boolean results");
  }
  if (ir::IsIntegral(info.common, /*include_bool=*/true) &&
      IsFloatScalar(alpha)) {
    return absl::InvalidArgumentError(
        "for integral input tensors, argument alpha must not be a floating "
        "point number");
  }
  return absl::OkStatus();
}

absl::Status SubCheck(const PointwiseCheckInfo& info) {
  for (size_t i = 0; i < info.form.inputs.size(); ++i) {
    if (info.form.inputs[i].role == InputRole::kPromoted &&
        info.input_dtypes[i] == DType::kBool) {
      return absl::InvalidArgumentError(
          "subtraction, the `-` operator, with a bool tensor is not "
          "supported; use `~` or logical_not() to invert a mask");
    }
  }
  return AlphaCheck(info);
}

// ---------------------------------------------------------------------------
// Unary functions of floating-point values (integers promote to float32).

#define KILN_FLOAT_UNARY(aten, Functor)                     \
  KILN_REGISTER_OP("aten::" aten "(Tensor self) -> Tensor") \
      .Pointwise(                                           \
          Unary(KILN_SCALAR_FN(Functor, 1)).Result(ResultRule::kIntToFloat));

KILN_FLOAT_UNARY("reciprocal", Reciprocal)
KILN_FLOAT_UNARY("exp", Exp)
KILN_FLOAT_UNARY("exp2", Exp2)
KILN_FLOAT_UNARY("expm1", Expm1)
KILN_FLOAT_UNARY("log", Log)
KILN_FLOAT_UNARY("log2", Log2)
KILN_FLOAT_UNARY("log1p", Log1p)
KILN_FLOAT_UNARY("sqrt", Sqrt)
KILN_FLOAT_UNARY("rsqrt", Rsqrt)
KILN_FLOAT_UNARY("sin", Sin)
KILN_FLOAT_UNARY("cos", Cos)
KILN_FLOAT_UNARY("tan", Tan)
KILN_FLOAT_UNARY("asin", Asin)
KILN_FLOAT_UNARY("acos", Acos)
KILN_FLOAT_UNARY("atan", Atan)
KILN_FLOAT_UNARY("sinh", Sinh)
KILN_FLOAT_UNARY("cosh", Cosh)
KILN_FLOAT_UNARY("tanh", Tanh)
KILN_FLOAT_UNARY("sigmoid", Sigmoid)
KILN_FLOAT_UNARY("erf", Erf)
#undef KILN_FLOAT_UNARY

// ---------------------------------------------------------------------------
// Other unary ops.

KILN_REGISTER_OP("aten::abs(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Abs, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::neg(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Neg, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::sign(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Sign, 1)));
KILN_REGISTER_OP("aten::relu(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Relu, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::silu(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Silu, 1)).Allowed(kFloating));
KILN_REGISTER_OP("aten::floor(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Floor, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::ceil(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Ceil, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::round(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Round, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::round.decimals(Tensor self, *, int decimals) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(RoundDecimals, 2),
                           {In("self"), Param("decimals")})
                   .Allowed(kFloating));
KILN_REGISTER_OP("aten::trunc(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(Trunc, 1)).Allowed(kNoBool));
KILN_REGISTER_OP("aten::logical_not(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(LogicalNot, 1)).Result(ResultRule::kBool));
KILN_REGISTER_OP("aten::bitwise_not(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(BitwiseNot, 1)).Allowed(kIntegralOrBool));
KILN_REGISTER_OP("aten::isnan(Tensor self) -> Tensor")
    .Pointwise(Unary(KILN_SCALAR_FN(IsNan, 1)).Result(ResultRule::kBool));

KILN_REGISTER_OP(
    "aten::gelu(Tensor self, *, str approximate=\"none\") -> Tensor")
    .Pointwise(PointwiseSpec{
        [](const InferContext& ctx) -> absl::StatusOr<PointwiseForm> {
          const std::string& mode = ctx.arg("approximate").s;
          PointwiseForm form;
          form.inputs = {In("self")};
          form.allowed = kFloating;
          if (mode == "none") {
            form.fn = KILN_SCALAR_FN(Gelu, 1);
          } else if (mode == "tanh") {
            form.fn = KILN_SCALAR_FN(GeluTanh, 1);
          } else {
            return absl::InvalidArgumentError(absl::StrFormat(
                "approximate argument must be either none or tanh, got '%s'",
                mode));
          }
          return form;
        }});

KILN_REGISTER_OP(
    "aten::leaky_relu(Tensor self, Scalar negative_slope=0.01) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(LeakyRelu, 2),
                           {In("self"), ToCommon("negative_slope")})
                   .Allowed(kFloating));

KILN_REGISTER_OP(
    "aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> "
    "Tensor")
    .Pointwise(
        PointwiseOp(KILN_SCALAR_FN(Clamp, 3),
                    {In("self"), ToCommon("min_val"), ToCommon("max_val")})
            .Allowed(kNoBool)
            .Check([](const PointwiseCheckInfo& info) -> absl::Status {
              if (info.common != DType::kUInt8) return absl::OkStatus();
              for (const char* name : {"min_val", "max_val"}) {
                const Arg& a = info.ctx.arg(name);
                bool negative = (a.kind == Arg::Kind::kFloat && a.f < 0) ||
                                (a.AsInt() && *a.AsInt() < 0);
                if (negative) {
                  return absl::InvalidArgumentError(
                      "cannot do hardtanh on an unsigned type with negative "
                      "limits");
                }
              }
              return absl::OkStatus();
            }));

// clamp(self, min=None, max=None): the bounds promote with self. Scalar
// bounds are converted with an overflow check. Bool is refused, except by
// the Tensor overload with a single bound (ATen runs clamp_min/clamp_max,
// which accept bool).
absl::StatusOr<PointwiseForm> ClampForm(const InferContext& ctx,
                                        bool tensor_bounds) {
  bool has_min = !ctx.arg("min").is_none();
  bool has_max = !ctx.arg("max").is_none();
  auto bound = [&](const char* name) {
    return tensor_bounds ? In(name) : Checked(name);
  };
  PointwiseForm form;
  form.allowed = kNoBool;
  if (has_min && has_max) {
    form.fn = KILN_SCALAR_FN(Clamp, 3);
    form.inputs = {In("self"), bound("min"), bound("max")};
  } else if (has_min) {
    form.fn = KILN_SCALAR_FN(ClampMin, 2);
    form.inputs = {In("self"), bound("min")};
    if (tensor_bounds) form.allowed = kAll;
  } else if (has_max) {
    form.fn = KILN_SCALAR_FN(ClampMax, 2);
    form.inputs = {In("self"), bound("max")};
    if (tensor_bounds) form.allowed = kAll;
  } else {
    return absl::InvalidArgumentError(
        "clamp: at least one of 'min' or 'max' must not be None");
  }
  return form;
}

KILN_REGISTER_OP(
    "aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor")
    .Pointwise(PointwiseSpec{[](const InferContext& ctx) {
      return ClampForm(ctx, /*tensor_bounds=*/false);
    }});
KILN_REGISTER_OP(
    "aten::clamp.Tensor(Tensor self, Tensor? min=None, Tensor? max=None) -> "
    "Tensor")
    .Pointwise(PointwiseSpec{[](const InferContext& ctx) {
      return ClampForm(ctx, /*tensor_bounds=*/true);
    }});
KILN_REGISTER_OP("aten::clamp_min(Tensor self, Scalar min) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(ClampMin, 2),
                           {In("self"), Checked("min")})
                   .Allowed(kNoBool));
KILN_REGISTER_OP("aten::clamp_min.Tensor(Tensor self, Tensor min) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(ClampMin, 2),
                           {In("self"), In("min")}));
KILN_REGISTER_OP("aten::clamp_max(Tensor self, Scalar max) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(ClampMax, 2),
                           {In("self"), Checked("max")})
                   .Allowed(kNoBool));
KILN_REGISTER_OP("aten::clamp_max.Tensor(Tensor self, Tensor max) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(ClampMax, 2),
                           {In("self"), In("max")}));

// ---------------------------------------------------------------------------
// Arithmetic.

KILN_REGISTER_OP(
    "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Add, 3),
                           {In("self"), In("other"), ToCommon("alpha")})
                   .Check(AlphaCheck));
KILN_REGISTER_OP(
    "aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Add, 3),
                           {In("self"), In("other"), ToCommon("alpha")})
                   .Check(AlphaCheck));
KILN_REGISTER_OP(
    "aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Sub, 3),
                           {In("self"), In("other"), ToCommon("alpha")})
                   .Check(SubCheck));
KILN_REGISTER_OP(
    "aten::sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Sub, 3),
                           {In("self"), In("other"), ToCommon("alpha")})
                   .Check(SubCheck));
// rsub(self, other, alpha) = other - alpha * self.
KILN_REGISTER_OP(
    "aten::rsub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Sub, 3),
                           {In("other"), In("self"), ToCommon("alpha")})
                   .Check(SubCheck));
KILN_REGISTER_OP(
    "aten::rsub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Sub, 3),
                           {In("other"), In("self"), ToCommon("alpha")})
                   .Check(SubCheck));
KILN_REGISTER_OP("aten::mul.Tensor(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Mul, 2)));
KILN_REGISTER_OP("aten::mul.Scalar(Tensor self, Scalar other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Mul, 2)));

// div(self, other, rounding_mode): None is true division (int -> float);
// "trunc" and "floor" keep integer dtypes.
absl::StatusOr<PointwiseForm> DivModeForm(const InferContext& ctx) {
  const Arg& mode = ctx.arg("rounding_mode");
  PointwiseForm form;
  form.inputs = {In("self"), In("other")};
  if (mode.is_none()) {
    form.fn = KILN_SCALAR_FN(Div, 2);
    form.result = ResultRule::kIntToFloat;
    return form;
  }
  form.allowed = kNoBool;
  form.integer_divisor = 1;
  if (mode.s == "trunc") {
    form.fn = KILN_SCALAR_FN(DivTrunc, 2);
  } else if (mode.s == "floor") {
    form.fn = KILN_SCALAR_FN(DivFloor, 2);
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "div expected rounding_mode to be one of None, 'trunc', or 'floor' "
        "but found '%s'",
        mode.s));
  }
  return form;
}

KILN_REGISTER_OP("aten::div.Tensor(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Div, 2)).Result(ResultRule::kIntToFloat));
KILN_REGISTER_OP("aten::div.Scalar(Tensor self, Scalar other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Div, 2)).Result(ResultRule::kIntToFloat));
KILN_REGISTER_OP(
    "aten::div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) "
    "-> Tensor")
    .Pointwise(PointwiseSpec{DivModeForm});
KILN_REGISTER_OP(
    "aten::div.Scalar_mode(Tensor self, Scalar other, *, str? rounding_mode) "
    "-> Tensor")
    .Pointwise(PointwiseSpec{DivModeForm});
KILN_REGISTER_OP("aten::floor_divide(Tensor self, Tensor other) -> Tensor")
    .Pointwise(
        Binary(KILN_SCALAR_FN(DivFloor, 2)).Allowed(kNoBool).IntegerDivisor(1));
KILN_REGISTER_OP(
    "aten::floor_divide.Scalar(Tensor self, Scalar other) -> Tensor")
    .Pointwise(
        Binary(KILN_SCALAR_FN(DivFloor, 2)).Allowed(kNoBool).IntegerDivisor(1));

KILN_REGISTER_OP("aten::fmod.Tensor(Tensor self, Tensor other) -> Tensor")
    .Pointwise(
        Binary(KILN_SCALAR_FN(Fmod, 2)).Allowed(kNoBool).IntegerDivisor(1));
KILN_REGISTER_OP("aten::fmod.Scalar(Tensor self, Scalar other) -> Tensor")
    .Pointwise(
        Binary(KILN_SCALAR_FN(Fmod, 2)).Allowed(kNoBool).IntegerDivisor(1));
KILN_REGISTER_OP("aten::remainder.Tensor(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Remainder, 2))
                   .Allowed(kNoBool)
                   .IntegerDivisor(1));
KILN_REGISTER_OP("aten::remainder.Scalar(Tensor self, Scalar other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Remainder, 2))
                   .Allowed(kNoBool)
                   .IntegerDivisor(1));
KILN_REGISTER_OP(
    "aten::remainder.Scalar_Tensor(Scalar self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Remainder, 2))
                   .Allowed(kNoBool)
                   .IntegerDivisor(1));

// pow: integer tensors to negative integer scalar powers are refused, as
// in ATen; with a tensor exponent they give ATen's powi results.
KILN_REGISTER_OP(
    "aten::pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Pow, 2), {In("self"), In("exponent")})
                   .Allowed(kNoBool));
KILN_REGISTER_OP(
    "aten::pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor")
    .Pointwise(
        PointwiseOp(KILN_SCALAR_FN(PowScalar, 2),
                    {In("self"), Checked("exponent")})
            .Allowed(kNoBool)
            .Check([](const PointwiseCheckInfo& info) -> absl::Status {
              const Arg& e = info.ctx.arg("exponent");
              bool int_base = ir::IsIntegral(info.input_dtypes[0], true);
              if (int_base && e.AsInt() && *e.AsInt() < 0) {
                return absl::InvalidArgumentError(
                    "integers to negative integer powers are not allowed");
              }
              return absl::OkStatus();
            }));
// pow.Scalar's meta function sets a contiguous output whatever the
// exponent's layout (it redispatches to Tensor_Tensor with a wrapped base).
KILN_REGISTER_OP("aten::pow.Scalar(Scalar self, Tensor exponent) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Pow, 2), {In("self"), In("exponent")})
                   .Allowed(kNoBool)
                   .ContiguousOutput());

KILN_REGISTER_OP("aten::maximum(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Maximum, 2)));
KILN_REGISTER_OP("aten::minimum(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(Minimum, 2)));
KILN_REGISTER_OP("aten::atan2(Tensor self, Tensor other) -> Tensor")
    .Pointwise(
        Binary(KILN_SCALAR_FN(Atan2, 2)).Result(ResultRule::kIntToFloat));

// ---------------------------------------------------------------------------
// Comparisons and logic.

#define KILN_COMPARISON(aten, Functor)                                   \
  KILN_REGISTER_OP("aten::" aten                                         \
                   ".Tensor(Tensor self, Tensor other) -> "              \
                   "Tensor")                                             \
      .Pointwise(                                                        \
          Binary(KILN_SCALAR_FN(Functor, 2)).Result(ResultRule::kBool)); \
  KILN_REGISTER_OP("aten::" aten                                         \
                   ".Scalar(Tensor self, Scalar other) -> "              \
                   "Tensor")                                             \
      .Pointwise(                                                        \
          Binary(KILN_SCALAR_FN(Functor, 2)).Result(ResultRule::kBool));

KILN_COMPARISON("eq", Eq)
KILN_COMPARISON("ne", Ne)
KILN_COMPARISON("lt", Lt)
KILN_COMPARISON("le", Le)
KILN_COMPARISON("gt", Gt)
KILN_COMPARISON("ge", Ge)
#undef KILN_COMPARISON

KILN_REGISTER_OP("aten::logical_and(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(LogicalAnd, 2)).Result(ResultRule::kBool));
KILN_REGISTER_OP("aten::logical_or(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(LogicalOr, 2)).Result(ResultRule::kBool));
KILN_REGISTER_OP("aten::logical_xor(Tensor self, Tensor other) -> Tensor")
    .Pointwise(Binary(KILN_SCALAR_FN(LogicalXor, 2)).Result(ResultRule::kBool));

#define KILN_BITWISE(aten, Functor)                                            \
  KILN_REGISTER_OP("aten::" aten                                               \
                   ".Tensor(Tensor self, Tensor other) -> "                    \
                   "Tensor")                                                   \
      .Pointwise(Binary(KILN_SCALAR_FN(Functor, 2)).Allowed(kIntegralOrBool)); \
  KILN_REGISTER_OP("aten::" aten                                               \
                   ".Scalar(Tensor self, Scalar other) -> "                    \
                   "Tensor")                                                   \
      .Pointwise(Binary(KILN_SCALAR_FN(Functor, 2)).Allowed(kIntegralOrBool)); \
  KILN_REGISTER_OP("aten::" aten                                               \
                   ".Scalar_Tensor(Scalar self, Tensor other) -> Tensor")      \
      .Pointwise(Binary(KILN_SCALAR_FN(Functor, 2)).Allowed(kIntegralOrBool));

KILN_BITWISE("bitwise_and", BitwiseAnd)
KILN_BITWISE("bitwise_or", BitwiseOr)
KILN_BITWISE("bitwise_xor", BitwiseXor)
#undef KILN_BITWISE

// ---------------------------------------------------------------------------
// Selection.

// Scalar branches are converted with an overflow check.
PointwiseOp WhereOp() {
  return PointwiseOp(KILN_SCALAR_FN(Where, 3),
                     {Mask("condition"), Checked("self"), Checked("other")});
}
KILN_REGISTER_OP(
    "aten::where.self(Tensor condition, Tensor self, Tensor other) -> Tensor")
    .Pointwise(WhereOp());
KILN_REGISTER_OP(
    "aten::where.ScalarSelf(Tensor condition, Scalar self, Tensor other) -> "
    "Tensor")
    .Pointwise(WhereOp());
KILN_REGISTER_OP(
    "aten::where.ScalarOther(Tensor condition, Tensor self, Scalar other) -> "
    "Tensor")
    .Pointwise(WhereOp());
KILN_REGISTER_OP(
    "aten::where.Scalar(Tensor condition, Scalar self, Scalar other) -> "
    "Tensor")
    .Pointwise(WhereOp());

// masked_fill(self, mask, value) = where(mask, value, self) in self's dtype,
// broadcast with the mask, always contiguous (ATen clones the expanded
// self).
KILN_REGISTER_OP(
    "aten::masked_fill.Scalar(Tensor self, Tensor mask, Scalar value) -> "
    "Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Where, 3),
                           {Mask("mask"), ToCommon("value"), In("self")})
                   .ContiguousOutput());
KILN_REGISTER_OP(
    "aten::masked_fill.Tensor(Tensor self, Tensor mask, Tensor value) -> "
    "Tensor")
    .Pointwise(
        PointwiseOp(KILN_SCALAR_FN(Where, 3),
                    {Mask("mask"), ToCommon("value"), In("self")})
            .ContiguousOutput()
            .Check([](const PointwiseCheckInfo& info) -> absl::Status {
              int value = info.ctx.index("value");
              if (!info.ctx.is_tensor(value)) return absl::OkStatus();
              const ir::TensorType& v = info.ctx.tensor(value);
              if (v.rank() != 0) {
                return absl::InvalidArgumentError(absl::StrFormat(
                    "masked_fill only supports a 0-dimensional value tensor, "
                    "but got tensor with %d dimension(s)",
                    v.rank()));
              }
              return absl::OkStatus();
            }));

}  // namespace
}  // namespace kiln::ops
