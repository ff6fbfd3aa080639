// Copies and fills: layout copies (clone, _to_copy), copy_ into an existing
// tensor (a graph input after functionalization), creation ops (full,
// zeros, ones, empty*, *_like, scalar_tensor) and arange. All run on
// RunPointwise: conversions follow ATen's static_cast semantics
// (kiln::pw::Convert).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/backends/cpu/codegen_pointwise.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {
namespace {

using ir::DType;

std::string Kernel(const EmitContext& ctx, const KernelBuilder& b,
                   const std::string& prologue, const std::string& body) {
  return absl::StrCat("// ", ctx.node.op().name(), " (", ctx.node.name(), ")\n",
                      "KILN_KERNEL int ", ctx.symbol,
                      "(const kiln::cpu::KernelArgs* a) {\n", b.ScalarDecls(),
                      b.OperandTables(), prologue,
                      PointwiseLoop(b, b.num_tensors(), body, false), "}\n");
}

// clone, _to_copy, lift_fresh_copy: the input converted to the output's dtype
// and layout.
absl::StatusOr<KernelCode> EmitCopy(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  KernelBuilder b(ctx, "copy");
  b.AddOutput(node.output(0));
  const ir::Value* self = node.arg(0).value;
  b.AddInput(self);
  std::string body =
      absl::StrCat("        ",
                   Assign("x0[$i0$]",
                          ops::EmitConvert("x1[$i1$]", self->type().dtype,
                                           node.output(0)->type().dtype),
                          node.output(0)->type().dtype),
                   "\n");
  return b.Finish(Kernel(ctx, b, "", body));
}

// copy_(self, src): src (broadcast, converted) written into self.
absl::StatusOr<KernelCode> EmitCopyInto(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  KernelBuilder b(ctx, "copy");
  const ir::Value* self = node.arg(0).value;
  const ir::Value* src = node.arg(1).value;
  b.AddInPlaceOutput(self);
  b.AddInput(src);
  std::string body = absl::StrCat(
      "        ",
      Assign(
          "x0[$i0$]",
          ops::EmitConvert("x1[$i1$]", src->type().dtype, self->type().dtype),
          self->type().dtype),
      "\n");
  return b.Finish(Kernel(ctx, b, "", body));
}

// Fills the output with `value` (an expression of dtype `own`).
absl::StatusOr<KernelCode> Fill(const EmitContext& ctx, KernelBuilder& b,
                                const std::string& value, DType own) {
  DType out = ctx.node.output(0)->type().dtype;
  std::string prologue =
      absl::StrCat("  const ", ops::CppStorageType(out),
                   " v = ", ops::EmitConvert(value, own, out), ";\n");
  return b.Finish(
      Kernel(ctx, b, prologue,
             absl::StrCat("        ", Assign("x0[$i0$]", "v", out), "\n")));
}

absl::StatusOr<KernelCode> EmitConstantFill(const EmitContext& ctx,
                                            int64_t value) {
  KernelBuilder b(ctx, "fill");
  b.AddOutput(ctx.node.output(0));
  return Fill(ctx, b, absl::StrCat("int64_t(", value, ")"), DType::kInt64);
}

absl::StatusOr<KernelCode> EmitZeros(const EmitContext& ctx) {
  return EmitConstantFill(ctx, 0);
}
absl::StatusOr<KernelCode> EmitOnes(const EmitContext& ctx) {
  return EmitConstantFill(ctx, 1);
}

// full, full_like, scalar_tensor: the Scalar argument.
absl::StatusOr<KernelCode> EmitFull(const EmitContext& ctx) {
  const ops::Schema& s = ctx.node.op().schema();
  int arg = s.ArgumentIndex("fill_value");
  if (arg < 0) arg = s.ArgumentIndex("s");
  if (arg < 0) return absl::UnimplementedError("no fill value");
  KernelBuilder b(ctx, "fill");
  b.AddOutput(ctx.node.output(0));
  auto v = b.ScalarArg(arg);
  if (!v.ok()) return v.status();
  return Fill(ctx, b, v->first, v->second);
}

// arange: start + step * i computed in ATen's accumulate type (double for
// float/double, float for f16/bf16, int64 for integers).
absl::StatusOr<KernelCode> EmitArange(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ops::Schema& s = node.op().schema();
  KernelBuilder b(ctx, "arange");
  b.AddOutput(node.output(0));
  DType out = node.output(0)->type().dtype;
  DType acc = ir::IsFloating(out) ? (ir::IsReducedFloat(out) ? DType::kFloat32
                                                             : DType::kFloat64)
                                  : DType::kInt64;
  std::string acc_t = ops::CppStorageType(acc);
  auto scalar = [&](const char* name,
                    const std::string& dflt) -> absl::StatusOr<std::string> {
    int i = s.ArgumentIndex(name);
    if (i < 0) return dflt;
    auto v = b.ScalarArg(i);
    if (!v.ok()) return v.status();
    return ops::EmitConvert(v->first, v->second, acc);
  };
  auto start = scalar("start", absl::StrCat(acc_t, "(0)"));
  auto step = scalar("step", absl::StrCat(acc_t, "(1)"));
  if (!start.ok()) return start.status();
  if (!step.ok()) return step.status();
  std::string prologue = absl::StrCat(
      "  const ", acc_t, " start = ", *start, ";\n", "  const ", acc_t,
      " step = ", *step, ";\n",
      "  const kiln::cpu::TensorArg& t0 = a->tensors[0];\n"
      "  if (t0.rank == 1 && t0.sizes[0] > 1 && t0.strides[0] != 1) "
      "return kiln::cpu::kBadLayout;\n",
      "  const ", b.StorageType(0), "* base0 = reinterpret_cast<const ",
      b.StorageType(0), "*>(t0.data);\n");
  std::string body = absl::StrCat(
      "        ",
      Assign("x0[$i0$]",
             ops::EmitConvert(absl::StrCat("start + step * ", acc_t,
                                           "((x0 - base0) + $i0$)"),
                              acc, out),
             out),
      "\n");
  return b.Finish(Kernel(ctx, b, prologue, body));
}

KILN_REGISTER_CPU_KERNEL("aten::clone.default", EmitCopy);
KILN_REGISTER_CPU_KERNEL("aten::_to_copy.default", EmitCopy);
KILN_REGISTER_CPU_KERNEL("aten::lift_fresh_copy.default", EmitCopy);
KILN_REGISTER_CPU_KERNEL("aten::copy_.default", EmitCopyInto);
KILN_REGISTER_CPU_KERNEL("aten::zeros.default", EmitZeros);
KILN_REGISTER_CPU_KERNEL("aten::zeros_like.default", EmitZeros);
KILN_REGISTER_CPU_KERNEL("aten::empty.memory_format", EmitZeros);
KILN_REGISTER_CPU_KERNEL("aten::empty_like.default", EmitZeros);
KILN_REGISTER_CPU_KERNEL("aten::empty_strided.default", EmitZeros);
KILN_REGISTER_CPU_KERNEL("aten::ones.default", EmitOnes);
KILN_REGISTER_CPU_KERNEL("aten::ones_like.default", EmitOnes);
KILN_REGISTER_CPU_KERNEL("aten::full.default", EmitFull);
KILN_REGISTER_CPU_KERNEL("aten::full_like.default", EmitFull);
KILN_REGISTER_CPU_KERNEL("aten::scalar_tensor.default", EmitFull);
KILN_REGISTER_CPU_KERNEL("aten::arange.default", EmitArange);
KILN_REGISTER_CPU_KERNEL("aten::arange.start", EmitArange);
KILN_REGISTER_CPU_KERNEL("aten::arange.start_step", EmitArange);

}  // namespace
}  // namespace kiln::cpu
