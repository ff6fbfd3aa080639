#include "compiler/ops/op_util.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {

using ir::Arg;

absl::StatusOr<bool> StaticBool(const Arg& a, std::string_view name) {
  if (a.kind == Arg::Kind::kBool) return a.b;
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s must be a constant bool, got %s", name, ir::ArgKindName(a.kind)));
}

absl::StatusOr<int64_t> StaticInt(const Arg& a, std::string_view name) {
  if (auto v = a.AsInt()) return *v;
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s must be a constant int, got %s", name,
      a.kind == Arg::Kind::kInt ? "a symbolic int" : ir::ArgKindName(a.kind)));
}

absl::StatusOr<std::vector<bool>> ReducedDims(const Arg& dim, int rank,
                                              bool empty_list_reduces_nothing) {
  std::vector<bool> reduced(rank, false);
  if (dim.is_none()) {
    reduced.assign(rank, true);
    return reduced;
  }
  std::vector<ir::ExprRef> dims;
  if (dim.kind == Arg::Kind::kIntList) {
    if (dim.ints.empty()) {
      if (!empty_list_reduces_nothing) reduced.assign(rank, true);
      return reduced;
    }
    dims = dim.ints;
  } else if (dim.kind == Arg::Kind::kInt) {
    dims = {dim.i};
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("dim must be an int or a list of ints, got %s",
                        ir::ArgKindName(dim.kind)));
  }
  std::vector<bool> seen(rank == 0 ? 1 : rank, false);
  for (const ir::ExprRef& d : dims) {
    auto c = d->AsConst();
    if (!c) return absl::InvalidArgumentError("dim must be a static integer");
    auto w = WrapDim(*c, rank);
    if (!w.ok()) return w.status();
    if (seen[*w]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "dim %d appears multiple times in the list of dims", *w));
    }
    seen[*w] = true;
    if (rank > 0) reduced[*w] = true;
  }
  return reduced;
}

std::vector<ir::ExprRef> ReducedSizes(const std::vector<ir::ExprRef>& sizes,
                                      const std::vector<bool>& reduced,
                                      bool keepdim) {
  std::vector<ir::ExprRef> out;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (!reduced[d]) {
      out.push_back(sizes[d]);
    } else if (keepdim) {
      out.push_back(ir::Const(1));
    }
  }
  return out;
}

namespace {
absl::Status EmptyReductionError(std::string_view op, size_t dim) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s(): Expected reduction dim %d to have non-zero size.", op, dim));
}
}  // namespace

absl::Status CheckReducedDimsNonEmpty(std::string_view op,
                                      const std::vector<ir::ExprRef>& sizes,
                                      const std::vector<bool>& reduced) {
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (reduced[d] && sizes[d]->AsConst() == 0) {
      return EmptyReductionError(op, d);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNonEmptyReduction(std::string_view op,
                                    const std::vector<int64_t>& sizes,
                                    const std::vector<bool>& reduced) {
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (reduced[d] && sizes[d] == 0) return EmptyReductionError(op, d);
  }
  return absl::OkStatus();
}

int64_t CountElements(const std::vector<int64_t>& sizes,
                      const std::vector<bool>& reduced, bool kept) {
  int64_t n = 1;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (reduced[d] != kept) n *= sizes[d];
  }
  return n;
}

absl::Status SetOutputDoubles(KernelContext& kc, int i,
                              const std::vector<double>& values) {
  auto out = kc.AllocateOutput(i);
  if (!out.ok()) return out.status();
  auto st = out->CopyFrom(
      rt::Tensor::FromDoubles(out->dtype(), out->sizes(), values));
  if (!st.ok()) return st;
  kc.SetOutput(i, *std::move(out));
  return absl::OkStatus();
}

absl::Status SetOutputInts(KernelContext& kc, int i,
                           const std::vector<int64_t>& values) {
  auto out = kc.AllocateOutput(i);
  if (!out.ok()) return out.status();
  auto st =
      out->CopyFrom(rt::Tensor::FromInts(out->dtype(), out->sizes(), values));
  if (!st.ok()) return st;
  kc.SetOutput(i, *std::move(out));
  return absl::OkStatus();
}

}  // namespace kiln::ops
