// Reduction kernels: sum, mean, prod, amax/amin, max/min (all and .dim),
// argmax/argmin, any/all, var/std. Each becomes a Reducer struct (what to
// accumulate) plus a call of kernel_runtime.h's RunReduction (how to walk
// the tensor: lanes for inner reductions, vectors across kept dims for
// outer ones, threads over outputs or within long reductions).
//
// Accumulators follow ATen's CPU kernels: floating sums and products in
// the opmath type (float for f16/bf16/f32, double for f64), integer ones in
// wrapping int64, var/std with Welford in double; max/min propagate NaN and
// return the first extremum's index.
#include "compiler/backends/cpu/codegen_reduction.h"

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {

using ir::DType;

absl::StatusOr<std::vector<bool>> ReducedDimsOf(const ir::Node& node) {
  int rank = node.arg(0).value->type().rank();
  int dim_index = node.op().schema().ArgumentIndex("dim");
  std::vector<bool> reduced(rank, true);
  if (dim_index < 0) return reduced;
  const ir::Arg& dim = node.arg(dim_index);
  if (dim.is_none()) return reduced;
  std::vector<ir::ExprRef> dims;
  if (dim.kind == ir::Arg::Kind::kIntList) {
    if (dim.ints.empty()) {
      const std::string& name = node.op().name();
      if (name == "aten::any.dims" || name == "aten::all.dims") {
        reduced.assign(rank, false);
      }
      return reduced;
    }
    dims = dim.ints;
  } else if (dim.kind == ir::Arg::Kind::kInt) {
    dims = {dim.i};
  } else {
    return absl::UnimplementedError("unsupported dim argument");
  }
  reduced.assign(rank, false);
  for (const ir::ExprRef& d : dims) {
    auto c = d->AsConst();
    if (!c) return absl::UnimplementedError("symbolic reduction dim");
    int64_t w = *c < 0 ? *c + std::max(rank, 1) : *c;
    if (rank == 0) continue;
    if (w < 0 || w >= rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("dim ", *c, " out of range"));
    }
    reduced[w] = true;
  }
  return reduced;
}

namespace {

std::string Cv(const std::string& e, DType from, DType to) {
  return ops::EmitConvert(e, from, to);
}

// sum / prod / mean: the `dtype` argument, else int64 for integral inputs.
ReducerSpec SumLike(DType in, DType out, const std::string& op, bool mean) {
  ReducerSpec r;
  bool floating = ir::IsFloating(out);
  DType acc = floating ? ir::OpMathType(out) : DType::kInt64;
  r.acc_type = ops::CppStorageType(acc);
  // ATen casts the input to the result dtype first.
  std::string x = Cv(Cv("x", in, out), out, acc);
  if (op == "sum") {
    r.identity = absl::StrCat(r.acc_type, "(0)");
    r.step = floating
                 ? absl::StrCat("acc + ", x)
                 : absl::StrCat("kiln::pw::WrapAdd<int64_t>(acc, ", x, ")");
    r.merge = floating ? "a + b" : "kiln::pw::WrapAdd<int64_t>(a, b)";
  } else {
    r.identity = absl::StrCat(r.acc_type, "(1)");
    r.step = floating
                 ? absl::StrCat("acc * ", x)
                 : absl::StrCat("kiln::pw::WrapMul<int64_t>(acc, ", x, ")");
    r.merge = floating ? "a * b" : "kiln::pw::WrapMul<int64_t>(a, b)";
  }
  std::string value = "acc";
  if (mean) value = absl::StrCat("acc / ", r.acc_type, "(n)");
  r.stores.push_back(Cv(value, acc, out));
  return r;
}

// amax / amin / max / min (all): NaN propagates.
ReducerSpec Extremum(DType in, DType out, bool is_max) {
  ReducerSpec r;
  DType acc = ops::ComputeDType(in);
  if (in == DType::kBool) acc = DType::kBool;
  r.acc_type = ops::CppStorageType(acc);
  r.needs_elements = true;
  std::string cmp = is_max ? ">" : "<";
  // acc starts as the first element: identity is never stored because
  // needs_elements refuses empty reductions; NaN wins over everything.
  r.identity = "kiln::cpu::ExtremumIdentity<" + r.acc_type + ">(" +
               (is_max ? "true" : "false") + ")";
  std::string x = Cv("x", in, acc);
  r.step = absl::StrCat("kiln::cpu::PickExtremum<", is_max, ">(acc, ", x, ")");
  r.merge = absl::StrCat("kiln::cpu::PickExtremum<", is_max, ">(a, b)");
  r.stores.push_back(Cv("acc", acc, out));
  (void)cmp;
  return r;
}

// max.dim / min.dim / argmax / argmin: value and first index.
ReducerSpec ArgExtremum(DType in, bool is_max, bool values_output,
                        DType values_dtype) {
  ReducerSpec r;
  DType acc = ops::ComputeDType(in);
  if (in == DType::kBool) acc = DType::kBool;
  std::string t = ops::CppStorageType(acc);
  r.acc_type = absl::StrCat("kiln::cpu::ValueIndex<", t, ">");
  r.ordered = true;
  r.needs_elements = true;
  r.identity = absl::StrCat(r.acc_type, "{", t, "(0), -1}");
  r.step = absl::StrCat("kiln::cpu::PickIndexed<", is_max, ">(acc, ",
                        r.acc_type, "{", Cv("x", in, acc), ", idx})");
  r.merge = absl::StrCat("kiln::cpu::PickIndexed<", is_max, ">(a, b)");
  if (values_output) r.stores.push_back(Cv("acc.value", acc, values_dtype));
  r.stores.push_back("acc.index");
  return r;
}

ReducerSpec AnyAll(DType in, DType out, bool any) {
  ReducerSpec r;
  r.acc_type = "bool";
  r.identity = any ? "false" : "true";
  std::string x = Cv("x", in, DType::kBool);
  r.step = any ? absl::StrCat("acc || ", x) : absl::StrCat("acc && ", x);
  r.merge = any ? "a || b" : "a && b";
  r.stores.push_back(Cv("acc", DType::kBool, out));
  return r;
}

ReducerSpec VarStd(DType in, DType out, double correction, bool is_std) {
  ReducerSpec r;
  r.acc_type = "kiln::cpu::Welford";
  r.identity = "kiln::cpu::Welford{0.0, 0.0, 0}";
  r.step = absl::StrCat("kiln::cpu::WelfordStep(acc, ",
                        Cv("x", in, DType::kFloat64), ")");
  r.merge = "kiln::cpu::WelfordMerge(a, b)";
  std::string v = absl::StrFormat("kiln::cpu::WelfordVar(acc, %a)", correction);
  if (is_std) v = absl::StrCat("std::sqrt(", v, ")");
  r.stores.push_back(Cv(v, DType::kFloat64, out));
  return r;
}

std::optional<DType> DTypeArg(const ir::Node& node) {
  int i = node.op().schema().ArgumentIndex("dtype");
  if (i < 0 || node.arg(i).kind != ir::Arg::Kind::kDType) return std::nullopt;
  return node.arg(i).dtype;
}

absl::StatusOr<double> CorrectionOf(const ir::Node& node) {
  const ops::Schema& s = node.op().schema();
  int c = s.ArgumentIndex("correction");
  if (c >= 0) {
    const ir::Arg& a = node.arg(c);
    if (a.is_none()) return 1.0;
    if (a.kind == ir::Arg::Kind::kFloat) return a.f;
    if (auto v = a.AsInt()) return static_cast<double>(*v);
    return absl::UnimplementedError("symbolic correction");
  }
  int u = s.ArgumentIndex("unbiased");
  if (u >= 0 && node.arg(u).kind == ir::Arg::Kind::kBool) {
    return node.arg(u).b ? 1.0 : 0.0;
  }
  return 1.0;
}

}  // namespace

absl::StatusOr<ReducerSpec> ReducerFor(const ir::Node& node) {
  const std::string& name = node.op().schema().name;
  DType in = node.arg(0).value->type().dtype;
  DType out = node.output(0)->type().dtype;
  ReducerSpec spec;
  if (name == "sum" || name == "prod" || name == "mean") {
    spec = SumLike(in, out, name == "prod" ? "prod" : "sum", name == "mean");
  } else if (name == "amax" || name == "amin" ||
             ((name == "max" || name == "min") && node.num_outputs() == 1)) {
    spec = Extremum(in, out, name == "amax" || name == "max");
  } else if (name == "max" || name == "min") {
    spec = ArgExtremum(in, name == "max", /*values_output=*/true, out);
  } else if (name == "argmax" || name == "argmin") {
    spec = ArgExtremum(in, name == "argmax", /*values_output=*/false, out);
  } else if (name == "any" || name == "all") {
    spec = AnyAll(in, out, name == "any");
  } else if (name == "var" || name == "std") {
    auto c = CorrectionOf(node);
    if (!c.ok()) return c.status();
    spec = VarStd(in, out, *c, name == "std");
  } else {
    return absl::UnimplementedError(
        absl::StrCat("no CPU kernel for ", node.op().name()));
  }
  return spec;
}

std::string ReducerStruct(const std::string& name, const ReducerSpec& spec,
                          const std::string& step_prelude,
                          const std::string& step_unit_prelude,
                          const std::string& store_body) {
  return absl::StrCat(
      "struct ", name, " {\n", "  using Acc = ", spec.acc_type, ";\n",
      "  static constexpr bool kOrdered = ", spec.ordered ? "true" : "false",
      ";\n", "  static constexpr bool kNeedsElements = ",
      spec.needs_elements ? "true" : "false", ";\n",
      "  Acc Identity() const { return ", spec.identity, "; }\n",
      "  Acc Step(Acc acc, char* const* p, const int64_t* s, int64_t i, "
      "int64_t idx) const {\n",
      step_prelude, "    (void)s;\n    (void)idx;\n    return ", spec.step,
      ";\n  }\n",
      "  Acc StepUnit(Acc acc, char* const* p, int64_t i) const {\n",
      "    const int64_t idx = 0;\n    (void)idx;\n", step_unit_prelude,
      "    return ", spec.step, ";\n  }\n",
      "  Acc Merge(Acc a, Acc b) const { return ", spec.merge, "; }\n",
      "  void Store(char* const* o, Acc acc, int64_t n) const {\n"
      "    (void)n;\n",
      store_body, "  }\n};\n");
}

namespace {

absl::StatusOr<KernelCode> EmitReduction(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  const ops::Schema& schema = node.op().schema();
  const std::string& name = schema.name;
  const ir::Value* self = node.arg(0).value;
  DType in = self->type().dtype;
  DType out = node.output(0)->type().dtype;
  auto spec_or = ReducerFor(node);
  if (!spec_or.ok()) return spec_or.status();
  const ReducerSpec& spec = *spec_or;
  auto reduced = ReducedDimsOf(node);
  if (!reduced.ok()) return reduced.status();

  KernelBuilder b(ctx, "reduction");
  int n_out = 0;
  for (int i = 0; i < node.num_outputs(); ++i) {
    if (node.output(i) == nullptr) continue;
    b.AddOutput(node.output(i));
    ++n_out;
  }
  if (n_out != static_cast<int>(spec.stores.size())) {
    return absl::InternalError("reduction outputs do not match its stores");
  }
  int in_op = b.AddInput(self);
  std::string rname = absl::StrCat(ctx.symbol, "_reducer");
  std::string in_t = ops::CppStorageType(in);
  std::string step_unit =
      absl::StrCat("    const ", in_t, " x = reinterpret_cast<const ", in_t,
                   "*>(p[0])[i];\n");
  std::string step =
      absl::StrCat("    const ", in_t, " x = reinterpret_cast<const ", in_t,
                   "*>(p[0])[i * s[0]];\n");
  std::vector<std::string> stores;
  for (int k = 0; k < n_out; ++k) {
    stores.push_back(
        absl::StrCat("    ",
                     Assign(absl::StrCat("(*reinterpret_cast<",
                                         b.StorageType(k), "*>(o[", k, "]))"),
                            spec.stores[k], b.dtype(k)),
                     "\n"));
  }
  std::string src = absl::StrCat(
      "// ", node.op().name(), " (", node.name(), ")\n", spec.prelude,
      ReducerStruct(rname, spec, step, step_unit, absl::StrJoin(stores, "")));
  int rank = self->type().rank();
  std::vector<std::string> red;
  for (bool r : *reduced) red.push_back(r ? "true" : "false");
  if (red.empty()) red.push_back("false");
  absl::StrAppend(
      &src, "KILN_KERNEL int ", ctx.symbol,
      "(const kiln::cpu::KernelArgs* a) {\n", b.ScalarDecls(),
      "  static constexpr bool kReduced[] = {", absl::StrJoin(red, ", "),
      "};\n", "  const kiln::cpu::TensorArg& in = a->tensors[", in_op, "];\n",
      "  int64_t es[", std::max(rank, 1), "][1];\n", "  int64_t rs[",
      std::max(rank, 1), "][", n_out, "];\n", "  for (int d = 0; d < ", rank,
      "; ++d) es[d][0] = in.strides[d];\n");
  std::vector<std::string> rb, re;
  for (int k = 0; k < n_out; ++k) {
    absl::StrAppend(&src, "  kiln::cpu::RowStrides<", n_out, ">(a->tensors[", k,
                    "], ", rank, ", kReduced, ", k, ", rs);\n");
    rb.push_back(absl::StrCat("a->tensors[", k, "].data"));
    re.push_back(absl::StrCat(ir::ElementSize(b.dtype(k))));
  }
  absl::StrAppend(
      &src, "  char* eb[1] = {in.data};\n",
      "  static constexpr int64_t ee[1] = {", ir::ElementSize(in), "};\n",
      "  char* rb[", n_out, "] = {", absl::StrJoin(rb, ", "), "};\n",
      "  static constexpr int64_t re[", n_out, "] = {", absl::StrJoin(re, ", "),
      "};\n", "  return kiln::cpu::RunReduce<1, ", n_out, ">(", rank,
      ", in.sizes, kReduced, eb, es, ee, rb, rs, re, a->num_threads, ", rname,
      "{});\n}\n");
  return b.Finish(std::move(src));
}

KILN_REGISTER_CPU_KERNEL(ops::OpCategory::kReduction, EmitReduction);

}  // namespace
}  // namespace kiln::cpu
