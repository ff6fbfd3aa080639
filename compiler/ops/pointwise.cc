#include "compiler/ops/pointwise.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::ops {
namespace {

using Input = PointwiseLowering::Input;

absl::StatusOr<PointwiseLowering> Lower(const OpDef& op,
                                        const PointwiseSpec& spec,
                                        const InferContext& ctx) {
  auto form_or = spec.form(ctx);
  if (!form_or.ok()) return form_or.status();
  const PointwiseForm& form = *form_or;
  PointwiseLowering low;
  low.fn = form.fn;
  ir::ResultTypeState state;
  std::vector<DType> dtypes;
  std::vector<bool> is_tensor;
  for (const PointwiseInput& pin : form.inputs) {
    Input in;
    in.arg = ctx.index(pin.arg);
    in.role = pin.role;
    in.checked = pin.checked;
    const ir::Arg& a = ctx.arg(in.arg);
    if (a.kind == ir::Arg::Kind::kValue && a.value && a.value->is_tensor()) {
      in.source = Input::Source::kTensor;
      in.value = a.value;
      in.dtype = a.value->type().dtype;
    } else if (auto d = ScalarArgDType(a)) {
      in.dtype = *d;
      if (a.kind == ir::Arg::Kind::kValue) {
        in.source = Input::Source::kScalarValue;
        in.value = a.value;
      } else {
        in.source = Input::Source::kScalarConstant;
        in.constant = a;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("argument '%s' must be a tensor or a number, got %s",
                          pin.arg, ir::ArgKindName(a.kind)));
    }
    if (pin.role == InputRole::kPromoted) {
      ir::PromotionCategory cat = ir::PromotionCategory::kWrappedNumber;
      if (in.source == Input::Source::kTensor) {
        cat = in.value->type().rank() > 0
                  ? ir::PromotionCategory::kDimTensor
                  : ir::PromotionCategory::kZeroDimTensor;
      }
      state.Update(in.dtype, cat);
    }
    if (pin.role == InputRole::kMask && in.source == Input::Source::kTensor &&
        in.dtype != DType::kBool && in.dtype != DType::kUInt8) {
      return absl::InvalidArgumentError(
          absl::StrFormat("argument '%s' must be a bool tensor, got %s",
                          pin.arg, ir::ShortName(in.dtype)));
    }
    dtypes.push_back(in.dtype);
    is_tensor.push_back(in.source == Input::Source::kTensor);
    low.inputs.push_back(std::move(in));
  }
  DType common = state.Result();
  if (form.result == ResultRule::kIntToFloat &&
      ir::IsIntegral(common, /*include_bool=*/true)) {
    common = ir::kDefaultFloat;
  }
  if (!form.allowed.Contains(common)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not supported for %s (supported: %s)", op.schema().name,
        ir::ShortName(common), form.allowed.ToString()));
  }
  if (spec.check) {
    PointwiseCheckInfo info{ctx, form, common, dtypes, is_tensor};
    if (auto st = spec.check(info); !st.ok()) return st;
  }
  low.common = common;
  low.compute = ComputeDType(common);
  low.result = form.result == ResultRule::kBool ? DType::kBool : common;
  for (Input& in : low.inputs) {
    switch (in.role) {
      case InputRole::kPromoted:
      case InputRole::kToCommon:
        in.load_dtype = common;
        break;
      case InputRole::kToCompute:
        in.load_dtype = low.compute;
        break;
      case InputRole::kMask:
        in.load_dtype = DType::kBool;
        break;
    }
  }
  for (const Input& in : low.inputs) {
    if (!in.checked || in.source != Input::Source::kScalarConstant) continue;
    rt::Scalar value;
    if (in.constant.kind == ir::Arg::Kind::kFloat) {
      value = rt::Scalar::Float(in.constant.f);
    } else if (in.constant.kind == ir::Arg::Kind::kBool) {
      value = rt::Scalar::Bool(in.constant.b);
    } else if (auto c = in.constant.AsInt()) {
      value = rt::Scalar::Int(*c);
    } else {
      continue;  // symbolic: checked at run time
    }
    std::string overflow = ScalarOverflow(value, in.load_dtype);
    if (!overflow.empty()) return absl::InvalidArgumentError(overflow);
  }
  std::vector<std::vector<ExprRef>> shapes;
  for (const Input& in : low.inputs) {
    if (in.source == Input::Source::kTensor) {
      shapes.push_back(in.value->type().sizes);
    }
  }
  auto sizes = BroadcastShapes(shapes);
  if (!sizes.ok()) return sizes.status();
  low.sizes = *std::move(sizes);
  if (form.integer_divisor >= 0 && ir::IsIntegral(common, true)) {
    low.integer_divisor = form.integer_divisor;
  }
  return low;
}

absl::StatusOr<std::vector<InferredOutput>> InferPointwise(
    const OpDef& op, const PointwiseSpec& spec, const InferContext& ctx) {
  auto low = Lower(op, spec, ctx);
  if (!low.ok()) return low.status();
  // Device: that of the first tensor with dims (CPU 0-d tensors mix freely
  // with CUDA ones, as in ATen), else of the first tensor.
  std::optional<ir::Device> device;
  std::vector<ir::TensorType> scalar_types;
  scalar_types.reserve(low->inputs.size());
  std::vector<const ir::TensorType*> layout_inputs;
  for (const Input& in : low->inputs) {
    if (in.source != Input::Source::kTensor) {
      if (in.role != InputRole::kToCompute) {
        scalar_types.push_back(ir::TensorType::Contiguous(in.dtype, {}));
        layout_inputs.push_back(&scalar_types.back());
      }
      continue;
    }
    const ir::TensorType& t = in.value->type();
    layout_inputs.push_back(&t);
    if (t.rank() > 0) {
      if (device && *device != t.device) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "expected all tensors on the same device, got %s and %s",
            device->ToString(), t.device.ToString()));
      }
      device = t.device;
    }
  }
  if (!device) {
    for (const Input& in : low->inputs) {
      if (in.source == Input::Source::kTensor) {
        device = in.value->type().device;
        break;
      }
    }
  }
  ir::TensorType out = ir::TensorType::Contiguous(
      low->result, low->sizes, device.value_or(ir::Device()));
  bool exact = true;
  if (!spec.contiguous_output) {
    LayoutResult layout = TensorIteratorLayout(low->sizes, layout_inputs);
    out.strides = std::move(layout.strides);
    exact = layout.exact;
  }
  return std::vector<InferredOutput>{InferredOutput(std::move(out), exact)};
}

// Interpreter: evaluates the scalar function for every output element.
template <class T>
absl::Status RunTyped(KernelContext& kc, const PointwiseLowering& low) {
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  const int ndim = out.rank();
  const size_t n = low.inputs.size();

  struct Operand {
    bool is_tensor = false;
    T constant{};
    rt::Tensor tensor;             // converted to the load dtype
    std::vector<int64_t> strides;  // broadcast over the output's dims
    T (*load)(const uint8_t*) = nullptr;
  };
  std::vector<Operand> ops(n);
  for (size_t k = 0; k < n; ++k) {
    const Input& in = low.inputs[k];
    Operand& op = ops[k];
    op.load = rt::DispatchDType(in.load_dtype, [](auto tag) {
      using S = typename decltype(tag)::type;
      return &rt::LoadElement<T, S>;
    });
    if (in.source == Input::Source::kTensor) {
      const rt::Tensor& t = kc.tensor(in.arg);
      op.is_tensor = true;
      if (in.checked && in.role == InputRole::kToCommon) {
        std::string overflow;
        rt::ForEachIndex(t.sizes(), [&](const int64_t* idx) {
          if (!overflow.empty()) return;
          const uint8_t* p = t.ElementPtr(idx);
          rt::Scalar v =
              ir::IsFloating(t.dtype())
                  ? rt::Scalar::Float(rt::LoadAsDouble(p, t.dtype()))
              : t.dtype() == DType::kBool
                  ? rt::Scalar::Bool(rt::LoadAsInt(p, t.dtype()) != 0)
                  : rt::Scalar::Int(rt::LoadAsInt(p, t.dtype()));
          overflow = ScalarOverflow(v, in.load_dtype);
        });
        if (!overflow.empty()) return absl::InvalidArgumentError(overflow);
      }
      if (t.dtype() == in.load_dtype) {
        op.tensor = t;
      } else {
        op.tensor = rt::Tensor::Empty(in.load_dtype, t.sizes());
        if (auto st = op.tensor.CopyFrom(t); !st.ok()) return st;
      }
      op.strides.assign(ndim, 0);
      int offset = ndim - t.rank();
      for (int d = 0; d < t.rank(); ++d) {
        op.strides[offset + d] = t.sizes()[d] == 1 ? 0 : op.tensor.strides()[d];
      }
    } else {
      auto s = kc.scalar(in.arg);
      if (!s.ok()) return s.status();
      if (in.checked) {
        std::string overflow = ScalarOverflow(*s, in.load_dtype);
        if (!overflow.empty()) return absl::InvalidArgumentError(overflow);
      }
      uint8_t buf[8] = {0};
      rt::StoreScalar(*s, in.load_dtype, buf);
      op.constant = op.load(buf);
    }
  }

  // As ATen, divisors are checked only where a result is computed: an
  // empty result never raises.
  if (low.integer_divisor >= 0 && out.numel() > 0) {
    const Operand& d = ops[low.integer_divisor];
    bool zero = false;
    if (d.is_tensor) {
      rt::ForEachIndex(d.tensor.sizes(), [&](const int64_t* idx) {
        zero = zero || d.load(d.tensor.ElementPtr(idx)) == T(0);
      });
    } else {
      zero = d.constant == T(0);
    }
    if (zero) return absl::InvalidArgumentError("ZeroDivisionError");
  }

  T (*fn)(const T*) = nullptr;
  if constexpr (std::is_same_v<T, float>) fn = low.fn->f32;
  if constexpr (std::is_same_v<T, double>) fn = low.fn->f64;
  if constexpr (std::is_same_v<T, int64_t>) fn = low.fn->i64;
  if constexpr (std::is_same_v<T, bool>) fn = low.fn->b8;
  void (*store)(uint8_t*, T) = rt::DispatchDType(low.result, [](auto tag) {
    using D = typename decltype(tag)::type;
    return &rt::StoreElement<T, D>;
  });

  std::unique_ptr<T[]> args(new T[n > 0 ? n : 1]);
  rt::ForEachIndex(out.sizes(), [&](const int64_t* idx) {
    for (size_t k = 0; k < n; ++k) {
      const Operand& op = ops[k];
      if (!op.is_tensor) {
        args[k] = op.constant;
        continue;
      }
      int64_t off = op.tensor.storage_offset();
      for (int d = 0; d < ndim; ++d) off += idx[d] * op.strides[d];
      args[k] = op.load(op.tensor.ElementPtrAtOffset(off));
    }
    store(out.ElementPtr(idx), fn(args.get()));
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

absl::Status RunPointwise(const OpDef& op, const PointwiseSpec& spec,
                          KernelContext& kc) {
  InferContext ctx(op.schema(), kc.node().args());
  auto low = Lower(op, spec, ctx);
  if (!low.ok()) return low.status();
  return rt::DispatchComputeType(low->compute, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return RunTyped<T>(kc, *low);
  });
}

// Largest finite value of a dtype, as a double.
double MaxOf(DType d) {
  switch (d) {
    case DType::kFloat16:
      return 65504.0;
    case DType::kBFloat16:
      return 3.3895313892515355e38;
    case DType::kFloat32:
      return 3.4028234663852886e38;
    case DType::kFloat64:
      return 1.7976931348623157e308;
    case DType::kInt8:
      return 127;
    case DType::kInt16:
      return 32767;
    case DType::kInt32:
      return 2147483647.0;
    case DType::kInt64:
      return 9223372036854775807.0;
    case DType::kUInt8:
      return 255;
    case DType::kBool:
      return 1;
  }
  return 0;
}

}  // namespace

std::string ScalarOverflow(const rt::Scalar& value, DType to) {
  if (to == DType::kBool || value.kind == rt::Scalar::Kind::kBool) return "";
  bool overflow = false;
  if (value.kind == rt::Scalar::Kind::kInt) {
    int64_t v = value.i;
    if (ir::IsFloating(to)) {
      overflow = std::fabs(static_cast<double>(v)) > MaxOf(to);
    } else if (to == DType::kInt64) {
      overflow = false;
    } else {
      int64_t max = static_cast<int64_t>(MaxOf(to));
      int64_t min = to == DType::kUInt8 ? -max : -max - 1;
      overflow = v > max || v < min;
    }
  } else {
    double f = value.f;
    if (ir::IsFloating(to)) {
      overflow = std::isfinite(f) && std::fabs(f) > MaxOf(to);
    } else {
      double lowest = to == DType::kUInt8 ? 0.0 : -MaxOf(to) - 1;
      overflow = !(f >= lowest && f <= MaxOf(to));
    }
  }
  if (!overflow) return "";
  return absl::StrFormat("value %s cannot be converted to %s without overflow",
                         value.ToString(), ir::ShortName(to));
}

DType ComputeDType(DType common) {
  if (ir::IsFloating(common)) return ir::OpMathType(common);
  if (common == DType::kBool) return DType::kBool;
  return DType::kInt64;
}

absl::StatusOr<PointwiseLowering> LowerPointwise(const OpDef& op,
                                                 const InferContext& ctx) {
  if (op.pointwise() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(op.name(), " is not a pointwise op"));
  }
  return Lower(op, *op.pointwise(), ctx);
}

absl::StatusOr<PointwiseLowering> LowerPointwise(const ir::Node& node) {
  InferContext ctx(node.op().schema(), node.args());
  return LowerPointwise(node.op(), ctx);
}

std::string CppStorageType(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return "kiln::pw::Half";
    case DType::kBFloat16:
      return "kiln::pw::BFloat16";
    case DType::kFloat32:
      return "float";
    case DType::kFloat64:
      return "double";
    case DType::kInt8:
      return "int8_t";
    case DType::kInt16:
      return "int16_t";
    case DType::kInt32:
      return "int32_t";
    case DType::kInt64:
      return "int64_t";
    case DType::kUInt8:
      return "uint8_t";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

std::string CppComputeType(DType compute) {
  return CppStorageType(ComputeDType(compute));
}

std::string EmitConvert(const std::string& expr, DType from, DType to) {
  if (from == to) return expr;
  return absl::StrCat("kiln::pw::Convert<", CppStorageType(to), ">(", expr,
                      ")");
}

std::string EmitScalarLiteral(const ir::Arg& constant) {
  switch (constant.kind) {
    case ir::Arg::Kind::kInt: {
      auto v = constant.i->AsConst();
      if (!v) return "";
      if (*v == std::numeric_limits<int64_t>::min()) {
        return "(-int64_t(9223372036854775807) - 1)";
      }
      return absl::StrCat("int64_t(", *v, ")");
    }
    case ir::Arg::Kind::kFloat: {
      double f = constant.f;
      if (std::isnan(f)) return "std::numeric_limits<double>::quiet_NaN()";
      if (std::isinf(f)) {
        return f > 0 ? "std::numeric_limits<double>::infinity()"
                     : "(-std::numeric_limits<double>::infinity())";
      }
      return absl::StrFormat("double(%a)", f);
    }
    case ir::Arg::Kind::kBool:
      return constant.b ? "true" : "false";
    default:
      return "";
  }
}

std::string EmitPointwiseExpr(const PointwiseLowering& lowering,
                              const std::vector<std::string>& input_exprs) {
  return absl::StrCat(lowering.fn->cpp_name, "{}(",
                      absl::StrJoin(input_exprs, ", "), ")");
}

std::string EmitPointwiseNode(
    const PointwiseLowering& lowering,
    const std::function<std::string(const PointwiseLowering::Input&)>&
        operand) {
  std::vector<std::string> exprs;
  for (const auto& in : lowering.inputs) {
    std::string e;
    if (in.source == PointwiseLowering::Input::Source::kScalarConstant) {
      e = EmitScalarLiteral(in.constant);
    }
    if (e.empty()) e = operand(in);
    e = EmitConvert(e, in.dtype, in.load_dtype);
    exprs.push_back(EmitConvert(e, in.load_dtype, lowering.compute));
  }
  return EmitConvert(EmitPointwiseExpr(lowering, exprs), lowering.compute,
                     lowering.result);
}

PointwiseOp::PointwiseOp(const ScalarFn* fn,
                         std::vector<PointwiseInput> inputs) {
  form_.fn = fn;
  form_.inputs = std::move(inputs);
}

PointwiseOp& PointwiseOp::Result(ResultRule r) {
  form_.result = r;
  return *this;
}

PointwiseOp& PointwiseOp::Allowed(DTypeSet s) {
  form_.allowed = s;
  return *this;
}

PointwiseOp& PointwiseOp::IntegerDivisor(int input) {
  form_.integer_divisor = input;
  return *this;
}

PointwiseOp& PointwiseOp::Check(
    std::function<absl::Status(const PointwiseCheckInfo&)> c) {
  spec_.check = std::move(c);
  return *this;
}

PointwiseOp& PointwiseOp::ContiguousOutput() {
  spec_.contiguous_output = true;
  return *this;
}

PointwiseOp::operator PointwiseSpec() const {
  PointwiseSpec spec = spec_;
  PointwiseForm form = form_;
  spec.form = [form](const InferContext&) -> absl::StatusOr<PointwiseForm> {
    return form;
  };
  return spec;
}

OpDefBuilder& OpDefBuilder::Pointwise(PointwiseSpec spec) {
  auto shared = std::make_shared<const PointwiseSpec>(std::move(spec));
  const OpDef* def = def_.get();
  def_->pointwise_ = shared;
  def_->category_ = OpCategory::kPointwise;
  def_->infer_ = [def, shared](const InferContext& ctx) {
    return InferPointwise(*def, *shared, ctx);
  };
  def_->reference_ = [def, shared](KernelContext& kc) {
    return RunPointwise(*def, *shared, kc);
  };
  return *this;
}

}  // namespace kiln::ops
