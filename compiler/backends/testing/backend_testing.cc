#include "compiler/backends/testing/backend_testing.h"

#include <cmath>
#include <random>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::backends::testing {

absl::StatusOr<std::vector<RuntimeValue>> RandomInputs(
    const ir::Graph& graph, const sym::Bindings& symbols, uint64_t seed,
    bool positive) {
  RandomRanges r;
  if (positive) r.float_low = 0.1;
  return RandomInputs(graph, symbols, seed, r);
}

absl::StatusOr<std::vector<RuntimeValue>> RandomInputs(
    const ir::Graph& graph, const sym::Bindings& symbols, uint64_t seed,
    const RandomRanges& ranges) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uf(ranges.float_low,
                                            ranges.float_high);
  std::uniform_int_distribution<int64_t> ui(ranges.int_low,
                                            ranges.int_high - 1);
  std::uniform_int_distribution<int64_t> uu(
      std::max<int64_t>(0, ranges.int_low), ranges.int_high - 1);
  std::vector<RuntimeValue> out;
  for (const auto& p : graph.placeholders()) {
    switch (p->kind()) {
      case ir::Value::Kind::kTensor: {
        const ir::TensorType& t = p->type();
        std::vector<int64_t> sizes, strides;
        for (int d = 0; d < t.rank(); ++d) {
          auto s = sym::Evaluate(*t.sizes[d], symbols);
          auto st = sym::Evaluate(*t.strides[d], symbols);
          if (!s.ok()) return s.status();
          if (!st.ok()) return st.status();
          sizes.push_back(*s);
          strides.push_back(*st);
        }
        auto off = sym::Evaluate(*t.storage_offset, symbols);
        if (!off.ok()) return off.status();
        auto tensor = rt::Tensor::EmptyStrided(t.dtype, sizes, strides, *off);
        if (!tensor.ok()) return tensor.status();
        rt::ForEachIndex(sizes, [&](const int64_t* idx) {
          uint8_t* e = tensor->ElementPtr(idx);
          rt::Scalar v;
          if (ir::IsFloating(t.dtype)) {
            v = rt::Scalar::Float(uf(rng));
          } else if (t.dtype == ir::DType::kBool) {
            v = rt::Scalar::Bool(rng() & 1);
          } else if (t.dtype == ir::DType::kUInt8) {
            v = rt::Scalar::Int(uu(rng));
          } else {
            v = rt::Scalar::Int(ui(rng));
          }
          rt::StoreScalar(v, t.dtype, e);
        });
        out.push_back(RuntimeValue::OfTensor(*std::move(tensor)));
        break;
      }
      case ir::Value::Kind::kSymInt: {
        auto v = sym::Evaluate(*p->symint(), symbols);
        if (!v.ok()) return v.status();
        out.push_back(RuntimeValue::OfScalar(rt::Scalar::Int(*v)));
        break;
      }
      case ir::Value::Kind::kScalar:
        switch (p->scalar_kind()) {
          case ir::ScalarKind::kInt:
            out.push_back(RuntimeValue::OfScalar(rt::Scalar::Int(ui(rng))));
            break;
          case ir::ScalarKind::kFloat:
            out.push_back(RuntimeValue::OfScalar(rt::Scalar::Float(uf(rng))));
            break;
          case ir::ScalarKind::kBool:
            out.push_back(RuntimeValue::OfScalar(rt::Scalar::Bool(rng() & 1)));
            break;
          default:
            out.push_back(RuntimeValue());
            break;
        }
        break;
    }
  }
  return out;
}

namespace {

bool Close(double got, double want, ir::DType dtype, double scale) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  double rtol = 0, atol = 0;
  switch (dtype) {
    case ir::DType::kFloat64:
      rtol = 1e-12;
      atol = 1e-12;
      break;
    case ir::DType::kFloat32:
      rtol = 3e-6;
      atol = 1e-5;
      break;
    case ir::DType::kFloat16:
      rtol = 1e-3;
      atol = 1e-3;
      break;
    case ir::DType::kBFloat16:
      rtol = 8e-3;
      atol = 8e-3;
      break;
    default:
      return got == want;
  }
  return std::fabs(got - want) <= scale * (atol + rtol * std::fabs(want));
}

}  // namespace

std::string CompareValues(const RuntimeValue& got, const RuntimeValue& want,
                          Tolerance tol) {
  if (got.kind != want.kind) return "different kinds of value";
  if (got.kind == RuntimeValue::Kind::kScalar) {
    if (got.scalar.ToString() != want.scalar.ToString()) {
      return absl::StrCat("scalar ", got.scalar.ToString(), " vs ",
                          want.scalar.ToString());
    }
    return "";
  }
  if (got.kind != RuntimeValue::Kind::kTensor) return "";
  const rt::Tensor& g = got.tensor;
  const rt::Tensor& w = want.tensor;
  if (g.dtype() != w.dtype()) {
    return absl::StrCat("dtype ", ir::ShortName(g.dtype()), " vs ",
                        ir::ShortName(w.dtype()));
  }
  if (g.sizes() != w.sizes()) {
    return absl::StrCat("sizes [", absl::StrJoin(g.sizes(), ", "), "] vs [",
                        absl::StrJoin(w.sizes(), ", "), "]");
  }
  if (ir::IsFloating(g.dtype())) {
    std::vector<double> a = g.ToDoubles(), b = w.ToDoubles();
    for (size_t i = 0; i < a.size(); ++i) {
      if (!Close(a[i], b[i], g.dtype(), tol.scale)) {
        return absl::StrFormat("element %d: got %.17g, want %.17g (of %d)", i,
                               a[i], b[i], a.size());
      }
    }
  } else {
    std::vector<int64_t> a = g.ToInts(), b = w.ToInts();
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i]) {
        return absl::StrFormat("element %d: got %d, want %d (of %d)", i, a[i],
                               b[i], a.size());
      }
    }
  }
  return "";
}

std::string CompareOutputs(const std::vector<RuntimeValue>& got,
                           const std::vector<RuntimeValue>& want,
                           Tolerance tol) {
  if (got.size() != want.size()) {
    return absl::StrCat(got.size(), " outputs, want ", want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    std::string why = CompareValues(got[i], want[i], tol);
    if (!why.empty()) return absl::StrCat("output ", i, ": ", why);
  }
  return "";
}

std::vector<RuntimeValue> CloneInputs(const std::vector<RuntimeValue>& in) {
  std::vector<RuntimeValue> out;
  for (const RuntimeValue& v : in) {
    if (v.kind != RuntimeValue::Kind::kTensor || !v.tensor.defined()) {
      out.push_back(v);
      continue;
    }
    const rt::Tensor& t = v.tensor;
    auto copy = rt::Tensor::EmptyStrided(t.dtype(), t.sizes(), t.strides(),
                                         t.storage_offset());
    if (copy.ok() && copy->CopyFrom(t).ok()) {
      out.push_back(RuntimeValue::OfTensor(*std::move(copy)));
    } else {
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace kiln::backends::testing
