#include "compiler/runtime/scalar_math.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace kiln::pw {
namespace {

float F(uint32_t bits) { return BitsToFloat(bits); }

TEST(ScalarMathTest, HalfConversionsRoundToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f).bits, 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f).bits, 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f).bits, 0x7bff);  // largest finite
  EXPECT_EQ(FloatToHalf(65520.0f).bits, 0x7c00);  // rounds up to inf
  EXPECT_EQ(FloatToHalf(65519.0f).bits, 0x7bff);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_EQ(FloatToHalf(-0.0f).bits, 0x8000);
  EXPECT_EQ(FloatToHalf(std::nanf("")).bits & 0x7e00, 0x7e00);
  // 2049 lies halfway between 2048 and 2050: ties to even (2048).
  EXPECT_EQ(HalfToFloat(FloatToHalf(2049.0f)), 2048.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(2051.0f)), 2052.0f);
  // Subnormals: 2^-24 is the smallest, 2^-25 ties to zero, 3*2^-26 rounds up.
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)).bits, 0x0000);
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.0f, -26)).bits, 0x0001);
  EXPECT_EQ(HalfToFloat(Half{0x0001}), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(Half{0x03ff}), 1023 * std::ldexp(1.0f, -24));
  // Every half round-trips through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = HalfToFloat(Half{static_cast<uint16_t>(h)});
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f).bits, h) << h;
  }
}

TEST(ScalarMathTest, BFloat16ConversionsRoundToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(FloatToBFloat16(F(0x3f808000)).bits, 0x3f80);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(F(0x3f818000)).bits, 0x3f82);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(F(0x3f808001)).bits, 0x3f81);
  EXPECT_EQ(FloatToBFloat16(std::nanf("")).bits, 0x7fc0);
  EXPECT_EQ(BFloat16ToFloat(BFloat16{0x4049}), F(0x40490000));
}

TEST(ScalarMathTest, ConvertFollowsATen) {
  EXPECT_EQ(Convert<int8_t>(int64_t{300}), 44);
  EXPECT_EQ(Convert<uint8_t>(int64_t{-1}), 255);
  EXPECT_EQ(Convert<bool>(0.5), true);
  EXPECT_EQ(Convert<bool>(std::nan("")), true);
  EXPECT_EQ(Convert<int64_t>(-2.7), -2);
  EXPECT_EQ(Convert<int64_t>(std::nan("")),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Convert<int32_t>(1e20f), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(Convert<float>(Convert<Half>(0.1)), HalfToFloat(FloatToHalf(0.1f)));
  EXPECT_EQ(Convert<double>(true), 1.0);
}

TEST(ScalarMathTest, IntegerFunctorsNeverTrap) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(DivFloor{}(int64_t{7}, int64_t{0}), 0);
  EXPECT_EQ(DivFloor{}(kMin, int64_t{-1}), kMin);
  EXPECT_EQ(Remainder{}(kMin, int64_t{-1}), 0);
  EXPECT_EQ(Add{}(std::numeric_limits<int64_t>::max(), int64_t{1}, int64_t{1}),
            kMin);
  EXPECT_EQ(Abs{}(kMin), kMin);
}

TEST(ScalarMathTest, PythonSemantics) {
  EXPECT_EQ(DivFloor{}(int64_t{-7}, int64_t{2}), -4);
  EXPECT_EQ(DivFloor{}(-7.0, 2.0), -4.0);
  EXPECT_EQ(Remainder{}(int64_t{-7}, int64_t{3}), 2);
  EXPECT_EQ(Remainder{}(int64_t{7}, int64_t{-3}), -2);
  EXPECT_EQ(Remainder{}(-7.5, 2.0), 0.5);
  EXPECT_EQ(Fmod{}(-7.5, 2.0), -1.5);
  EXPECT_EQ(DivTrunc{}(int64_t{-7}, int64_t{2}), -3);
  EXPECT_TRUE(std::signbit(DivFloor{}(-0.0, 5.0)));
  EXPECT_EQ(Round{}(2.5), 2.0);
  EXPECT_EQ(Round{}(-0.5), -0.0);
  EXPECT_EQ(Pow{}(int64_t{2}, int64_t{-1}), 0);
  EXPECT_EQ(Pow{}(int64_t{-1}, int64_t{-3}), -1);
  EXPECT_EQ(Pow{}(int64_t{3}, int64_t{4}), 81);
  EXPECT_TRUE(std::isnan(Maximum{}(std::nan(""), 1.0)));
  EXPECT_TRUE(std::isnan(Clamp{}(std::nanf(""), 0.0f, 1.0f)));
  EXPECT_EQ(Clamp{}(5.0f, 3.0f, 2.0f), 2.0f);
  EXPECT_EQ(Sign{}(-0.0), 0.0);
  EXPECT_EQ(BitwiseNot{}(true), false);
  EXPECT_EQ(BitwiseNot{}(int64_t{5}), -6);
}

}  // namespace
}  // namespace kiln::pw
