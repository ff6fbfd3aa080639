// aten::copy_ into a graph input: the schema's mutation annotation
// (OpDef::mutated_args, MutatedInputs), ATen's checks (broadcast into the
// destination's shape, no internal or partial overlap), and the reference
// implementation writing the caller's input in place, per dtype pair.
#include "compiler/ops/family_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::ops {
namespace {

using family_test::AllDTypes;
using family_test::Iota;
using family_test::Parse;
using family_test::ParseError;
using family_test::RunText;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(MutationOpsTest, SchemaMarksTheMutatedArgument) {
  const OpDef& copy = GetOp("aten::copy_.default");
  EXPECT_EQ(copy.category(), OpCategory::kMutation);
  EXPECT_THAT(copy.mutated_args(), ElementsAre(0));
  EXPECT_THAT(GetOp("aten::clone.default").mutated_args(), IsEmpty());
  EXPECT_THAT(GetOp("aten::view.default").mutated_args(), IsEmpty());
}

TEST(MutationOpsTest, MutatedInputsListsPlaceholdersOnce) {
  auto g = Parse(R"(graph(%x: f32[2, 3], %y: f32[3], %z: i64[2]) {
  %a = aten::expand.default(%y, [2, 3]) : f32[2, 3]{0, 1}
  %c = aten::clone.default(%a) : f32[2, 3]
  %m = aten::copy_.default(%z, %z) : i64[2]
  %n = aten::copy_.default(%x, %c) : f32[2, 3]
  %o = aten::copy_.default(%x, %a) : f32[2, 3]
  return (%c)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(MutatedInputs(**g), ElementsAre(0, 2));
  auto none = Parse(R"(graph(%x: f32[2]) {
  %c = aten::clone.default(%x) : f32[2]
  return (%c)
})");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(MutatedInputs(**none), IsEmpty());
}

TEST(MutationOpsTest, ChecksAsAten) {
  EXPECT_EQ(ParseError(R"(graph(%x: f32[2, 3]{1, 2} offset(1), %y: i32[3]) {
  %m = aten::copy_.default(%x, %y) : f32[2, 3]{1, 2} offset(1)
  return (%m)
})"),
            "");
  EXPECT_EQ(ParseError(R"(graph(%x: f32[1, 3], %y: f32[3]) {
  %m = aten::copy_.default(%x, %y, True) : f32[1, 3]
  return ()
})"),
            "");
  EXPECT_THAT(ParseError(R"(graph(%x: f32[3], %y: f32[1, 3]) {
  %m = aten::copy_.default(%x, %y) : f32[3]
  return ()
})"),
              HasSubstr("output with shape [3] doesn't match the broadcast "
                        "shape [1, 3]"));
  EXPECT_THAT(ParseError(R"(graph(%x: f32[2, 3], %y: f32[2]) {
  %m = aten::copy_.default(%x, %y) : f32[2, 3]
  return ()
})"),
              HasSubstr("do not broadcast"));
  EXPECT_THAT(ParseError(R"(graph(%x: f32[2, 3]{0, 1}, %y: f32[2, 3]) {
  %m = aten::copy_.default(%x, %y) : f32[2, 3]{0, 1}
  return ()
})"),
              HasSubstr("unsupported operation: more than one element of the "
                        "written-to tensor refers to a single memory "
                        "location. Please clone() the tensor before "
                        "performing the operation."));
  // Only graph inputs may be written.
  EXPECT_THAT(ParseError(R"(graph(%x: f32[2], %y: f32[2]) {
  %c = aten::clone.default(%x) : f32[2]
  %m = aten::copy_.default(%c, %y) : f32[2]
  return (%c)
})"),
              HasSubstr("copy_ writes into 'c', which is not a graph input"));
  // The output aliases the input: it has the input's type.
  EXPECT_THAT(ParseError(R"(graph(%x: f32[2, 3]{1, 2}, %y: f32[2, 3]) {
  %m = aten::copy_.default(%x, %y) : f32[2, 3]
  return ()
})"),
              HasSubstr("stride of dimension 0"));
}

TEST(MutationOpsTest, WritesTheCallersInputForEveryDTypePair) {
  for (ir::DType to : AllDTypes()) {
    for (ir::DType from : AllDTypes()) {
      SCOPED_TRACE(ir::ShortName(from) + " -> " + ir::ShortName(to));
      // x is transposed with an offset; src broadcasts along dim 0.
      rt::Tensor x = Iota(to, {2, 3}, {1, 2}, 1);
      rt::Tensor caller = x;  // the client's handle on the same storage
      rt::Tensor src = rt::Tensor::FromDoubles(from, {3}, {1, 0, 5});
      const std::vector<double> old = x.ToDoubles();
      std::string t = ir::ShortName(to), f = ir::ShortName(from);
      auto r =
          RunText("graph(%x: " + t + "[2, 3]{1, 2} offset(1), %y: " + f +
                      "[3]) {\n"
                      "  %before = aten::clone.default(%x) : " +
                      t + "[2, 3]{1, 2}\n" +
                      "  %m = aten::copy_.default(%x, %y) : " + t +
                      "[2, 3]{1, 2} offset(1)\n" + "  return (%before, %m)\n}",
                  {x, src});
      ASSERT_TRUE(r.status.ok()) << r.status;
      std::vector<double> want = {1, 0, 5, 1, 0, 5};
      if (to == ir::DType::kBool || from == ir::DType::kBool) {
        want = {1, 0, 1, 1, 0, 1};  // 5 is True
      }
      // Nodes before the copy_ saw the old values.
      EXPECT_THAT(r.outputs[0].ToDoubles(), ElementsAreArray(old));
      EXPECT_THAT(caller.ToDoubles(), ElementsAreArray(want));
      EXPECT_THAT(r.inputs[0].tensor.ToDoubles(), ElementsAreArray(want));
      EXPECT_TRUE(r.outputs[1].SharesStorageWith(caller));
      EXPECT_THAT(r.outputs[1].ToDoubles(), ElementsAreArray(want));
      EXPECT_THAT(caller.strides(), ElementsAre(1, 2));
      EXPECT_EQ(caller.storage_offset(), 1);
    }
  }
}

TEST(MutationOpsTest, OverlapWithTheSourceAsAten) {
  auto g = Parse(R"(graph(%x: f32[4], %y: f32[4]) {
  %m = aten::copy_.default(%x, %y) : f32[4]
  return (%m)
})");
  ASSERT_TRUE(g.ok()) << g.status();
  rt::Tensor storage =
      rt::Tensor::FromDoubles(ir::DType::kFloat32, {6}, {0, 1, 2, 3, 4, 5});
  auto a = rt::Tensor::View(storage, {4}, {1}, 1);
  auto b = rt::Tensor::View(storage, {4}, {1}, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  // x[1:] = x[:-1] in one storage: ATen refuses partial overlap.
  auto out = interp::RunGraph(
      **g, {RuntimeValue::OfTensor(*a), RuntimeValue::OfTensor(*b)});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("some elements of the input tensor and the written-to "
                        "tensor refer to a single memory location"));
  // The same tensor on both sides is fine (a no-op).
  out = interp::RunGraph(
      **g, {RuntimeValue::OfTensor(*a), RuntimeValue::OfTensor(*a)});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(storage.ToDoubles(), ElementsAre(0, 1, 2, 3, 4, 5));
  // Overlap that is not dense (reversed by strides is impossible here, so
  // an every-other-element source): ATen copies, reading before writing.
  auto g2 = Parse(R"(graph(%x: f32[3], %y: f32[3]{2}) {
  %m = aten::copy_.default(%x, %y) : f32[3]
  return (%m)
})");
  ASSERT_TRUE(g2.ok()) << g2.status();
  auto x = rt::Tensor::View(storage, {3}, {1}, 1);
  auto y = rt::Tensor::View(storage, {3}, {2}, 0);
  ASSERT_TRUE(x.ok() && y.ok());
  out = interp::RunGraph(
      **g2, {RuntimeValue::OfTensor(*x), RuntimeValue::OfTensor(*y)});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(storage.ToDoubles(), ElementsAre(0, 0, 2, 4, 4, 5));
}

}  // namespace
}  // namespace kiln::ops
