// Data movement: cat, index_select, embedding, gather,
// embedding_dense_backward, constant_pad_nd. Built on kernel_runtime.h's
// CopyTensor / FillTensor over narrowed and selected views, so each copy
// gets the pointwise driver's layout handling, vectorization and threads.
// Indices out of range fail with kIndexOutOfRange.
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {
namespace {

using ir::DType;

std::string Header(const EmitContext& ctx) {
  return absl::StrCat("// ", ctx.node.op().name(), " (", ctx.node.name(),
                      ")\nKILN_KERNEL int ", ctx.symbol,
                      "(const kiln::cpu::KernelArgs* a) {\n");
}

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

std::string T(DType d) { return ops::CppStorageType(d); }
std::string Elem(DType d) { return absl::StrCat(ir::ElementSize(d)); }

// cat(tensors, dim): each input copied into its slice of the output
// (1-d empty inputs are skipped, as ATen's legacy rule says).
absl::StatusOr<KernelCode> EmitCat(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* out = node.output(0);
  int rank = out->type().rank();
  auto dim = StaticDim(node, 1, rank);
  // Only legacy empty inputs (all [0]): ATen ignores the dim, the result is
  // [0] and the kernel below skips every input.
  bool all_legacy_empty = rank == 1;
  for (const ir::Value* v : node.arg(0).values) {
    if (v != nullptr && v->type().rank() != 1) all_legacy_empty = false;
  }
  if (!dim.ok() && all_legacy_empty) dim = 0;
  if (!dim.ok()) return dim.status();
  KernelBuilder b(ctx, "cat");
  b.AddOutput(out);
  DType od = out->type().dtype;
  std::string src = Header(ctx);
  absl::StrAppend(&src, "  const kiln::cpu::TensorArg& out = a->tensors[0];\n",
                  "  int64_t offset = 0;\n  int err = 0;\n",
                  "  kiln::cpu::LocalTensor slice;\n");
  for (const ir::Value* v : node.arg(0).values) {
    if (v == nullptr) continue;
    // Each list element is its own operand (a repeated tensor is copied
    // twice).
    int k = b.AddInput(v, /*dedupe=*/false);
    DType id = v->type().dtype;
    absl::StrAppend(
        &src, "  {\n    const kiln::cpu::TensorArg& in = a->tensors[", k,
        "];\n", "    if (!(in.rank == 1 && in.sizes[0] == 0)) {\n",
        "      int e = kiln::cpu::Narrow(out, ", *dim, ", offset, in.sizes[",
        *dim, "], ", Elem(od), ", &slice);\n",
        "      if (e == 0) e = kiln::cpu::CopyTensor<", T(od), ", ", T(id),
        ">(slice.arg, in, a->num_threads);\n", "      if (e > err) err = e;\n",
        "      offset += in.sizes[", *dim, "];\n    }\n  }\n");
  }
  absl::StrAppend(&src, "  return err;\n}\n");
  return b.Finish(std::move(src));
}

// index_select(self, dim, index): out.select(dim, i) = self.select(dim,
// index[i]).
absl::StatusOr<KernelCode> EmitIndexSelect(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* self = node.arg(0).value;
  const ir::Value* index = node.arg(2).value;
  int rank = self->type().rank();
  auto dim = StaticDim(node, 1, rank);
  if (!dim.ok()) return dim.status();
  KernelBuilder b(ctx, "index_select");
  b.AddOutput(node.output(0));
  b.AddInput(self);
  b.AddInput(index);
  DType d = self->type().dtype;
  std::string src = Header(ctx);
  if (rank == 0) {
    absl::StrAppend(
        &src,
        "  const int64_t i = static_cast<int64_t>(*reinterpret_cast<const ",
        T(index->type().dtype), "*>(a->tensors[2].data));\n",
        "  if (i != 0) return kiln::cpu::kIndexOutOfRange;\n",
        "  return kiln::cpu::CopyTensor<", T(d), ", ", T(d),
        ">(a->tensors[0], a->tensors[1], 1);\n}\n");
    return b.Finish(std::move(src));
  }
  absl::StrAppend(
      &src, "  const kiln::cpu::TensorArg& out = a->tensors[0];\n",
      "  const kiln::cpu::TensorArg& self = a->tensors[1];\n",
      "  const kiln::cpu::TensorArg& index = a->tensors[2];\n",
      "  const int64_t n = index.rank == 0 ? 1 : index.sizes[0];\n",
      "  const int64_t istride = index.rank == 0 ? 0 : index.strides[0];\n",
      "  const ", T(index->type().dtype), "* ix = reinterpret_cast<const ",
      T(index->type().dtype), "*>(index.data);\n", "  int64_t slice = 1;\n",
      "  for (int64_t d = 0; d < self.rank; ++d) if (d != ", *dim,
      ") slice *= self.sizes[d];\n",
      "  return kiln::cpu::ParallelFor(n, std::max<int64_t>(1, "
      "kiln::cpu::kGrainSize / std::max<int64_t>(slice, 1)), "
      "a->num_threads, [&](int64_t b, int64_t e) -> int {\n",
      "    kiln::cpu::LocalTensor so, si;\n",
      "    for (int64_t i = b; i < e; ++i) {\n",
      "      const int64_t v = static_cast<int64_t>(ix[i * istride]);\n",
      "      if (v < 0 || v >= self.sizes[", *dim,
      "]) return kiln::cpu::kIndexOutOfRange;\n",
      "      int err = kiln::cpu::Select(out, ", *dim, ", i, ", Elem(d),
      ", &so);\n", "      if (err == 0) err = kiln::cpu::Select(self, ", *dim,
      ", v, ", Elem(d), ", &si);\n",
      "      if (err == 0) err = kiln::cpu::CopyTensor<", T(d), ", ", T(d),
      ">(so.arg, si.arg, 1);\n", "      if (err) return err;\n", "    }\n",
      "    return 0;\n  });\n}\n");
  return b.Finish(std::move(src));
}

// embedding(weight, indices, ...): out[pos, :] = weight[indices[pos], :]
// (out is contiguous, indices.shape + [D]).
absl::StatusOr<KernelCode> EmitEmbedding(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* weight = node.arg(0).value;
  const ir::Value* indices = node.arg(1).value;
  if (weight->type().rank() != 2) {
    return absl::UnimplementedError("embedding weight must be 2-d");
  }
  KernelBuilder b(ctx, "embedding");
  b.AddOutput(node.output(0));
  b.AddInput(weight);
  b.AddInput(indices);
  DType d = weight->type().dtype;
  DType it = indices->type().dtype;
  std::string src = Header(ctx);
  absl::StrAppend(
      &src, "  const kiln::cpu::TensorArg& out = a->tensors[0];\n",
      "  const kiln::cpu::TensorArg& w = a->tensors[1];\n",
      "  if (!kiln::cpu::IsContiguous(out)) return kiln::cpu::kBadLayout;\n",
      "  const int64_t D = w.sizes[1];\n", "  std::vector<int64_t> rows;\n",
      "  int err = kiln::cpu::ForEachIndexValue<", T(it),
      ">(a->tensors[2], [&](int64_t, int64_t v) {\n",
      "    if (v < 0 || v >= w.sizes[0]) return "
      "int(kiln::cpu::kIndexOutOfRange);\n",
      "    rows.push_back(v);\n    return 0;\n  });\n",
      "  if (err) return err;\n",
      "  const int64_t n = static_cast<int64_t>(rows.size());\n",
      "  return kiln::cpu::ParallelFor(n, std::max<int64_t>(1, "
      "kiln::cpu::kGrainSize / std::max<int64_t>(D, 1)), a->num_threads, "
      "[&](int64_t b, int64_t e) -> int {\n",
      "    int64_t one = 1;\n", "    for (int64_t p = b; p < e; ++p) {\n",
      "      kiln::cpu::TensorArg dst{out.data + p * D * ", Elem(d),
      ", &D, &one, 1};\n",
      "      kiln::cpu::TensorArg srow{w.data + rows[p] * w.strides[0] * ",
      Elem(d), ", &D, &w.strides[1], 1};\n", "      kiln::cpu::CopyTensor<",
      T(d), ", ", T(d), ">(dst, srow, 1);\n    }\n    return 0;\n  });\n}\n");
  return b.Finish(std::move(src));
}

// gather(self, dim, index).
absl::StatusOr<KernelCode> EmitGather(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* self = node.arg(0).value;
  const ir::Value* index = node.arg(2).value;
  auto dim = StaticDim(node, 1, self->type().rank());
  if (!dim.ok()) return dim.status();
  KernelBuilder b(ctx, "gather");
  b.AddOutput(node.output(0));
  b.AddInput(self);
  b.AddInput(index);
  std::string src = absl::StrCat(
      Header(ctx), "  return kiln::cpu::Gather<", T(self->type().dtype), ", ",
      T(index->type().dtype), ">(a->tensors[0], a->tensors[1], a->tensors[2], ",
      *dim, ", a->num_threads);\n}\n");
  return b.Finish(std::move(src));
}

// embedding_dense_backward(grad_output, indices, num_weights, padding_idx,
// scale_grad_by_freq): grad_weight[indices[p]] += grad_output[p] (rows
// equal to padding_idx skipped; divided by the index's count when
// scale_grad_by_freq). Accumulates in float (double for f64) in position
// order; columns split over threads.
absl::StatusOr<KernelCode> EmitEmbeddingBackward(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* grad = node.arg(0).value;
  const ir::Value* indices = node.arg(1).value;
  KernelBuilder b(ctx, "embedding_backward");
  b.AddOutput(node.output(0));
  b.AddInput(grad);
  b.AddInput(indices);
  std::string num_weights = b.IntArg(2);
  std::string padding = b.IntArg(3);
  auto scale = node.arg(4).kind == ir::Arg::Kind::kBool && node.arg(4).b;
  DType od = node.output(0)->type().dtype;
  DType gd = grad->type().dtype;
  DType acc = od == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
  std::string src = Header(ctx);
  absl::StrAppend(
      &src, b.ScalarDecls(),
      "  const kiln::cpu::TensorArg& out = a->tensors[0];\n",
      "  if (!kiln::cpu::IsContiguous(out)) return kiln::cpu::kBadLayout;\n",
      "  const int64_t W = ", num_weights, ";\n",
      "  const int64_t pad = ", padding, ";\n",
      "  const int64_t D = out.rank == 2 ? out.sizes[1] : 1;\n",
      "  std::vector<int64_t> rows;\n",
      "  int err = kiln::cpu::ForEachIndexValue<", T(indices->type().dtype),
      ">(a->tensors[2], [&](int64_t, int64_t v) {\n",
      "    if (v < 0 || v >= W) return int(kiln::cpu::kIndexOutOfRange);\n",
      "    rows.push_back(v);\n    return 0;\n  });\n",
      "  if (err) return err;\n", "  std::vector<int64_t> count(",
      scale ? "W" : "0", ", 0);\n",
      scale ? "  for (int64_t v : rows) ++count[v];\n" : "", "  const ", T(gd),
      "* g = reinterpret_cast<const ", T(gd), "*>(a->tensors[1].data);\n", "  ",
      T(od), "* o = reinterpret_cast<", T(od), "*>(out.data);\n",
      "  return kiln::cpu::ParallelFor(D, std::max<int64_t>(1, "
      "kiln::cpu::kGrainSize / std::max<int64_t>((int64_t)rows.size() + W, "
      "1)), a->num_threads, [&](int64_t c0, int64_t c1) -> int {\n",
      "    std::vector<", T(acc), "> accum((size_t)W * (c1 - c0), ", T(acc),
      "(0));\n", "    for (size_t p = 0; p < rows.size(); ++p) {\n",
      "      const int64_t v = rows[p];\n", "      if (v == pad) continue;\n",
      "      ", T(acc), "* arow = accum.data() + v * (c1 - c0);\n",
      "      const ", T(acc), " s = ",
      scale ? absl::StrCat(T(acc), "(1) / ", T(acc), "(count[v])")
            : absl::StrCat(T(acc), "(1)"),
      ";\n", "      for (int64_t c = c0; c < c1; ++c) arow[c - c0] += ",
      ops::EmitConvert("g[p * D + c]", gd, acc), " * s;\n", "    }\n",
      "    for (int64_t v = 0; v < W; ++v)\n",
      "      for (int64_t c = c0; c < c1; ++c) ",
      Assign("o[v * D + c]",
             ops::EmitConvert("accum[v * (c1 - c0) + (c - c0)]", acc, od), od),
      "\n", "    return 0;\n  });\n}\n");
  KernelCode code = b.Finish(std::move(src));
  code.row_dims = grad->type().rank();  // grad rows dense
  return code;
}

// constant_pad_nd(self, pad, value): fill, then copy the overlap.
absl::StatusOr<KernelCode> EmitConstantPad(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ir::Value* self = node.arg(0).value;
  int rank = self->type().rank();
  int npad = static_cast<int>(node.arg(1).ints.size());
  if (npad % 2 != 0 || npad / 2 > rank) {
    return absl::InvalidArgumentError("bad pad length");
  }
  KernelBuilder b(ctx, "constant_pad");
  b.AddOutput(node.output(0));
  b.AddInput(self);
  DType d = self->type().dtype;
  auto value = b.ScalarArg(2);
  if (!value.ok()) return value.status();
  std::vector<std::string> pads;
  for (int i = 0; i < npad; ++i) pads.push_back(b.IntArg(1, i));
  std::string src = Header(ctx);
  absl::StrAppend(&src, b.ScalarDecls(),
                  "  const kiln::cpu::TensorArg& out = a->tensors[0];\n",
                  "  const kiln::cpu::TensorArg& in = a->tensors[1];\n",
                  "  int err = kiln::cpu::FillTensor<", T(d), ">(out, ",
                  ops::EmitConvert(value->first, value->second, d),
                  ", a->num_threads);\n  if (err) return err;\n",
                  "  kiln::cpu::LocalTensor o, x;\n",
                  "  for (int64_t k = 0; k < out.rank; ++k) { o.sizes[k] = "
                  "out.sizes[k]; o.strides[k] = out.strides[k]; x.sizes[k] = "
                  "in.sizes[k]; x.strides[k] = in.strides[k]; }\n",
                  "  char* od = out.data; char* xd = in.data;\n");
  for (int i = 0; i < npad / 2; ++i) {
    int dim = rank - 1 - i;
    absl::StrAppend(
        &src, "  {\n    const int64_t before = ", pads[2 * i],
        ", after = ", pads[2 * i + 1], ";\n",
        "    const int64_t len = in.sizes[", dim,
        "] - std::max<int64_t>(-before, 0) - std::max<int64_t>(-after, 0);\n",
        "    if (len <= 0) return 0;\n",
        "    od += std::max<int64_t>(before, 0) * out.strides[", dim, "] * ",
        Elem(d), ";\n", "    xd += std::max<int64_t>(-before, 0) * in.strides[",
        dim, "] * ", Elem(d), ";\n", "    o.sizes[", dim, "] = len; x.sizes[",
        dim, "] = len;\n  }\n");
  }
  absl::StrAppend(
      &src,
      "  o.arg = kiln::cpu::TensorArg{od, o.sizes, o.strides, out.rank};\n",
      "  x.arg = kiln::cpu::TensorArg{xd, x.sizes, x.strides, in.rank};\n",
      "  return kiln::cpu::CopyTensor<", T(d), ", ", T(d),
      ">(o.arg, x.arg, a->num_threads);\n}\n");
  return b.Finish(std::move(src));
}

KILN_REGISTER_CPU_KERNEL("aten::cat.default", EmitCat);
KILN_REGISTER_CPU_KERNEL("aten::index_select.default", EmitIndexSelect);
KILN_REGISTER_CPU_KERNEL("aten::embedding.default", EmitEmbedding);
KILN_REGISTER_CPU_KERNEL("aten::gather.default", EmitGather);
KILN_REGISTER_CPU_KERNEL("aten::embedding_dense_backward.default",
                         EmitEmbeddingBackward);
KILN_REGISTER_CPU_KERNEL("aten::constant_pad_nd.default", EmitConstantPad);

}  // namespace
}  // namespace kiln::cpu
