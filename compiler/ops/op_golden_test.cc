// Every op overload, for every dtype, against the values PyTorch eager
// computes (testdata/op_cases.txt, written by testdata/gen_op_cases.py). Each
// case also checks that the converter's inference accepts exactly the output
// dtype, sizes and strides PyTorch gives, and that calls PyTorch refuses are
// refused.
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

struct TensorSpec {
  ir::DType dtype = ir::DType::kFloat32;
  std::vector<int64_t> sizes, strides;
  int64_t offset = 0;
  std::vector<double> values;
};

struct Case {
  std::string name;
  std::string graph;
  std::vector<RuntimeValue> inputs;
  bool expect_error = false;
  std::string error;
  TensorSpec expected;
};

std::vector<int64_t> Ints(absl::string_view s) {
  std::vector<int64_t> out;
  for (absl::string_view p : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(std::string(p), &v)) << p;
    out.push_back(v);
  }
  return out;
}

double Number(absl::string_view s) {
  if (s == "nan") return NAN;
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  double d = 0;
  EXPECT_TRUE(absl::SimpleAtod(std::string(s), &d)) << s;
  return d;
}

// "key=value" fields of a line after its first `skip` words.
TensorSpec ParseTensor(const std::string& line, int skip) {
  TensorSpec t;
  std::vector<std::string> words = absl::StrSplit(line, ' ');
  t.dtype = *ir::DTypeFromShortName(words[skip]);
  for (size_t i = skip + 1; i < words.size(); ++i) {
    absl::string_view w = words[i];
    if (absl::ConsumePrefix(&w, "sizes=")) t.sizes = Ints(w);
    if (absl::ConsumePrefix(&w, "strides=")) t.strides = Ints(w);
    if (absl::ConsumePrefix(&w, "offset=")) t.offset = Ints(w).at(0);
    if (absl::ConsumePrefix(&w, "values=")) {
      if (!w.empty()) t.values.push_back(Number(w));
      for (size_t j = i + 1; j < words.size(); ++j) {
        t.values.push_back(Number(words[j]));
      }
      break;
    }
  }
  return t;
}

rt::Tensor MakeTensor(const TensorSpec& spec) {
  auto t = rt::Tensor::EmptyStrided(spec.dtype, spec.sizes, spec.strides,
                                    spec.offset);
  EXPECT_TRUE(t.ok());
  size_t i = 0;
  rt::ForEachIndex(t->sizes(), [&](const int64_t* idx) {
    if (i < spec.values.size()) {
      rt::StoreScalar(rt::Scalar::Float(spec.values[i]), spec.dtype,
                      t->ElementPtr(idx));
    }
    ++i;
  });
  return *t;
}

std::vector<Case> LoadCases() {
  std::ifstream in("compiler/ops/testdata/op_cases.txt");
  std::vector<Case> cases;
  std::string line;
  Case c;
  bool in_graph = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (absl::StartsWith(line, "case ")) {
      c = Case();
      c.name = line.substr(5);
      in_graph = false;
    } else if (absl::StartsWith(line, "graph(")) {
      c.graph = line + "\n";
      in_graph = true;
    } else if (in_graph) {
      c.graph += line + "\n";
      if (line == "}") in_graph = false;
    } else if (absl::StartsWith(line, "input tensor ")) {
      c.inputs.push_back(
          RuntimeValue::OfTensor(MakeTensor(ParseTensor(line, 2))));
    } else if (absl::StartsWith(line, "input int ")) {
      c.inputs.push_back(RuntimeValue::OfScalar(
          rt::Scalar::Int(static_cast<int64_t>(Number(line.substr(10))))));
    } else if (absl::StartsWith(line, "input float ")) {
      c.inputs.push_back(
          RuntimeValue::OfScalar(rt::Scalar::Float(Number(line.substr(12)))));
    } else if (absl::StartsWith(line, "input bool ")) {
      c.inputs.push_back(
          RuntimeValue::OfScalar(rt::Scalar::Bool(line.substr(11) == "1")));
    } else if (absl::StartsWith(line, "expect tensor ")) {
      c.expected = ParseTensor(line, 2);
    } else if (absl::StartsWith(line, "expect error")) {
      c.expect_error = true;
      c.error = line.substr(12);
    } else if (line == "end") {
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

// Tolerances: one or two units in the last place of the result dtype (the
// transcendental functions of libm and of PyTorch's vectorized kernels
// differ in the last bit).
bool Close(double got, double want, ir::DType dtype) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  double rtol = 0, atol = 0;
  switch (dtype) {
    case ir::DType::kFloat64:
      rtol = 1e-13;
      atol = 1e-15;
      break;
    case ir::DType::kFloat32:
      rtol = 3e-6;
      atol = 1e-6;
      break;
    case ir::DType::kFloat16:
      rtol = 1e-3;
      atol = 1e-4;
      break;
    case ir::DType::kBFloat16:
      rtol = 8e-3;
      atol = 1e-3;
      break;
    default:
      return got == want;
  }
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

// Why the case fails, or "".
std::string Check(const Case& c) {
  auto g = ir::ParseGraph(c.graph);
  if (!g.ok()) {
    std::string msg(g.status().message());
    if (c.expect_error &&
        msg.find("disagrees with inference") == std::string::npos &&
        msg.find("line ") != 0) {
      return "";
    }
    return "refused: " + msg;
  }
  auto out = interp::RunGraph(**g, c.inputs);
  if (!out.ok()) {
    if (c.expect_error) return "";
    return "run failed: " + std::string(out.status().message());
  }
  if (c.expect_error) {
    return "accepted a call PyTorch refuses (" + c.error + ")";
  }
  const rt::Tensor& t = (*out)[0].tensor;
  if (t.dtype() != c.expected.dtype) return "wrong dtype";
  if (t.sizes() != c.expected.sizes) return "wrong sizes";
  std::vector<double> got = t.ToDoubles();
  if (got.size() != c.expected.values.size()) return "wrong element count";
  for (size_t i = 0; i < got.size(); ++i) {
    if (!Close(got[i], c.expected.values[i], t.dtype())) {
      std::ostringstream s;
      s.precision(17);
      s << "element " << i << ": got " << got[i] << ", want "
        << c.expected.values[i];
      return s.str();
    }
  }
  return "";
}

TEST(OpGoldenTest, MatchesPyTorch) {
  std::vector<Case> cases = LoadCases();
  ASSERT_GT(cases.size(), 5000u);
  int failures = 0;
  for (const Case& c : cases) {
    std::string why = Check(c);
    if (why.empty()) continue;
    if (++failures <= 60) {
      ADD_FAILURE() << "case " << c.name << ": " << why << "\n" << c.graph;
    }
  }
  EXPECT_EQ(failures, 0) << "of " << cases.size() << " cases";
}

}  // namespace
}  // namespace kiln::ops
