// One test body for every backend (Glow's per-backend instantiation): each
// graph is compiled by the backend under test, run on random inputs, and
// compared with the reference interpreter; then serialized, loaded into a
// fresh executable and run again.
//
// Skip list: none. Every backend runs every case.
#include "compiler/backends/backend.h"

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/backends/testing/backend_testing.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::backends {
namespace {

using testing::CloneInputs;
using testing::CompareOutputs;
using ::testing::HasSubstr;
using testing::RandomInputs;

struct GraphCase {
  std::string name;
  std::string text;
  std::vector<sym::Bindings> sizes = {{}};  // one run per binding set
  bool positive = false;                    // inputs in [0.1, 3)
  double tolerance_scale = 1.0;
  // Replaces some random inputs (indices must be in range).
  std::function<void(std::vector<RuntimeValue>&)> fix_inputs;
};

RuntimeValue Ints(ir::DType dtype, const std::vector<int64_t>& sizes,
                  const std::vector<int64_t>& values) {
  return RuntimeValue::OfTensor(rt::Tensor::FromInts(dtype, sizes, values));
}

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Backend> backend_ = *CreateBackend(GetParam());

  // Compiles `c`, runs it for every size set and compares with the
  // interpreter, then does the same through a serialized artifact.
  void Check(const GraphCase& c) {
    SCOPED_TRACE(c.name);
    auto graph = ir::ParseGraph(c.text);
    ASSERT_TRUE(graph.ok()) << graph.status();
    CompileOptions options;
    auto exe = backend_->Compile(**graph, options);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto bytes = (*exe)->Serialize();
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto loaded = backend_->Load(*bytes, LoadOptions());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    uint64_t seed = 1;
    for (const sym::Bindings& b : c.sizes) {
      auto inputs = RandomInputs(**graph, b, seed++, c.positive);
      ASSERT_TRUE(inputs.ok()) << inputs.status();
      if (c.fix_inputs) c.fix_inputs(*inputs);
      auto want = interp::RunGraph(**graph, CloneInputs(*inputs));
      ASSERT_TRUE(want.ok()) << want.status();
      for (const Executable* e : {exe->get(), loaded->get()}) {
        auto got = e->Run(CloneInputs(*inputs));
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(CompareOutputs(*got, *want, {c.tolerance_scale}), "")
            << (e == exe->get() ? "compiled" : "loaded") << "\n"
            << c.text;
      }
    }
  }
};

TEST_P(BackendTest, PointwiseBroadcastAndAlpha) {
  Check({"add_mul_exp", R"(graph(%x: f32[4, 8], %b: f32[8]) {
  %add = aten::add.Tensor(%x, %b, alpha=2) : f32[4, 8]
  %mul = aten::mul.Tensor(%add, %x) : f32[4, 8]
  %exp = aten::exp.default(%mul) : f32[4, 8]
  return (%exp, %add)
})"});
}

TEST_P(BackendTest, PointwiseTransposedAndOffsetInputs) {
  Check({"abs_transposed", R"(graph(%x: f32[3, 4]{1, 3}) {
  %abs = aten::abs.default(%x) : f32[3, 4]{1, 3}
  return (%abs)
})"});
  Check({"neg_offset", R"(graph(%x: f64[5]{2} offset(3)) {
  %neg = aten::neg.default(%x) : f64[5]
  return (%neg)
})"});
}

TEST_P(BackendTest, PointwiseReducedPrecisionAndIntegers) {
  Check({"f16_sigmoid", R"(graph(%x: f16[7, 9], %y: bf16[9]) {
  %s = aten::sigmoid.default(%x) : f16[7, 9]
  %m = aten::mul.Tensor(%s, %y) : f32[7, 9]
  return (%s, %m)
})"});
  Check({"int_ops", R"(graph(%x: i32[6, 5], %y: i64[5], %u: u8[6, 1]) {
  %a = aten::add.Tensor(%x, %y) : i64[6, 5]
  %m = aten::mul.Tensor(%x, %u) : i32[6, 5]
  %lt = aten::lt.Scalar(%u, -1) : b8[6, 1]
  %w = aten::where.self(%lt, %x, %m) : i32[6, 5]
  return (%a, %w)
})"});
}

TEST_P(BackendTest, ScalarInputs) {
  Check({"scalar_inputs", R"(graph(%x: f32[3, 4], %a: float, %n: int) {
  %m = aten::mul.Scalar(%x, %a) : f32[3, 4]
  %add = aten::add.Scalar(%m, %n) : f32[3, 4]
  return (%add)
})"});
}

TEST_P(BackendTest, SymbolicSizesCompileOnceRunEverySize) {
  GraphCase c{"symbolic", R"(graph(%x: f32[s0, 4], %y: f32[s0, 4]) {
  %sub = aten::sub.Tensor(%x, %y) : f32[s0, 4]
  %tanh = aten::tanh.default(%sub) : f32[s0, 4]
  return (%tanh)
})"};
  c.sizes = {{{"s0", 2}}, {{"s0", 3}}, {{"s0", 70001}}};
  Check(c);
}

TEST_P(BackendTest, EmptyAndZeroDimTensors) {
  Check({"empty", R"(graph(%x: f32[0, 3], %s: f32[]) {
  %add = aten::add.Tensor(%x, %s) : f32[0, 3]
  %mul = aten::mul.Tensor(%s, %s) : f32[]
  return (%add, %mul)
})"});
}

TEST_P(BackendTest, Sums) {
  Check(
      {"sums",
       R"(graph(%x: f32[37, 129], %y: f32[5, 6, 7], %z: i32[5, 6, 7], %w: f32[64, 48]{1, 64}) {
  %inner = aten::sum.dim_IntList(%x, [1]) : f32[37]
  %outer = aten::sum.dim_IntList(%x, [0], True) : f32[1, 129]
  %middle = aten::sum.dim_IntList(%y, [1], dtype=torch.float64) : f64[5, 7]
  %all_int = aten::sum.default(%z) : i64[]
  %transposed = aten::sum.dim_IntList(%w, [1]) : f32[64]
  %two = aten::sum.dim_IntList(%y, [0, 2]) : f32[6]
  return (%inner, %outer, %middle, %all_int, %transposed, %two)
})"});
  GraphCase big{"sum_all_large", R"(graph(%x: f32[s0, 512]) {
  %s = aten::sum.default(%x) : f32[]
  %rows = aten::sum.dim_IntList(%x, [1]) : f32[s0]
  %cols = aten::sum.dim_IntList(%x, [0]) : f32[512]
  return (%s, %rows, %cols)
})"};
  big.sizes = {{{"s0", 2}}, {{"s0", 600}}};
  big.tolerance_scale = 20;
  Check(big);
}

TEST_P(BackendTest, MatrixProducts) {
  Check(
      {"mm",
       R"(graph(%a: f32[33, 17], %b: f32[17, 9], %c: f64[33, 17]{1, 33}, %d: f64[17, 9]) {
  %mm = aten::mm.default(%a, %b) : f32[33, 9]
  %mm_t = aten::mm.default(%c, %d) : f64[33, 9]
  return (%mm, %mm_t)
})"});
}

TEST_P(BackendTest, LayoutCopiesAndCreation) {
  Check(
      {"layout", R"(graph(%x: f32[4, 6]{1, 4}, %h: f16[3, 5], %acc: f32[4, 6]) {
  %c = aten::clone.default(%x) : f32[4, 6]{1, 4}
  %cc = aten::clone.default(%x, memory_format=torch.contiguous_format) : f32[4, 6]
  %tc = aten::_to_copy.default(%h, dtype=torch.float32) : f32[3, 5]
  %ti = aten::_to_copy.default(%x, dtype=torch.int32) : i32[4, 6]{1, 4}
  %z = aten::zeros.default([2, 3]) : f32[2, 3]
  %o = aten::ones_like.default(%h) : f16[3, 5]
  %f = aten::full.default([3], 2.5) : f32[3]
  %fi = aten::full.default([3], 7, dtype=torch.int64) : i64[3]
  %a = aten::arange.start_step(1, 10, 2) : i64[5]
  %af = aten::arange.start_step(0.5, 3.0, 0.25, dtype=torch.float32) : f32[10]
  %st = aten::scalar_tensor.default(3.5) : f32[]
  %e = aten::empty.memory_format([2, 2]) : f32[2, 2]
  %cp = aten::copy_.default(%acc, %x) : f32[4, 6]
  return (%c, %cc, %tc, %ti, %z, %o, %f, %fi, %a, %af, %st, %e)
})"});
}

TEST_P(BackendTest, SoftmaxFamily) {
  Check(
      {"softmax",
       R"(graph(%x: f32[5, 37], %h: f16[4, 9], %g: f32[5, 37], %t: f64[6, 3]{1, 6}) {
  %sm = aten::_softmax.default(%x, 1, False) : f32[5, 37]
  %sm0 = aten::_softmax.default(%x, 0, False) : f32[5, 37]
  %lsm = aten::_log_softmax.default(%x, -1, False) : f32[5, 37]
  %hf = aten::_softmax.default(%h, 1, False) : f16[4, 9]
  %ht = aten::_log_softmax.default(%t, 1, False) : f64[6, 3]
  %smb = aten::_softmax_backward_data.default(%g, %sm, 1, torch.float32) : f32[5, 37]
  %lsmb = aten::_log_softmax_backward_data.default(%g, %lsm, 1, torch.float32) : f32[5, 37]
  return (%sm, %sm0, %lsm, %hf, %ht, %smb, %lsmb)
})"});
}

TEST_P(BackendTest, LayerNormForwardAndBackward) {
  GraphCase c{
      "layer_norm",
      R"(graph(%x: f32[6, 7, 32], %w: f32[32], %b: f32[32], %dy: f32[6, 7, 32], %y: f64[4, 3, 5]{15, 1, 3}) {
  %ln = aten::native_layer_norm.default(%x, [32], %w, %b, 1e-05) : (f32[6, 7, 32], f32[6, 7, 1], f32[6, 7, 1])
  %ln2 = aten::native_layer_norm.default(%y, [3, 5], None, None, 0.001) : (f64[4, 3, 5], f64[4, 1, 1], f64[4, 1, 1])
  %bw = aten::native_layer_norm_backward.default(%dy, %x, [32], %ln#1, %ln#2, %w, %b, [True, True, True]) : (f32[6, 7, 32], f32[32], f32[32])
  %bw2 = aten::native_layer_norm_backward.default(%dy, %x, [32], %ln#1, %ln#2, None, None, [True, False, False]) : (f32[6, 7, 32], None, None)
  return (%ln#0, %ln#1, %ln#2, %ln2#0, %ln2#1, %ln2#2, %bw#0, %bw#1, %bw#2, %bw2#0)
})"};
  c.tolerance_scale = 10;
  Check(c);
}

TEST_P(BackendTest, DataMovement) {
  GraphCase c{
      "data",
      R"(graph(%x: f32[4, 6], %y: f32[4, 3], %z: f64[2, 6], %i: i64[5], %w: f32[10, 8], %ix: i32[2, 3], %gi: i64[4, 2], %go: f32[2, 3, 8], %t: f32[3, 5]{1, 3}) {
  %c1 = aten::cat.default([%x, %y], 1) : f32[4, 9]
  %c0 = aten::cat.default([%x, %z, %x]) : f64[10, 6]
  %is = aten::index_select.default(%x, 1, %i) : f32[4, 5]
  %e = aten::embedding.default(%w, %ix) : f32[2, 3, 8]
  %g = aten::gather.default(%x, 1, %gi) : f32[4, 2]
  %eb = aten::embedding_dense_backward.default(%go, %ix, 10, 2, False) : f32[10, 8]
  %ebs = aten::embedding_dense_backward.default(%go, %ix, 10, -1, True) : f32[10, 8]
  %p = aten::constant_pad_nd.default(%t, [1, 2, -1, 1], 0.5) : f32[3, 8]
  return (%c1, %c0, %is, %e, %g, %eb, %ebs, %p)
})"};
  c.fix_inputs = [](std::vector<RuntimeValue>& in) {
    in[3] = Ints(ir::DType::kInt64, {5}, {5, 0, 2, 2, 1});
    in[5] = Ints(ir::DType::kInt32, {2, 3}, {9, 2, 0, 2, 4, 2});
    in[6] = Ints(ir::DType::kInt64, {4, 2}, {0, 5, 1, 1, 3, 2, 5, 4});
  };
  Check(c);
}

TEST_P(BackendTest, Reductions) {
  GraphCase c{
      "reductions",
      R"(graph(%x: f32[5, 37], %i: i32[4, 6], %b: b8[3, 4], %h: f16[6, 40]) {
  %mean = aten::mean.dim(%x, [1]) : f32[5]
  %amax = aten::amax.default(%x, [0]) : f32[37]
  %amin = aten::amin.default(%i, [1], True) : i32[4, 1]
  %mx = aten::max.dim(%x, 1) : (f32[5], i64[5])
  %mn = aten::min.dim(%h, 0, True) : (f16[1, 40], i64[1, 40])
  %am = aten::argmax.default(%x) : i64[]
  %amn = aten::argmin.default(%i, 1) : i64[4]
  %var = aten::var.correction(%x, [1]) : f32[5]
  %std = aten::std.correction(%h, [0], correction=0) : f16[40]
  %any = aten::any.dim(%b, 1) : b8[3]
  %all = aten::all.default(%b) : b8[]
  %prod = aten::prod.dim_int(%i, 0) : i64[6]
  %mx_all = aten::max.default(%h) : f16[]
  %hmean = aten::mean.default(%h) : f16[]
  return (%mean, %amax, %amin, %mx#0, %mx#1, %mn#0, %mn#1, %am, %amn, %var, %std, %any, %all, %prod, %mx_all, %hmean)
})"};
  c.tolerance_scale = 10;
  Check(c);
}

TEST_P(BackendTest, ExtremaPropagateNaN) {
  GraphCase c{"nan_extrema", R"(graph(%x: f32[4, 70], %y: f32[70, 4]) {
  %amax = aten::amax.default(%x, [1]) : f32[4]
  %amin = aten::amin.default(%y, [0]) : f32[4]
  %mx = aten::max.dim(%x, 1) : (f32[4], i64[4])
  %am = aten::argmin.default(%y, 0) : i64[4]
  %all = aten::max.default(%x) : f32[]
  return (%amax, %amin, %mx#0, %mx#1, %am, %all)
})"};
  c.fix_inputs = [](std::vector<RuntimeValue>& in) {
    for (int t = 0; t < 2; ++t) {
      rt::Tensor& x = in[t].tensor;
      // NaN in row/column 1 (early) and 2 (late), plus ties elsewhere.
      int64_t a[2] = {1, 3}, b[2] = {2, 66};
      if (t == 1) {
        std::swap(a[0], a[1]);
        std::swap(b[0], b[1]);
      }
      rt::StoreScalar(rt::Scalar::Float(NAN), ir::DType::kFloat32,
                      x.ElementPtr(a));
      rt::StoreScalar(rt::Scalar::Float(NAN), ir::DType::kFloat32,
                      x.ElementPtr(b));
    }
  };
  Check(c);
}

TEST_P(BackendTest, IndexOutOfRangeIsAnError) {
  auto graph = ir::ParseGraph(R"(graph(%w: f32[10, 8], %ix: i64[3]) {
  %e = aten::embedding.default(%w, %ix) : f32[3, 8]
  return (%e)
})");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exe = backend_->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto got = (*exe)->Run(
      {RuntimeValue::OfTensor(rt::Tensor::Empty(ir::DType::kFloat32, {10, 8})),
       Ints(ir::DType::kInt64, {3}, {1, 10, 2})});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("nodes[0]"));
}

TEST_P(BackendTest, CopyIntoAnInputMutatesIt) {
  auto graph = ir::ParseGraph(R"(graph(%x: f32[4, 3], %acc: f64[4, 3]) {
  %y = aten::mul.Tensor(%x, %x) : f32[4, 3]
  %c = aten::copy_.default(%acc, %y) : f64[4, 3]
  return (%y)
})");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exe = backend_->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_EQ((*exe)->mutated_inputs(), std::vector<int>{1});
  auto inputs = RandomInputs(**graph, {}, 3);
  ASSERT_TRUE(inputs.ok());
  auto got = (*exe)->Run(*inputs);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<double> y = (*got)[0].tensor.ToDoubles();
  std::vector<double> acc = (*inputs)[1].tensor.ToDoubles();
  ASSERT_EQ(y.size(), acc.size());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], acc[i]) << i;
}

TEST_P(BackendTest, FusedKernels) {
  // After the default pipeline: reductions with prologues (one of them a
  // kernel output), epilogues and epilogue inputs, a column reduction with
  // keepdim, max.dim, softmax with a prologue and an epilogue, log_softmax
  // along dim 0, layer norm with a residual prologue and mean/rstd outputs,
  // a float16 chain, and a symbolic scalar inside a body.
  GraphCase c{
      "fused",
      R"(graph(%x: f32[16, 300], %y: f32[16, 300], %b: f32[16], %s: f32[300], %w: f32[300], %h: f16[16, 300]) {
  %m = aten::mul.Tensor(%x, %y) : f32[16, 300]
  %e = aten::exp.default(%m) : f32[16, 300]
  %sum = aten::sum.dim_IntList(%e, [1]) : f32[16]
  %d = aten::div.Tensor(%sum, %b) : f32[16]
  %l = aten::log.default(%d) : f32[16]
  %t = aten::tanh.default(%y) : f32[16, 300]
  %c = aten::sum.dim_IntList(%t, [0], True) : f32[1, 300]
  %n = aten::neg.default(%c) : f32[1, 300]
  %a = aten::abs.default(%x) : f32[16, 300]
  %mx = aten::max.dim(%a, 1) : (f32[16], i64[16])
  %p = aten::mul.Tensor(%x, %s) : f32[16, 300]
  %sm = aten::_softmax.default(%p, 1, False) : f32[16, 300]
  %q = aten::mul.Tensor(%sm, %y) : f32[16, 300]
  %lsm = aten::_log_softmax.default(%p, 0, False) : f32[16, 300]
  %r = aten::add.Tensor(%x, %y) : f32[16, 300]
  %ln = aten::native_layer_norm.default(%r, [300], %w, %s, 1e-05) : (f32[16, 300], f32[16, 1], f32[16, 1])
  %relu = aten::relu.default(%ln#0) : f32[16, 300]
  %hs = aten::sigmoid.default(%h) : f16[16, 300]
  %hm = aten::mul.Tensor(%hs, %h) : f16[16, 300]
  %hsum = aten::sum.dim_IntList(%hm, [1]) : f16[16]
  return (%l, %e, %n, %mx#0, %mx#1, %q, %lsm, %relu, %ln#1, %ln#2, %r, %hm, %hsum)
})"};
  c.tolerance_scale = 10;
  Check(c);
  GraphCase sym{"fused_symbolic", R"(graph(%x: f32[s0, 8], %y: f32[s0, 8]) {
  %a = aten::mul.Scalar(%x, s0) : f32[s0, 8]
  %b = aten::add.Tensor(%a, %y, alpha=2) : f32[s0, 8]
  %sum = aten::sum.dim_IntList(%b, [0]) : f32[8]
  %c = aten::mul.Scalar(%sum, s0) : f32[8]
  return (%c, %b)
})"};
  sym.sizes = {{{"s0", 3}}, {{"s0", 1000}}};
  sym.tolerance_scale = 50;
  Check(sym);
}

TEST_P(BackendTest, ViewsAndOutputAliases) {
  auto graph = ir::ParseGraph(R"(graph(%x: f32[4, 6]) {
  %v = aten::view.default(%x, [6, 4]) : f32[6, 4]
  %t = aten::t.default(%v) : f32[4, 6]{1, 4}
  %e = aten::exp.default(%t) : f32[4, 6]{1, 4}
  return (%t, %e)
})");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exe = backend_->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  ASSERT_EQ((*exe)->output_aliases().size(), 2u);
  EXPECT_EQ((*exe)->output_aliases()[0].aliases_input, 0);
  EXPECT_EQ((*exe)->output_aliases()[1].aliases_input, -1);
  auto inputs = RandomInputs(**graph, {}, 7);
  ASSERT_TRUE(inputs.ok());
  auto got = (*exe)->Run(*inputs);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)[0].tensor.SharesStorageWith((*inputs)[0].tensor));
  auto want = interp::RunGraph(**graph, *inputs);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(CompareOutputs(*got, *want), "");
}

TEST_P(BackendTest, IntegerDivisionByZeroIsAnError) {
  auto graph = ir::ParseGraph(R"(graph(%x: i64[4], %y: i64[4]) {
  %d = aten::div.Tensor_mode(%x, %y, rounding_mode="trunc") : i64[4]
  return (%d)
})");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto exe = backend_->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  std::vector<RuntimeValue> inputs = {
      RuntimeValue::OfTensor(
          rt::Tensor::FromInts(ir::DType::kInt64, {4}, {1, 2, 3, 4})),
      RuntimeValue::OfTensor(
          rt::Tensor::FromInts(ir::DType::kInt64, {4}, {1, 0, 3, 4}))};
  auto got = (*exe)->Run(inputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("ZeroDivisionError"));
  EXPECT_THAT(got.status().message(), HasSubstr("nodes[0]"));
}

TEST_P(BackendTest, BadInputsAreRefused) {
  auto graph = ir::ParseGraph(R"(graph(%x: f32[s0, 4]) {
  %n = aten::neg.default(%x) : f32[s0, 4]
  return (%n)
})");
  ASSERT_TRUE(graph.ok());
  auto exe = backend_->Compile(**graph, CompileOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto wrong_dtype = (*exe)->Run(
      {RuntimeValue::OfTensor(rt::Tensor::Empty(ir::DType::kFloat64, {2, 4}))});
  EXPECT_EQ(wrong_dtype.status().code(), absl::StatusCode::kInvalidArgument);
  auto wrong_size = (*exe)->Run(
      {RuntimeValue::OfTensor(rt::Tensor::Empty(ir::DType::kFloat32, {2, 5}))});
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*exe)->Run({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(BackendTest, LoadRejectsOtherArtifacts) {
  EXPECT_FALSE(backend_->Load("not an artifact", LoadOptions()).ok());
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BackendTest,
                         ::testing::Values("interpreter", "cpu"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::backends
