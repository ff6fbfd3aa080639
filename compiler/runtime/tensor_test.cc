#include "compiler/runtime/tensor.h"

#include "compiler/runtime/tensor_proto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::rt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TensorTest, EmptyIsContiguousAndZeroed) {
  Tensor t = Tensor::Empty(DType::kFloat32, {2, 0, 3});
  EXPECT_THAT(t.strides(), ElementsAre(3, 3, 1));
  EXPECT_EQ(t.numel(), 0);
  Tensor u = Tensor::Empty(DType::kInt32, {2, 3});
  EXPECT_THAT(u.ToInts(), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_TRUE(u.IsContiguous());
}

TEST(TensorTest, ViewsShareStorageAndCheckBounds) {
  Tensor t = Tensor::FromDoubles(DType::kFloat64, {2, 3}, {0, 1, 2, 3, 4, 5});
  auto tr = Tensor::View(t, {3, 2}, {1, 3}, 0);
  ASSERT_TRUE(tr.ok());
  EXPECT_THAT(tr->ToDoubles(), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_TRUE(tr->SharesStorageWith(t));
  EXPECT_FALSE(tr->IsContiguous());
  Tensor c = tr->Contiguous();
  EXPECT_FALSE(c.SharesStorageWith(t));
  EXPECT_THAT(c.strides(), ElementsAre(2, 1));
  auto out = Tensor::View(t, {3, 3}, {3, 1}, 0);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("reaches outside"));
}

TEST(TensorTest, FromStorageReinterpretsAndChecksBounds) {
  auto storage = std::make_shared<Storage>(16, /*zero_fill=*/true);
  auto f = Tensor::FromStorage(storage, DType::kFloat32, {2, 2}, {2, 1}, 0);
  ASSERT_TRUE(f.ok()) << f.status();
  auto h = Tensor::FromStorage(storage, DType::kFloat16, {3}, {1}, 5);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(f->SharesStorageWith(*h));
  EXPECT_EQ(h->dtype(), DType::kFloat16);
  auto too_big = Tensor::FromStorage(storage, DType::kFloat64, {3}, {1}, 0);
  EXPECT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("does not fit"));
  EXPECT_FALSE(Tensor::FromStorage(nullptr, DType::kFloat32, {1}, {1}, 0).ok());
}

TEST(TensorTest, ConversionsOnStore) {
  Tensor h = Tensor::FromDoubles(DType::kFloat16, {3}, {0.1, 65520, -1e-8});
  EXPECT_THAT(h.ToDoubles(), ElementsAre(0.0999755859375, INFINITY, -0.0));
  Tensor b = Tensor::FromInts(DType::kBool, {3}, {0, 2, -1});
  EXPECT_THAT(b.ToInts(), ElementsAre(0, 1, 1));
  Tensor u = Tensor::FromInts(DType::kUInt8, {2}, {-1, 256});
  EXPECT_THAT(u.ToInts(), ElementsAre(255, 0));
}

TEST(TensorTest, ProtoRoundTripKeepsLayout) {
  Tensor t = Tensor::FromDoubles(DType::kBFloat16, {2, 3}, {1, 2, 3, 4, 5, 6});
  auto tr = Tensor::View(t, {3, 2}, {1, 3}, 0);
  ASSERT_TRUE(tr.ok());
  v1::Tensor proto;
  TensorToProto(*tr, &proto);
  EXPECT_EQ(proto.raw().size(), 12);
  auto back = TensorFromProto(proto, "t");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(back->strides(), ElementsAre(1, 3));
  EXPECT_THAT(back->ToDoubles(), ElementsAre(1, 4, 2, 5, 3, 6));
  proto.set_raw("abc");
  auto bad = TensorFromProto(proto, "inputs[0].tensor");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("inputs[0].tensor.raw: 3 bytes, expected 12"));
}

TEST(TensorTest, ContiguousBytesAtAStorageOffset) {
  // Dense tensors take one copy each way; the storage offset still counts.
  Tensor t = Tensor::FromDoubles(DType::kFloat32, {6}, {1, 2, 3, 4, 5, 6});
  auto tail = Tensor::View(t, {2, 2}, {2, 1}, 2);
  ASSERT_TRUE(tail.ok());
  v1::Tensor proto;
  TensorToProto(*tail, &proto);
  auto back = TensorFromProto(proto, "t");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->storage_offset(), 2);
  EXPECT_THAT(back->ToDoubles(), ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(back->ContiguousBytes(), tail->ContiguousBytes());
  v1::Tensor flags;
  TensorToProto(Tensor::FromInts(DType::kBool, {3}, {1, 0, 1}), &flags);
  flags.set_raw(std::string("\x01\x00\x02", 3));
  auto bad = TensorFromProto(flags, "inputs[1].tensor");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("inputs[1].tensor.raw: bool element 2 is 2"));
}

}  // namespace
}  // namespace kiln::rt
