// Pointwise backward ops of training graphs. They are ordinary members of the
// pointwise family (pointwise.h): inference, the reference implementation and
// the codegen rule all derive from the declaration, so they fuse with the
// pointwise ops around them. Operand order follows ATen's TensorIterator
// (which decides the output layout); the functors live in
// runtime/scalar_math.h.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/pointwise.h"

namespace kiln::ops {
namespace {

const DTypeSet kFloating = DTypeSet::Floating();

PointwiseInput In(std::string name) {
  return {std::move(name), InputRole::kPromoted};
}

// threshold_backward(grad_output, self, threshold): ATen builds the iterator
// as (self, grad_output) and converts the threshold to the common dtype with
// Scalar::to<scalar_t>() (an integer graph compares against a truncated
// float threshold; 300 for uint8 is an error).
KILN_REGISTER_OP(
    "aten::threshold_backward(Tensor grad_output, Tensor self, Scalar "
    "threshold) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(ThresholdBackward, 3),
                           {In("self"),
                            {"threshold", InputRole::kToCommon,
                             /*checked=*/true},
                            In("grad_output")})
                   .Allowed(DTypeSet::All().Without(DType::kBool)));

KILN_REGISTER_OP(
    "aten::sigmoid_backward(Tensor grad_output, Tensor output) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(SigmoidBackward, 2),
                           {In("grad_output"), In("output")})
                   .Allowed(kFloating));

KILN_REGISTER_OP(
    "aten::tanh_backward(Tensor grad_output, Tensor output) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(TanhBackward, 2),
                           {In("grad_output"), In("output")})
                   .Allowed(kFloating));

KILN_REGISTER_OP(
    "aten::gelu_backward(Tensor grad_output, Tensor self, *, str "
    "approximate=\"none\") -> Tensor")
    .Pointwise(PointwiseSpec{
        [](const InferContext& ctx) -> absl::StatusOr<PointwiseForm> {
          const std::string& mode = ctx.arg("approximate").s;
          PointwiseForm form;
          form.inputs = {In("grad_output"), In("self")};
          form.allowed = kFloating;
          if (mode == "none") {
            form.fn = KILN_SCALAR_FN(GeluBackward, 2);
          } else if (mode == "tanh") {
            form.fn = KILN_SCALAR_FN(GeluTanhBackward, 2);
          } else {
            return absl::InvalidArgumentError(absl::StrFormat(
                "approximate argument must be either none or tanh, got '%s'",
                mode));
          }
          return form;
        }});

}  // namespace
}  // namespace kiln::ops
