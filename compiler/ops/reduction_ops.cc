// Reductions: sum, prod, mean, amax/amin, max/min (full and along a dim,
// with indices), argmax/argmin, var/std and any/all, every overload PyTorch
// (1.13 through 2.x) prints for them except the out= and named-dim ones.
//
// Dtypes follow ATen: sum and prod turn integral and bool inputs into int64
// unless `dtype` says otherwise (the input is converted to `dtype` first);
// mean, var and std need floating inputs (mean also accepts a floating
// `dtype`); max-like reductions keep the input dtype and their indices are
// int64; any/all give bool, or uint8 for uint8 inputs. Reductions without
// an identity (max, argmax, ...) refuse to reduce a dim of size 0.
//
// The reference kernels accumulate floating values in double and round once
// into the result dtype (at least as accurate as ATen, which accumulates
// float16/bfloat16 in float32); integers wrap in int64. max/min and
// argmax/argmin propagate NaN (the first NaN wins) and pick the first index
// among equal values, as ATen does. var/std divide the sum of squared
// deviations by max(0, N - correction), so N <= correction gives inf or NaN
// as in ATen. Outputs are contiguous, as ATen allocates them.
#include <cmath>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/op_util.h"
#include "compiler/ops/pointwise.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {
namespace {

using ir::Arg;

// The static part of a reduction: which dims, and whether they are kept.
struct Reduction {
  std::vector<bool> reduced;
  bool keepdim = false;
};

// From the schema's `dim` (absent: every dim) and `keepdim` arguments.
absl::StatusOr<Reduction> GetReduction(const Schema& schema,
                                       const std::vector<Arg>& args, int rank) {
  Reduction r;
  int dim_index = schema.ArgumentIndex("dim");
  int keep_index = schema.ArgumentIndex("keepdim");
  auto reduced =
      ReducedDims(dim_index >= 0 ? args[dim_index] : Arg::None(), rank,
                  /*empty_list_reduces_nothing=*/schema.overload == "dims");
  if (!reduced.ok()) return reduced.status();
  r.reduced = *std::move(reduced);
  if (keep_index >= 0) {
    auto keep = StaticBool(args[keep_index], "keepdim");
    if (!keep.ok()) return keep.status();
    r.keepdim = *keep;
  }
  return r;
}

absl::StatusOr<Reduction> GetReduction(const KernelContext& kc, int rank) {
  return GetReduction(kc.node().op().schema(), kc.node().args(), rank);
}

// An optional `dtype` argument, if the schema has one and it is set.
std::optional<DType> DTypeArg(const Schema& schema,
                              const std::vector<Arg>& args) {
  int i = schema.ArgumentIndex("dtype");
  if (i < 0 || args[i].kind != Arg::Kind::kDType) return std::nullopt;
  return args[i].dtype;
}

// The result dtype of a reduction from the input dtype and the arguments.
using DTypeRule =
    std::function<absl::StatusOr<DType>(const InferContext&, DType input)>;

// sum and prod: `dtype`, else int64 for integral and bool inputs.
absl::StatusOr<DType> SumDType(const InferContext& ctx, DType input) {
  if (auto d = DTypeArg(ctx.schema(), ctx.args())) return *d;
  return ir::IsIntegral(input, /*include_bool=*/true) ? DType::kInt64 : input;
}

absl::StatusOr<DType> MeanDType(const InferContext& ctx, DType input) {
  if (auto d = DTypeArg(ctx.schema(), ctx.args())) {
    if (!ir::IsFloating(*d)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mean(): could not infer output dtype. Optional dtype must be "
          "either a floating point or complex dtype. Got: %s",
          ir::ShortName(*d)));
    }
    return *d;
  }
  if (!ir::IsFloating(input)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mean(): could not infer output dtype. Input dtype must be either a "
        "floating point or complex dtype. Got: %s",
        ir::ShortName(input)));
  }
  return input;
}

absl::StatusOr<DType> SameDType(const InferContext&, DType input) {
  return input;
}

absl::StatusOr<DType> VarDType(const InferContext&, DType input) {
  if (!ir::IsFloating(input)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "std and var only support floating point and complex dtypes, got %s",
        ir::ShortName(input)));
  }
  return input;
}

absl::StatusOr<DType> AnyAllDType(const InferContext&, DType input) {
  return input == DType::kUInt8 ? DType::kUInt8 : DType::kBool;
}

// Inference of a reduction with one output (or, `with_indices`, values and
// int64 indices). `nonempty_op` names reductions without an identity, which
// refuse a reduced dim of size 0; `index_only` is argmax/argmin (one int64
// output; bool inputs refused).
struct InferOptions {
  DTypeRule dtype;
  std::string nonempty_op;  // "" when empty reductions are fine
  bool with_indices = false;
  bool index_only = false;
};

InferFn ReductionInfer(InferOptions options) {
  return [options](const InferContext& ctx)
             -> absl::StatusOr<std::vector<InferredOutput>> {
    const ir::TensorType& self = ctx.tensor(0);
    auto r = GetReduction(ctx.schema(), ctx.args(), self.rank());
    if (!r.ok()) return r.status();
    if (!options.nonempty_op.empty()) {
      auto st =
          CheckReducedDimsNonEmpty(options.nonempty_op, self.sizes, r->reduced);
      if (!st.ok()) return st;
    }
    std::vector<ExprRef> sizes =
        ReducedSizes(self.sizes, r->reduced, r->keepdim);
    if (options.index_only) {
      if (self.dtype == DType::kBool) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s(): does not support bool input", ctx.schema().name));
      }
      return std::vector<InferredOutput>{
          ir::TensorType::Contiguous(DType::kInt64, sizes, self.device)};
    }
    auto dtype = options.dtype(ctx, self.dtype);
    if (!dtype.ok()) return dtype.status();
    std::vector<InferredOutput> out{
        ir::TensorType::Contiguous(*dtype, sizes, self.device)};
    if (options.with_indices) {
      out.push_back(
          ir::TensorType::Contiguous(DType::kInt64, sizes, self.device));
    }
    return out;
  };
}

// ---------------------------------------------------------------------------
// sum, prod, mean.

enum class Accumulate { kSum, kProd, kMean };

absl::Status RunAccumulate(KernelContext& kc, Accumulate kind) {
  const rt::Tensor& self = kc.tensor(0);
  auto r = GetReduction(kc, self.rank());
  if (!r.ok()) return r.status();
  const std::vector<int64_t>& sizes = self.sizes();
  // The input is converted to the result dtype first, as ATen does.
  DType dtype = kc.node().output(0)->type().dtype;
  rt::Tensor x = self;
  if (self.dtype() != dtype) {
    x = rt::Tensor::Empty(dtype, sizes);
    if (auto st = x.CopyFrom(self); !st.ok()) return st;
  }
  const int64_t n_out = CountElements(sizes, r->reduced, /*kept=*/true);
  const bool prod = kind == Accumulate::kProd;
  if (ir::IsFloating(dtype)) {
    std::vector<double> v = x.ToDoubles();
    std::vector<double> acc(n_out, prod ? 1.0 : 0.0);
    size_t k = 0;
    ForEachReduced(sizes, r->reduced, [&](int64_t o, int64_t) {
      acc[o] = prod ? acc[o] * v[k] : acc[o] + v[k];
      ++k;
    });
    if (kind == Accumulate::kMean) {
      double n = static_cast<double>(CountElements(sizes, r->reduced));
      for (double& a : acc) a /= n;
    }
    return SetOutputDoubles(kc, 0, acc);
  }
  std::vector<int64_t> v = x.ToInts();
  std::vector<uint64_t> acc(n_out, prod ? 1 : 0);
  size_t k = 0;
  ForEachReduced(sizes, r->reduced, [&](int64_t o, int64_t) {
    uint64_t e = static_cast<uint64_t>(v[k++]);
    acc[o] = prod ? acc[o] * e : acc[o] + e;
  });
  return SetOutputInts(kc, 0, std::vector<int64_t>(acc.begin(), acc.end()));
}

ReferenceFn Accumulating(Accumulate kind) {
  return [kind](KernelContext& kc) { return RunAccumulate(kc, kind); };
}

KILN_REGISTER_OP(
    "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({SumDType}))
    .Reference(Accumulating(Accumulate::kSum));
KILN_REGISTER_OP("aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({SumDType}))
    .Reference(Accumulating(Accumulate::kSum));
KILN_REGISTER_OP(
    "aten::prod.dim_int(Tensor self, int dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({SumDType}))
    .Reference(Accumulating(Accumulate::kProd));
KILN_REGISTER_OP("aten::prod(Tensor self, *, ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({SumDType}))
    .Reference(Accumulating(Accumulate::kProd));
KILN_REGISTER_OP(
    "aten::mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({MeanDType}))
    .Reference(Accumulating(Accumulate::kMean));
KILN_REGISTER_OP("aten::mean(Tensor self, *, ScalarType? dtype=None) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({MeanDType}))
    .Reference(Accumulating(Accumulate::kMean));

// ---------------------------------------------------------------------------
// amax/amin, max/min, argmax/argmin.

// For each output, the winning value and its position among the reduced
// elements: NaN beats everything (the first NaN wins), ties keep the first.
template <class T>
void SelectExtreme(const std::vector<T>& v, const std::vector<int64_t>& sizes,
                   const std::vector<bool>& reduced, bool is_max,
                   std::vector<T>* best, std::vector<int64_t>* index) {
  const int64_t n_out = CountElements(sizes, reduced, /*kept=*/true);
  best->assign(n_out, T(0));
  index->assign(n_out, 0);
  std::vector<bool> set(n_out, false);
  size_t k = 0;
  ForEachReduced(sizes, reduced, [&](int64_t o, int64_t pos) {
    T x = v[k++];
    if (!set[o]) {
      set[o] = true;
      (*best)[o] = x;
      (*index)[o] = pos;
      return;
    }
    T b = (*best)[o];
    if (b != b) return;  // NaN already won
    if (x != x || (is_max ? x > b : x < b)) {
      (*best)[o] = x;
      (*index)[o] = pos;
    }
  });
}

// What an extreme reduction outputs.
enum class ExtremeOutputs { kValues, kValuesAndIndices, kIndices };

absl::Status RunExtreme(KernelContext& kc, bool is_max, ExtremeOutputs outs) {
  const rt::Tensor& self = kc.tensor(0);
  auto r = GetReduction(kc, self.rank());
  if (!r.ok()) return r.status();
  const std::string& name = kc.node().op().schema().name;
  if (auto st = CheckNonEmptyReduction(name, self.sizes(), r->reduced);
      !st.ok()) {
    return st;
  }
  std::vector<int64_t> index;
  absl::Status st;
  int values_output = outs == ExtremeOutputs::kIndices ? -1 : 0;
  if (ir::IsFloating(self.dtype())) {
    std::vector<double> best;
    SelectExtreme(self.ToDoubles(), self.sizes(), r->reduced, is_max, &best,
                  &index);
    if (values_output >= 0) st = SetOutputDoubles(kc, values_output, best);
  } else {
    std::vector<int64_t> best;
    SelectExtreme(self.ToInts(), self.sizes(), r->reduced, is_max, &best,
                  &index);
    if (values_output >= 0) st = SetOutputInts(kc, values_output, best);
  }
  if (!st.ok()) return st;
  if (outs == ExtremeOutputs::kValues) return absl::OkStatus();
  return SetOutputInts(kc, outs == ExtremeOutputs::kIndices ? 0 : 1, index);
}

// Inference and reference of an extreme reduction named `op` in errors.
InferFn ExtremeInfer(const char* op, ExtremeOutputs outs) {
  return ReductionInfer(
      {SameDType, op,
       /*with_indices=*/outs == ExtremeOutputs::kValuesAndIndices,
       /*index_only=*/outs == ExtremeOutputs::kIndices});
}
ReferenceFn Extreme(bool is_max, ExtremeOutputs outs) {
  return [is_max, outs](KernelContext& kc) {
    return RunExtreme(kc, is_max, outs);
  };
}

KILN_REGISTER_OP(
    "aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("amax", ExtremeOutputs::kValues))
    .Reference(Extreme(/*is_max=*/true, ExtremeOutputs::kValues));
KILN_REGISTER_OP(
    "aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("amin", ExtremeOutputs::kValues))
    .Reference(Extreme(/*is_max=*/false, ExtremeOutputs::kValues));
KILN_REGISTER_OP("aten::max(Tensor self) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("max", ExtremeOutputs::kValues))
    .Reference(Extreme(/*is_max=*/true, ExtremeOutputs::kValues));
KILN_REGISTER_OP("aten::min(Tensor self) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("min", ExtremeOutputs::kValues))
    .Reference(Extreme(/*is_max=*/false, ExtremeOutputs::kValues));
KILN_REGISTER_OP(
    "aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor "
    "values, Tensor indices)")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("max", ExtremeOutputs::kValuesAndIndices))
    .Reference(Extreme(/*is_max=*/true, ExtremeOutputs::kValuesAndIndices));
KILN_REGISTER_OP(
    "aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor "
    "values, Tensor indices)")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("min", ExtremeOutputs::kValuesAndIndices))
    .Reference(Extreme(/*is_max=*/false, ExtremeOutputs::kValuesAndIndices));
KILN_REGISTER_OP(
    "aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("argmax", ExtremeOutputs::kIndices))
    .Reference(Extreme(/*is_max=*/true, ExtremeOutputs::kIndices));
KILN_REGISTER_OP(
    "aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ExtremeInfer("argmin", ExtremeOutputs::kIndices))
    .Reference(Extreme(/*is_max=*/false, ExtremeOutputs::kIndices));

// max.other / min.other are the pointwise maximum / minimum (NaN
// propagating) under the reductions' names.
KILN_REGISTER_OP("aten::max.other(Tensor self, Tensor other) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Maximum, 2),
                           {{"self", InputRole::kPromoted},
                            {"other", InputRole::kPromoted}}));
KILN_REGISTER_OP("aten::min.other(Tensor self, Tensor other) -> Tensor")
    .Pointwise(PointwiseOp(KILN_SCALAR_FN(Minimum, 2),
                           {{"self", InputRole::kPromoted},
                            {"other", InputRole::kPromoted}}));

// ---------------------------------------------------------------------------
// var, std.

// The correction: `correction` (None means 1) or `unbiased` (1 or 0), 1
// when the schema has neither.
absl::StatusOr<double> Correction(const KernelContext& kc) {
  int i = kc.index("correction");
  if (i >= 0) {
    if (kc.is_none(i)) return 1.0;
    auto s = kc.scalar(i);
    if (!s.ok()) return s.status();
    return s->AsDouble();
  }
  i = kc.index("unbiased");
  if (i < 0) return 1.0;
  auto s = kc.scalar(i);
  if (!s.ok()) return s.status();
  return s->AsDouble() != 0 ? 1.0 : 0.0;
}

absl::Status RunVar(KernelContext& kc, bool take_sqrt) {
  const rt::Tensor& self = kc.tensor(0);
  auto r = GetReduction(kc, self.rank());
  if (!r.ok()) return r.status();
  auto correction = Correction(kc);
  if (!correction.ok()) return correction.status();
  const std::vector<int64_t>& sizes = self.sizes();
  const int64_t n_out = CountElements(sizes, r->reduced, /*kept=*/true);
  const double n = static_cast<double>(CountElements(sizes, r->reduced));
  std::vector<double> v = self.ToDoubles();
  std::vector<double> mean(n_out, 0.0), m2(n_out, 0.0);
  size_t k = 0;
  ForEachReduced(sizes, r->reduced,
                 [&](int64_t o, int64_t) { mean[o] += v[k++]; });
  for (double& m : mean) m /= n;
  k = 0;
  ForEachReduced(sizes, r->reduced, [&](int64_t o, int64_t) {
    double d = v[k++] - mean[o];
    m2[o] += d * d;
  });
  const double divisor = std::max(0.0, n - *correction);
  for (double& x : m2) {
    x /= divisor;
    if (take_sqrt) x = std::sqrt(x);
  }
  return SetOutputDoubles(kc, 0, m2);
}

ReferenceFn Var(bool take_sqrt) {
  return [take_sqrt](KernelContext& kc) { return RunVar(kc, take_sqrt); };
}

// The `correction` overloads take PyTorch 2's schema (`Scalar? correction`,
// `dim=None`), which also accepts what PyTorch 1.13 traces (`int?`).
KILN_REGISTER_OP("aten::var(Tensor self, bool unbiased=True) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/false));
KILN_REGISTER_OP(
    "aten::var.dim(Tensor self, int[1]? dim, bool unbiased=True, bool "
    "keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/false));
KILN_REGISTER_OP(
    "aten::var.correction(Tensor self, int[1]? dim=None, *, Scalar? "
    "correction=None, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/false));
KILN_REGISTER_OP("aten::std(Tensor self, bool unbiased=True) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/true));
KILN_REGISTER_OP(
    "aten::std.dim(Tensor self, int[1]? dim, bool unbiased=True, bool "
    "keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/true));
KILN_REGISTER_OP(
    "aten::std.correction(Tensor self, int[1]? dim=None, *, Scalar? "
    "correction=None, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({VarDType}))
    .Reference(Var(/*take_sqrt=*/true));

// ---------------------------------------------------------------------------
// any, all.

absl::Status RunAnyAll(KernelContext& kc, bool is_any) {
  const rt::Tensor& self = kc.tensor(0);
  auto r = GetReduction(kc, self.rank());
  if (!r.ok()) return r.status();
  const int64_t n_out = CountElements(self.sizes(), r->reduced, /*kept=*/true);
  std::vector<double> v = self.ToDoubles();  // NaN != 0, as in ATen
  std::vector<int64_t> acc(n_out, is_any ? 0 : 1);
  size_t k = 0;
  ForEachReduced(self.sizes(), r->reduced, [&](int64_t o, int64_t) {
    bool nonzero = v[k++] != 0;
    acc[o] = is_any ? (acc[o] || nonzero) : (acc[o] && nonzero);
  });
  return SetOutputInts(kc, 0, acc);
}

ReferenceFn AnyAll(bool is_any) {
  return [is_any](KernelContext& kc) { return RunAnyAll(kc, is_any); };
}

KILN_REGISTER_OP("aten::any(Tensor self) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/true));
KILN_REGISTER_OP(
    "aten::any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/true));
// PyTorch 2's `dims` overloads: an empty list reduces nothing (unlike sum's).
KILN_REGISTER_OP(
    "aten::any.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> "
    "Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/true));
KILN_REGISTER_OP("aten::all(Tensor self) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/false));
KILN_REGISTER_OP(
    "aten::all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/false));
KILN_REGISTER_OP(
    "aten::all.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> "
    "Tensor")
    .Category(OpCategory::kReduction)
    .Infer(ReductionInfer({AnyAllDType}))
    .Reference(AnyAll(/*is_any=*/false));

}  // namespace
}  // namespace kiln::ops
