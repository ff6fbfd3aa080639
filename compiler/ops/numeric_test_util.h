// Test helpers of the reduction, normalization, matrix, training and loss op
// tests (on top of family_test_util.h): one-node graphs in IR text whose
// declared output types are what inference must give, and comparisons of
// results with known values, exact for integers and bool and within a few
// units in the last place of floating dtypes.
#ifndef KILN_COMPILER_OPS_NUMERIC_TEST_UTIL_H_
#define KILN_COMPILER_OPS_NUMERIC_TEST_UTIL_H_

#include <cmath>
#include <string>
#include <vector>

#include "compiler/ops/family_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops::family_test {

// `graph(<params>) { %r = <call> : <type>  return (<outputs>) }`.
inline std::string OneReturning(const std::string& params,
                                const std::string& call,
                                const std::string& type,
                                const std::string& outputs) {
  return "graph(" + params + ") {\n  %r = " + call + " : " + type +
         "\n  return (" + outputs + ")\n}";
}

// The same returning every output of %r; `type` is a tuple
// "(f32[2], i64[2])" when there are several.
inline std::string One(const std::string& params, const std::string& call,
                       const std::string& type, int num_outputs = 1) {
  std::string outputs = "%r";
  if (num_outputs > 1) {
    outputs.clear();
    for (int i = 0; i < num_outputs; ++i) {
      outputs += (i ? ", %r#" : "%r#") + std::to_string(i);
    }
  }
  return OneReturning(params, call, type, outputs);
}

// `text` converts: inference agrees with every declared output type.
inline void ExpectConverts(const std::string& text) {
  EXPECT_EQ(ParseError(text), "") << text;
}

// `text` is refused with a message containing `message`.
inline void ExpectError(const std::string& text, const std::string& message) {
  EXPECT_THAT(ParseError(text), ::testing::HasSubstr(message)) << text;
}

// A contiguous tensor of `values` (row-major) converted to `dtype`.
inline rt::Tensor T(ir::DType dtype, const std::vector<int64_t>& sizes,
                    const std::vector<double>& values) {
  return rt::Tensor::FromDoubles(dtype, sizes, values);
}

// The relative tolerance of a result of `dtype` (0 for exact types): a
// couple of units in the last place.
inline double Tolerance(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kFloat16:
      return 2e-3;
    case ir::DType::kBFloat16:
      return 1.6e-2;
    case ir::DType::kFloat32:
      return 2e-6;
    case ir::DType::kFloat64:
      return 1e-12;
    default:
      return 0;
  }
}

// `t` has `dtype`, `sizes` and `values` (row-major; NaN matches NaN), each
// within Tolerance(dtype) * scale relatively (or absolutely near 0).
inline void ExpectTensor(const rt::Tensor& t, ir::DType dtype,
                         const std::vector<int64_t>& sizes,
                         const std::vector<double>& values,
                         double scale = 1.0) {
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(ir::ShortName(t.dtype()), ir::ShortName(dtype));
  ASSERT_EQ(t.sizes(), sizes);
  std::vector<double> got = t.ToDoubles();
  ASSERT_EQ(got.size(), values.size());
  const double tol = Tolerance(dtype) * scale;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(values[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << ": " << got[i];
    } else if (std::isinf(values[i])) {
      EXPECT_EQ(got[i], values[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], values[i], tol * std::max(1.0, std::fabs(values[i])))
          << "element " << i << " (" << ir::ShortName(dtype) << ")";
    }
  }
}

inline const std::vector<ir::DType>& FloatingDTypes() {
  static const auto* all =
      new std::vector<ir::DType>{ir::DType::kFloat16, ir::DType::kBFloat16,
                                 ir::DType::kFloat32, ir::DType::kFloat64};
  return *all;
}

}  // namespace kiln::ops::family_test

#endif  // KILN_COMPILER_OPS_NUMERIC_TEST_UTIL_H_
