// Test helpers shared by the view, creation, data-movement and mutation op
// tests: build a graph from IR text (its declared output types are what
// inference must give), run it on the reference interpreter, and make
// inputs of every dtype.
#ifndef KILN_COMPILER_OPS_FAMILY_TEST_UTIL_H_
#define KILN_COMPILER_OPS_FAMILY_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_replace.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"
#include "compiler/runtime/tensor.h"

namespace kiln::ops::family_test {

// Every dtype, with its IR short name.
inline const std::vector<ir::DType>& AllDTypes() {
  static const auto* all = new std::vector<ir::DType>{
      ir::DType::kFloat16, ir::DType::kBFloat16, ir::DType::kFloat32,
      ir::DType::kFloat64, ir::DType::kInt8,     ir::DType::kInt16,
      ir::DType::kInt32,   ir::DType::kInt64,    ir::DType::kUInt8,
      ir::DType::kBool};
  return *all;
}

// `text` with every "$T" replaced by the dtype's short name ("f32").
inline std::string WithDType(const std::string& text, ir::DType dtype) {
  return absl::StrReplaceAll(text, {{"$T", ir::ShortName(dtype)}});
}

// The graph of `text` (parse + conversion + inference).
inline absl::StatusOr<std::unique_ptr<ir::Graph>> Parse(
    const std::string& text) {
  return ir::ParseGraph(text);
}

// The conversion error of `text` ("" when it converts).
inline std::string ParseError(const std::string& text) {
  auto g = ir::ParseGraph(text);
  return g.ok() ? "" : std::string(g.status().message());
}

struct RunResult {
  absl::Status status;
  std::vector<rt::Tensor> outputs;
  std::vector<RuntimeValue> inputs;
  std::unique_ptr<ir::Graph> graph;
};

// Parses and runs `text` on tensor inputs.
inline RunResult RunText(const std::string& text,
                         std::vector<rt::Tensor> inputs) {
  RunResult r;
  auto g = ir::ParseGraph(text);
  if (!g.ok()) {
    r.status = g.status();
    return r;
  }
  for (rt::Tensor& t : inputs) r.inputs.push_back(RuntimeValue::OfTensor(t));
  auto out = interp::RunGraph(**g, r.inputs);
  r.graph = *std::move(g);
  if (!out.ok()) {
    r.status = out.status();
    return r;
  }
  for (RuntimeValue& v : *out) r.outputs.push_back(v.tensor);
  return r;
}

// Values 0, 1, 2, ... (mod 2 for bool, mod 100 for the 8-bit types) in
// row-major order, in a tensor of `sizes` laid out with `strides` and
// `offset` (contiguous when `strides` is empty).
inline rt::Tensor Iota(ir::DType dtype, const std::vector<int64_t>& sizes,
                       std::vector<int64_t> strides = {}, int64_t offset = 0) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  std::vector<double> values(n);
  int64_t mod = dtype == ir::DType::kBool ? 2
                : (dtype == ir::DType::kInt8 || dtype == ir::DType::kUInt8)
                    ? 100
                    : (int64_t{1} << 40);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i % mod);
  rt::Tensor contiguous = rt::Tensor::FromDoubles(dtype, sizes, values);
  if (strides.empty()) return contiguous;
  auto t = rt::Tensor::EmptyStrided(dtype, sizes, strides, offset);
  if (!t.ok()) return rt::Tensor();
  (void)t->CopyFrom(contiguous);
  return *t;
}

}  // namespace kiln::ops::family_test

#endif  // KILN_COMPILER_OPS_FAMILY_TEST_UTIL_H_
