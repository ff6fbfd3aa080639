// Softmax and layer norm families, forward and backward. Softmax kernels
// work one row (all elements along `dim`) at a time on RunRows, with
// vectorized row passes (kernel_runtime.h's LoadRowMax, SoftmaxExp,
// LoadRowSum, RowMoments) and a
// contiguous fast path; layer norm works on dense rows of the normalized
// trailing dims (the executor densifies inputs: Step.row_dims), with
// two-pass statistics in the accumulate type (float for f16/bf16/f32,
// double for f64).
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/backends/cpu/codegen_pointwise.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {
namespace {

using ir::DType;

DType AccOf(DType d) { return d == DType::kFloat64 ? d : DType::kFloat32; }

absl::StatusOr<int> StaticDim(const ir::Node& node, int arg, int rank) {
  auto d = node.arg(arg).AsInt();
  if (!d) return absl::UnimplementedError("symbolic dim");
  int64_t w = *d < 0 ? *d + std::max(rank, 1) : *d;
  if (w < 0 || w >= std::max(rank, 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dim ", *d, " out of range"));
  }
  return static_cast<int>(w);
}

std::string Header(const EmitContext& ctx) {
  return absl::StrCat("// ", ctx.node.op().name(), " (", ctx.node.name(),
                      ")\n");
}

// _softmax / _log_softmax(self, dim, half_to_float).
absl::StatusOr<KernelCode> EmitSoftmax(const EmitContext& ctx, bool log) {
  const ir::Node& node = ctx.node;
  const ir::Value* self = node.arg(0).value;
  int rank = self->type().rank();
  auto dim = StaticDim(node, 1, rank);
  if (!dim.ok()) return dim.status();
  KernelBuilder b(ctx, log ? "log_softmax" : "softmax");
  b.AddOutput(node.output(0));
  b.AddInput(self);
  DType in = self->type().dtype;
  DType out = node.output(0)->type().dtype;
  DType acc =
      AccOf(out == DType::kFloat64 || in == DType::kFloat64 ? DType::kFloat64
                                                            : DType::kFloat32);
  std::string acc_t = ops::CppStorageType(acc);
  std::string body = absl::StrCat(
      "      kiln::cpu::SoftmaxRow<", acc_t, ", ", log ? "true" : "false",
      ">(n, [&](int64_t j) { return ", ops::EmitConvert("x1[$j1$]", in, acc),
      "; }, [&](int64_t j, ", acc_t, " v) { ",
      Assign("x0[$j0$]", ops::EmitConvert("v", acc, out), out), " });\n");
  std::string src =
      absl::StrCat(Header(ctx), "KILN_KERNEL int ", ctx.symbol,
                   "(const kiln::cpu::KernelArgs* a) {\n", b.OperandTables(),
                   RowLoop(b, *dim, rank == 0 ? 0 : 1, body), "}\n");
  return b.Finish(std::move(src));
}

absl::StatusOr<KernelCode> EmitSoftmaxFwd(const EmitContext& ctx) {
  return EmitSoftmax(ctx, false);
}
absl::StatusOr<KernelCode> EmitLogSoftmaxFwd(const EmitContext& ctx) {
  return EmitSoftmax(ctx, true);
}

// _softmax_backward_data(grad_output, output, dim, input_dtype):
//   softmax:     grad_input = output * (grad - sum(grad * output))
//   log_softmax: grad_input = grad - exp(output) * sum(grad)
absl::StatusOr<KernelCode> EmitSoftmaxBackward(const EmitContext& ctx,
                                               bool log) {
  const ir::Node& node = ctx.node;
  const ir::Value* grad = node.arg(0).value;
  const ir::Value* output = node.arg(1).value;
  int rank = grad->type().rank();
  auto dim = StaticDim(node, 2, rank);
  if (!dim.ok()) return dim.status();
  KernelBuilder b(ctx, log ? "log_softmax_backward" : "softmax_backward");
  b.AddOutput(node.output(0));
  int kg = b.AddInput(grad);
  int ky = b.AddInput(output);
  DType out = node.output(0)->type().dtype;
  DType acc =
      AccOf(grad->type().dtype == DType::kFloat64 ? DType::kFloat64 : out);
  std::string acc_t = ops::CppStorageType(acc);
  std::string g = ops::EmitConvert(absl::StrCat("x", kg, "[$j", kg, "$]"),
                                   grad->type().dtype, acc);
  std::string y = ops::EmitConvert(absl::StrCat("x", ky, "[$j", ky, "$]"),
                                   output->type().dtype, acc);
  std::string body;
  if (log) {
    body = absl::StrCat(
        "      const ", acc_t, " s = kiln::cpu::LaneSum<", acc_t,
        ">(n, [&](int64_t j) { return ", g, "; });\n",
        "      for (int64_t j = 0; j < n; ++j) ",
        Assign("x0[$j0$]",
               ops::EmitConvert(
                   absl::StrCat("(", g, ") - std::exp(", y, ") * s"), acc, out),
               out),
        "\n");
  } else {
    body = absl::StrCat(
        "      const ", acc_t, " s = kiln::cpu::LaneSum<", acc_t,
        ">(n, [&](int64_t j) { return (", g, ") * (", y, "); });\n",
        "      for (int64_t j = 0; j < n; ++j) ",
        Assign("x0[$j0$]",
               ops::EmitConvert(absl::StrCat("(", y, ") * ((", g, ") - s)"),
                                acc, out),
               out),
        "\n");
  }
  std::string src =
      absl::StrCat(Header(ctx), "KILN_KERNEL int ", ctx.symbol,
                   "(const kiln::cpu::KernelArgs* a) {\n", b.OperandTables(),
                   RowLoop(b, *dim, rank == 0 ? 0 : 1, body), "}\n");
  return b.Finish(std::move(src));
}

absl::StatusOr<KernelCode> EmitSoftmaxBwd(const EmitContext& ctx) {
  return EmitSoftmaxBackward(ctx, false);
}
absl::StatusOr<KernelCode> EmitLogSoftmaxBwd(const EmitContext& ctx) {
  return EmitSoftmaxBackward(ctx, true);
}

// Dense-row prologue shared by the layer norm kernels: D (row length) from
// the trailing `k` dims of tensor `shape_op`, M rows, and a check that
// every output is contiguous.
std::string DenseRows(int shape_op, int k, int num_outputs) {
  std::string s = absl::StrCat(
      "  const kiln::cpu::TensorArg& shape = a->tensors[", shape_op, "];\n",
      "  int64_t D = 1, M = 1;\n",
      "  for (int64_t d = 0; d < shape.rank; ++d) {\n",
      "    if (d >= shape.rank - ", k,
      ") D *= shape.sizes[d]; else M *= shape.sizes[d];\n", "  }\n");
  absl::StrAppend(&s, "  for (int t = 0; t < ", num_outputs,
                  "; ++t) if (!kiln::cpu::IsContiguous(a->tensors[t])) "
                  "return kiln::cpu::kBadLayout;\n");
  return s;
}

// native_layer_norm(input, normalized_shape, weight?, bias?, eps)
//   -> (out, mean, rstd)
absl::StatusOr<KernelCode> EmitLayerNorm(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* input = node.arg(0).value;
  int k = static_cast<int>(node.arg(1).ints.size());
  const ir::Value* weight = node.arg(2).is_none() ? nullptr : node.arg(2).value;
  const ir::Value* bias = node.arg(3).is_none() ? nullptr : node.arg(3).value;
  KernelBuilder b(ctx, "layer_norm");
  for (int i = 0; i < 3; ++i) {
    if (node.output(i) == nullptr) {
      return absl::UnimplementedError("layer norm without all its outputs");
    }
    b.AddOutput(node.output(i));
  }
  int kx = b.AddInput(input);
  int kw = weight ? b.AddInput(weight) : -1;
  int kb = bias ? b.AddInput(bias) : -1;
  DType in = input->type().dtype;
  DType acc = AccOf(in);
  std::string acc_t = ops::CppStorageType(acc);
  std::string eps = ops::EmitScalarLiteral(node.arg(4));
  if (eps.empty()) return absl::UnimplementedError("symbolic eps");
  auto ptr = [&](int t) {
    return absl::StrCat("  ", b.StorageType(t), "* x", t,
                        " = reinterpret_cast<", b.StorageType(t),
                        "*>(a->tensors[", t, "].data);\n");
  };
  std::string src =
      absl::StrCat(Header(ctx), "KILN_KERNEL int ", ctx.symbol,
                   "(const kiln::cpu::KernelArgs* a) {\n", DenseRows(kx, k, 3));
  for (int t = 0; t < b.num_tensors(); ++t) absl::StrAppend(&src, ptr(t));
  std::string load = ops::EmitConvert(absl::StrCat("x", kx, "[j]"), in, acc);
  std::string y = "(xr - mean) * rstd";
  if (kw >= 0) {
    y = absl::StrCat("(", y, ") * ",
                     ops::EmitConvert(absl::StrCat("x", kw, "[j]"),
                                      weight->type().dtype, acc));
  }
  if (kb >= 0) {
    y = absl::StrCat("(", y, ") + ",
                     ops::EmitConvert(absl::StrCat("x", kb, "[j]"),
                                      bias->type().dtype, acc));
  }
  absl::StrAppend(
      &src, "  const ", acc_t, " eps = static_cast<", acc_t, ">(", eps, ");\n",
      "  return kiln::cpu::ParallelFor(M, std::max<int64_t>(1, "
      "kiln::cpu::kGrainSize / std::max<int64_t>(D, 1)), "
      "a->num_threads, [&](int64_t b, int64_t e) {\n",
      "    for (int64_t r = b; r < e; ++r) {\n", "      const ",
      b.StorageType(kx), "* xrow = x", kx, " + r * D;\n", "      ", acc_t,
      "* t = kiln::cpu::Scratch<", acc_t, ">(0, D);\n", "      const ", acc_t,
      " sum = kiln::cpu::LoadRowSum<", acc_t, ">(D, t, [&](int64_t j) { const ",
      b.StorageType(kx), "* x", kx, " = xrow; return ", load, "; });\n",
      "      ", acc_t, " mean, rstd;\n", "      kiln::cpu::RowMoments<", acc_t,
      ">(D, t, sum, eps, &mean, &rstd);\n", "      ", b.StorageType(0),
      "* out = x0 + r * D;\n", "      for (int64_t j = 0; j < D; ++j) {\n",
      "        const ", acc_t, " xr = t[j];\n", "        ",
      Assign("out[j]", ops::EmitConvert(y, acc, node.output(0)->type().dtype),
             node.output(0)->type().dtype),
      "\n", "      }\n", "      ",
      Assign("x1[r]",
             ops::EmitConvert("mean", acc, node.output(1)->type().dtype),
             node.output(1)->type().dtype),
      "\n", "      ",
      Assign("x2[r]",
             ops::EmitConvert("rstd", acc, node.output(2)->type().dtype),
             node.output(2)->type().dtype),
      "\n", "    }\n    return 0;\n  });\n}\n");
  KernelCode code = b.Finish(std::move(src));
  code.row_dims = input->type().rank();
  return code;
}

// native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd,
//   weight?, bias?, output_mask) -> (grad_input?, grad_weight?, grad_bias?)
//   xhat = (x - mean) * rstd, g = grad_out * weight
//   grad_input = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   grad_weight = sum over rows of grad_out * xhat; grad_bias = of grad_out
absl::StatusOr<KernelCode> EmitLayerNormBackward(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* dy = node.arg(0).value;
  const ir::Value* input = node.arg(1).value;
  int k = static_cast<int>(node.arg(2).ints.size());
  const ir::Value* mean = node.arg(3).value;
  const ir::Value* rstd = node.arg(4).value;
  const ir::Value* weight = node.arg(5).is_none() ? nullptr : node.arg(5).value;
  KernelBuilder b(ctx, "layer_norm_backward");
  int kgi = -1, kgw = -1, kgb = -1;
  if (node.output(0)) kgi = b.AddOutput(node.output(0));
  if (node.output(1)) kgw = b.AddOutput(node.output(1));
  if (node.output(2)) kgb = b.AddOutput(node.output(2));
  int nout = b.num_tensors();
  int kdy = b.AddInput(dy);
  int kx = b.AddInput(input);
  int km = b.AddInput(mean);
  int kr = b.AddInput(rstd);
  int kw = weight ? b.AddInput(weight) : -1;
  DType acc = AccOf(input->type().dtype);
  std::string acc_t = ops::CppStorageType(acc);
  auto cv = [&](const std::string& e, const ir::Value* v) {
    return ops::EmitConvert(e, v->type().dtype, acc);
  };
  std::string src = absl::StrCat(Header(ctx), "KILN_KERNEL int ", ctx.symbol,
                                 "(const kiln::cpu::KernelArgs* a) {\n",
                                 DenseRows(kx, k, nout));
  for (int t = 0; t < b.num_tensors(); ++t) {
    absl::StrAppend(&src, "  ", b.StorageType(t), "* x", t,
                    " = reinterpret_cast<", b.StorageType(t), "*>(a->tensors[",
                    t, "].data);\n");
  }
  std::string xhat = absl::StrCat(
      "((", cv(absl::StrCat("x", kx, "[r * D + j]"), input), " - mr) * rr)");
  std::string dyj = cv(absl::StrCat("x", kdy, "[r * D + j]"), dy);
  std::string g = kw >= 0
                      ? absl::StrCat("(", dyj, ") * ",
                                     cv(absl::StrCat("x", kw, "[j]"), weight))
                      : dyj;
  std::string row_stats = absl::StrCat(
      "      const ", acc_t, " mr = ", cv(absl::StrCat("x", km, "[r]"), mean),
      ";\n", "      const ", acc_t,
      " rr = ", cv(absl::StrCat("x", kr, "[r]"), rstd), ";\n");
  absl::StrAppend(&src, "  int err = 0;\n");
  if (kgi >= 0) {
    absl::StrAppend(
        &src,
        "  err = kiln::cpu::ParallelFor(M, std::max<int64_t>(1, "
        "kiln::cpu::kGrainSize / std::max<int64_t>(D, 1)), a->num_threads, "
        "[&](int64_t b, int64_t e) {\n",
        "    for (int64_t r = b; r < e; ++r) {\n", row_stats, "      const ",
        acc_t, " sg = kiln::cpu::LaneSum<", acc_t,
        ">(D, [&](int64_t j) { return ", g, "; }) / ", acc_t, "(D);\n",
        "      const ", acc_t, " sgx = kiln::cpu::LaneSum<", acc_t,
        ">(D, [&](int64_t j) { return (", g, ") * ", xhat, "; }) / ", acc_t,
        "(D);\n", "      for (int64_t j = 0; j < D; ++j) ",
        Assign(absl::StrCat("x", kgi, "[r * D + j]"),
               ops::EmitConvert(
                   absl::StrCat("rr * ((", g, ") - sg - ", xhat, " * sgx)"),
                   acc, node.output(0)->type().dtype),
               node.output(0)->type().dtype),
        "\n    }\n    return 0;\n  });\n");
  }
  if (kgw >= 0 || kgb >= 0) {
    absl::StrAppend(
        &src,
        "  int err2 = kiln::cpu::ParallelFor(D, std::max<int64_t>(1, "
        "kiln::cpu::kGrainSize / std::max<int64_t>(M, 1)), a->num_threads, "
        "[&](int64_t c0, int64_t c1) {\n",
        "    constexpr int64_t kBlock = 256;\n",
        "    for (int64_t cb = c0; cb < c1; cb += kBlock) {\n",
        "      const int64_t ce = std::min(c1, cb + kBlock);\n", "      ",
        acc_t, " aw[kBlock], ab[kBlock];\n",
        "      for (int64_t j = 0; j < kBlock; ++j) { aw[j] = 0; ab[j] = 0; "
        "}\n",
        "      for (int64_t r = 0; r < M; ++r) {\n", row_stats,
        "        for (int64_t j = cb; j < ce; ++j) {\n", "          const ",
        acc_t, " d = ", dyj, ";\n");
    if (kgw >= 0)
      absl::StrAppend(&src, "          aw[j - cb] += d * ", xhat, ";\n");
    if (kgb >= 0) absl::StrAppend(&src, "          ab[j - cb] += d;\n");
    absl::StrAppend(&src, "        }\n      }\n",
                    "      for (int64_t j = cb; j < ce; ++j) {\n");
    if (kgw >= 0) {
      absl::StrAppend(&src, "        ",
                      Assign(absl::StrCat("x", kgw, "[j]"),
                             ops::EmitConvert("aw[j - cb]", acc,
                                              node.output(1)->type().dtype),
                             node.output(1)->type().dtype),
                      "\n");
    }
    if (kgb >= 0) {
      absl::StrAppend(&src, "        ",
                      Assign(absl::StrCat("x", kgb, "[j]"),
                             ops::EmitConvert("ab[j - cb]", acc,
                                              node.output(2)->type().dtype),
                             node.output(2)->type().dtype),
                      "\n");
    }
    absl::StrAppend(&src, "      }\n    }\n    return 0;\n  });\n",
                    "  if (err2 > err) err = err2;\n");
  }
  absl::StrAppend(&src, "  return err;\n}\n");
  KernelCode code = b.Finish(std::move(src));
  code.row_dims = input->type().rank();
  return code;
}

KILN_REGISTER_CPU_KERNEL("aten::_softmax.default", EmitSoftmaxFwd);
KILN_REGISTER_CPU_KERNEL("aten::_log_softmax.default", EmitLogSoftmaxFwd);
KILN_REGISTER_CPU_KERNEL("aten::_softmax_backward_data.default",
                         EmitSoftmaxBwd);
KILN_REGISTER_CPU_KERNEL("aten::_log_softmax_backward_data.default",
                         EmitLogSoftmaxBwd);
KILN_REGISTER_CPU_KERNEL("aten::native_layer_norm.default", EmitLayerNorm);
KILN_REGISTER_CPU_KERNEL("aten::native_layer_norm_backward.default",
                         EmitLayerNormBackward);

}  // namespace
}  // namespace kiln::cpu
