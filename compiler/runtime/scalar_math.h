// Scalar semantics shared by the reference interpreter and generated kernels.
//
// This header is self-contained on purpose (only the C++ standard library):
// code generators paste or include it into every generated kernel source, so
// that a compiled kernel and the interpreter compute every element with the
// same functions. Everything is a constexpr-free inline function or a
// stateless functor; thread-safe.
//
// Contents:
//  * Half / BFloat16 storage types and their conversions (round to nearest
//    even, exactly as c10::Half and c10::BFloat16);
//  * Convert<To>(from): ATen's static_cast semantics between element types
//    (double -> half goes through float, as c10 does);
//  * one functor per pointwise scalar function (`kiln::pw::Add{}(a, b,
//    alpha)`), templated on the compute type T, which is float (for f16,
//    bf16 and f32: ATen's opmath type), double, int64_t (all integer dtypes)
//    or bool. Integer functors never trap: division by zero yields 0 (the
//    interpreter reports ZeroDivisionError separately, as ATen does).
//
// CUDA: under nvcc/NVRTC, KILN_PW_FN adds __host__ __device__ and the
// standard math functions resolve to CUDA's overloads.
#ifndef KILN_COMPILER_RUNTIME_SCALAR_MATH_H_
#define KILN_COMPILER_RUNTIME_SCALAR_MATH_H_

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define KILN_PW_FN __host__ __device__ inline
#else
#define KILN_PW_FN inline
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#endif

namespace kiln {
namespace pw {

#if !defined(__CUDACC_RTC__)
using std::abs;
using std::acos;
using std::asin;
using std::atan;
using std::atan2;
using std::ceil;
using std::copysign;
using std::cos;
using std::cosh;
using std::erf;
using std::exp;
using std::exp2;
using std::expm1;
using std::floor;
using std::fmod;
using std::log;
using std::log1p;
using std::log2;
using std::nearbyint;
using std::pow;
using std::sin;
using std::sinh;
using std::sqrt;
using std::tan;
using std::tanh;
using std::trunc;
#endif

// ---------------------------------------------------------------------------
// Reduced-precision storage types.

struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

KILN_PW_FN uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}
KILN_PW_FN float BitsToFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__) && defined(__F16C__) && \
    defined(__FLT16_MAX__)
// x86 with F16C (generated CPU kernels): the hardware conversions, which
// round the same way (nearest even, subnormals included) and quiet NaNs
// keeping their sign; only a NaN's payload bits may differ from the
// portable code below.
#define KILN_PW_HARDWARE_HALF 1
KILN_PW_FN float HalfToFloat(Half h) {
  _Float16 f;
  memcpy(&f, &h.bits, sizeof(f));
  return static_cast<float>(f);
}
KILN_PW_FN Half FloatToHalf(float x) {
  _Float16 f = static_cast<_Float16>(x);
  Half h;
  memcpy(&h.bits, &f, sizeof(f));
  return h;
}
#else
KILN_PW_FN float HalfToFloat(Half h) {
  uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  uint32_t e = (h.bits >> 10) & 0x1fu;
  uint32_t m = h.bits & 0x3ffu;
  if (e == 0) {
    float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return BitsToFloat(sign | 0x7f800000u | (m << 13));
  return BitsToFloat(sign | ((e + 112) << 23) | (m << 13));
}

// Round to nearest even; NaN becomes the quiet NaN 0x7e00 with its sign.
KILN_PW_FN Half FloatToHalf(float f) {
  uint32_t x = FloatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    return Half{
        static_cast<uint16_t>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u))};
  }
  if (a >= 0x477ff000u) return Half{static_cast<uint16_t>(sign | 0x7c00u)};
  if (a < 0x38800000u) {  // below the smallest normal half, 2^-14
    if (a < 0x33000000u) return Half{sign};  // below 2^-25 rounds to zero
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
    return Half{static_cast<uint16_t>(sign | r)};
  }
  uint32_t r = (a - 0x38000000u) >> 13;
  uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return Half{static_cast<uint16_t>(sign | r)};
}
#endif  // hardware half

KILN_PW_FN float BFloat16ToFloat(BFloat16 b) {
  return BitsToFloat(static_cast<uint32_t>(b.bits) << 16);
}

// c10::BFloat16's round_to_nearest_even; NaN becomes 0x7fc0.
KILN_PW_FN BFloat16 FloatToBFloat16(float f) {
  // Branch-free, so that loops over bfloat16 vectorize.
  uint32_t u = FloatBits(f);
  uint32_t bias = ((u >> 16) & 1u) + 0x7fffu;
  uint16_t rounded = static_cast<uint16_t>((u + bias) >> 16);
  return BFloat16{f != f ? static_cast<uint16_t>(0x7fc0u) : rounded};
}

// ---------------------------------------------------------------------------
// Conversions with ATen's semantics.

namespace internal {

template <class T>
struct IsReduced : std::false_type {};
template <>
struct IsReduced<Half> : std::true_type {};
template <>
struct IsReduced<BFloat16> : std::true_type {};

// Floating -> integer as x86 does it (cvttss2si): NaN and out-of-range
// values give the minimum of int64 (for 64-bit targets) or of int32 (for
// narrower ones, then truncated), never undefined behaviour.
template <class To, class F>
KILN_PW_FN To FloatToInt(F x) {
  if (sizeof(To) == 8) {
    if (!(x >= F(-9223372036854775808.0) && x < F(9223372036854775808.0))) {
      return static_cast<To>(static_cast<uint64_t>(1) << 63);
    }
    return static_cast<To>(static_cast<int64_t>(x));
  }
  int32_t v;
  if (!(x >= F(-2147483648.0) && x < F(2147483648.0))) {
    v = static_cast<int32_t>(0x80000000u);
  } else {
    v = static_cast<int32_t>(x);
  }
  return static_cast<To>(v);
}

}  // namespace internal

template <class To, class From>
KILN_PW_FN To Convert(From x) {
  if constexpr (std::is_same<From, Half>::value) {
    return Convert<To>(HalfToFloat(x));
  } else if constexpr (std::is_same<From, BFloat16>::value) {
    return Convert<To>(BFloat16ToFloat(x));
  } else if constexpr (std::is_same<To, Half>::value) {
    return FloatToHalf(static_cast<float>(x));
  } else if constexpr (std::is_same<To, BFloat16>::value) {
    return FloatToBFloat16(static_cast<float>(x));
  } else if constexpr (std::is_same<To, bool>::value) {
    return x != From(0);
  } else if constexpr (std::is_integral<To>::value &&
                       std::is_floating_point<From>::value) {
    return internal::FloatToInt<To>(x);
  } else if constexpr (std::is_integral<To>::value &&
                       std::is_integral<From>::value) {
    // Two's complement wrap-around.
    return static_cast<To>(static_cast<uint64_t>(static_cast<int64_t>(x)));
  } else {
    return static_cast<To>(x);
  }
}

// ---------------------------------------------------------------------------
// Helpers.

template <class T>
KILN_PW_FN bool IsNanT(T x) {
  if constexpr (std::is_floating_point<T>::value) {
    return x != x;
  } else {
    return false;
  }
}

template <class T>
constexpr bool kIsFloat = std::is_floating_point<T>::value;
template <class T>
constexpr bool kIsBool = std::is_same<T, bool>::value;
template <class T>
constexpr bool kIsInt = std::is_integral<T>::value && !kIsBool<T>;

// Wrapping integer arithmetic (int64 overflow is not undefined here).
template <class T>
KILN_PW_FN T WrapAdd(T a, T b) {
  if constexpr (kIsInt<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}
template <class T>
KILN_PW_FN T WrapSub(T a, T b) {
  if constexpr (kIsInt<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  } else {
    return a - b;
  }
}
template <class T>
KILN_PW_FN T WrapMul(T a, T b) {
  if constexpr (kIsInt<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else if constexpr (kIsBool<T>) {
    return a && b;
  } else {
    return a * b;
  }
}
// Truncating integer division that never traps (x/0 -> 0, MIN/-1 -> MIN).
template <class T>
KILN_PW_FN T SafeDiv(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return WrapSub<T>(0, a);
  return a / b;
}
template <class T>
KILN_PW_FN T SafeMod(T a, T b) {
  if (b == 0 || b == -1) return 0;
  return a % b;
}

// ---------------------------------------------------------------------------
// Pointwise functors. Operands arrive already converted to the compute type
// T; the result is converted to the node's result dtype by the caller.

#define KILN_PW_UNARY_FLOAT(Name, expr)                      \
  struct Name {                                              \
    template <class T>                                       \
    KILN_PW_FN T operator()(T x) const {                     \
      if constexpr (kIsFloat<T>) {                           \
        return expr;                                         \
      } else {                                               \
        return T(0); /* integer inputs are promoted first */ \
      }                                                      \
    }                                                        \
  };

KILN_PW_UNARY_FLOAT(Exp, exp(x))
KILN_PW_UNARY_FLOAT(Exp2, exp2(x))
KILN_PW_UNARY_FLOAT(Expm1, expm1(x))
KILN_PW_UNARY_FLOAT(Log, log(x))
KILN_PW_UNARY_FLOAT(Log2, log2(x))
KILN_PW_UNARY_FLOAT(Log1p, log1p(x))
KILN_PW_UNARY_FLOAT(Sqrt, sqrt(x))
KILN_PW_UNARY_FLOAT(Rsqrt, T(1) / sqrt(x))
KILN_PW_UNARY_FLOAT(Reciprocal, T(1) / x)
KILN_PW_UNARY_FLOAT(Sin, sin(x))
KILN_PW_UNARY_FLOAT(Cos, cos(x))
KILN_PW_UNARY_FLOAT(Tan, tan(x))
KILN_PW_UNARY_FLOAT(Asin, asin(x))
KILN_PW_UNARY_FLOAT(Acos, acos(x))
KILN_PW_UNARY_FLOAT(Atan, atan(x))
KILN_PW_UNARY_FLOAT(Sinh, sinh(x))
KILN_PW_UNARY_FLOAT(Cosh, cosh(x))
KILN_PW_UNARY_FLOAT(Tanh, tanh(x))
KILN_PW_UNARY_FLOAT(Erf, erf(x))
KILN_PW_UNARY_FLOAT(Sigmoid, T(1) / (T(1) + exp(-x)))
KILN_PW_UNARY_FLOAT(Silu, x / (T(1) + exp(-x)))
// gelu(approximate='none'): x * 0.5 * (1 + erf(x / sqrt(2))).
KILN_PW_UNARY_FLOAT(Gelu,
                    x* T(0.5) * (T(1) + erf(x * T(0.70710678118654752440))))
// gelu(approximate='tanh'):
// 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
KILN_PW_UNARY_FLOAT(GeluTanh, T(0.5) * x *
                                  (T(1) + tanh(T(0.79788456080286535588) *
                                               (x + T(0.044715) * x * x * x))))
#undef KILN_PW_UNARY_FLOAT

// floor / ceil / round / trunc: identity on integers.
#define KILN_PW_ROUNDING(Name, fn)       \
  struct Name {                          \
    template <class T>                   \
    KILN_PW_FN T operator()(T x) const { \
      if constexpr (kIsFloat<T>) {       \
        return fn(x);                    \
      } else {                           \
        return x;                        \
      }                                  \
    }                                    \
  };
KILN_PW_ROUNDING(Floor, floor)
KILN_PW_ROUNDING(Ceil, ceil)
KILN_PW_ROUNDING(Round, nearbyint)  // half to even, like torch.round
KILN_PW_ROUNDING(Trunc, trunc)
#undef KILN_PW_ROUNDING

// torch.round(x, decimals=d) (floating only).
struct RoundDecimals {
  template <class T>
  KILN_PW_FN T operator()(T x, T decimals) const {
    if constexpr (kIsFloat<T>) {
      bool neg = decimals < 0;
      T ten_pow = pow(T(10), neg ? -decimals : decimals);
      return neg ? nearbyint(x / ten_pow) * ten_pow
                 : nearbyint(x * ten_pow) / ten_pow;
    } else {
      return x;
    }
  }
};

struct Abs {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    if constexpr (kIsFloat<T>) {
      return abs(x);
    } else if constexpr (kIsInt<T>) {
      return x < 0 ? WrapSub<T>(0, x) : x;
    } else {
      return x;
    }
  }
};

struct Neg {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    if constexpr (kIsBool<T>) {
      return x;
    } else {
      return WrapSub<T>(T(0), x);
    }
  }
};

struct Sign {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    if constexpr (kIsBool<T>) {
      return x;
    } else {
      return static_cast<T>(static_cast<int>(T(0) < x) -
                            static_cast<int>(x < T(0)));
    }
  }
};

struct Relu {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    if (IsNanT(x)) return x;
    return x < T(0) ? T(0) : x;
  }
};

struct LeakyRelu {
  template <class T>
  KILN_PW_FN T operator()(T x, T slope) const {
    return x > T(0) ? x : x * slope;
  }
};

struct LogicalNot {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    return static_cast<T>(!(x != T(0)));
  }
};

struct BitwiseNot {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    if constexpr (kIsBool<T>) {
      return !x;
    } else if constexpr (kIsInt<T>) {
      return ~x;
    } else {
      return x;
    }
  }
};

struct IsNan {
  template <class T>
  KILN_PW_FN T operator()(T x) const {
    return static_cast<T>(IsNanT(x));
  }
};

// clamp(x, lo, hi) propagates NaN from x; with lo > hi the result is hi.
struct Clamp {
  template <class T>
  KILN_PW_FN T operator()(T x, T lo, T hi) const {
    if (IsNanT(x)) return x;
    if (IsNanT(lo) || IsNanT(hi)) return IsNanT(lo) ? lo : hi;
    T y = x < lo ? lo : x;
    return y > hi ? hi : y;
  }
};
struct ClampMin {
  template <class T>
  KILN_PW_FN T operator()(T x, T lo) const {
    if (IsNanT(x) || IsNanT(lo)) return IsNanT(x) ? x : lo;
    return x < lo ? lo : x;
  }
};
struct ClampMax {
  template <class T>
  KILN_PW_FN T operator()(T x, T hi) const {
    if (IsNanT(x) || IsNanT(hi)) return IsNanT(x) ? x : hi;
    return x > hi ? hi : x;
  }
};

// add: a + alpha * b; sub: a - alpha * b.
struct Add {
  template <class T>
  KILN_PW_FN T operator()(T a, T b, T alpha) const {
    if constexpr (kIsBool<T>) {
      return a || (alpha && b);
    } else {
      return WrapAdd<T>(a, WrapMul<T>(alpha, b));
    }
  }
};
struct Sub {
  template <class T>
  KILN_PW_FN T operator()(T a, T b, T alpha) const {
    return WrapSub<T>(a, WrapMul<T>(alpha, b));
  }
};
struct Mul {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    return WrapMul<T>(a, b);
  }
};
// True division (operands are floating by promotion).
struct Div {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      return a / b;
    } else {
      return SafeDiv<T>(a, b);
    }
  }
};
// div(rounding_mode='trunc').
struct DivTrunc {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      return trunc(a / b);
    } else {
      return SafeDiv<T>(a, b);
    }
  }
};
// div(rounding_mode='floor') and floor_divide, as c10::div_floor_*.
struct DivFloor {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      if (b == T(0)) return a / b;
      T mod = fmod(a, b);
      T div = (a - mod) / b;
      if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
      T floordiv;
      if (div != T(0)) {
        floordiv = floor(div);
        if (div - floordiv > T(0.5)) floordiv += T(1);
      } else {
        floordiv = copysign(T(0), a / b);
      }
      return floordiv;
    } else {
      if (b == 0) return 0;
      T q = SafeDiv<T>(a, b);
      if ((a < 0) != (b < 0) && SafeMod<T>(a, b) != 0) return q - 1;
      return q;
    }
  }
};

// Integer power as ATen's powi: negative exponents give 0 except for bases
// 1 and -1.
template <class T>
KILN_PW_FN T PowInt(T a, T b) {
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b % 2) ? T(-1) : T(1);
    return 0;
  }
  T result = 1;
  while (b) {
    if (b & 1) result = WrapMul<T>(result, a);
    b >>= 1;
    a = WrapMul<T>(a, a);
  }
  return result;
}

struct Pow {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      return pow(a, b);
    } else if constexpr (kIsInt<T>) {
      return PowInt<T>(a, b);
    } else {
      return a || !b;
    }
  }
};
// pow(Tensor, Scalar exponent): ATen's fast paths for common exponents.
struct PowScalar {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      if (b == T(2)) return a * a;
      if (b == T(3)) return a * a * a;
      if (b == T(0.5)) return sqrt(a);
      if (b == T(-0.5)) return T(1) / sqrt(a);
      if (b == T(-1)) return T(1) / a;
      if (b == T(-2)) return T(1) / (a * a);
      return pow(a, b);
    } else {
      return Pow{}(a, b);
    }
  }
};

// maximum / minimum propagate NaN.
struct Maximum {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if (IsNanT(a)) return a;
    if (IsNanT(b)) return b;
    return a < b ? b : a;
  }
};
struct Minimum {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if (IsNanT(a)) return a;
    if (IsNanT(b)) return b;
    return b < a ? b : a;
  }
};

struct Fmod {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      return fmod(a, b);
    } else {
      return SafeMod<T>(a, b);
    }
  }
};
// Python's %: the result takes the divisor's sign.
struct Remainder {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      T mod = fmod(a, b);
      if (mod != T(0) && (b < T(0)) != (mod < T(0))) mod += b;
      return mod;
    } else {
      T r = SafeMod<T>(a, b);
      if (r != 0 && (r < 0) != (b < 0)) r += b;
      return r;
    }
  }
};

struct Atan2 {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    if constexpr (kIsFloat<T>) {
      return atan2(a, b);
    } else {
      return T(0);
    }
  }
};

#define KILN_PW_COMPARE(Name, op)             \
  struct Name {                               \
    template <class T>                        \
    KILN_PW_FN T operator()(T a, T b) const { \
      return static_cast<T>(a op b);          \
    }                                         \
  };
KILN_PW_COMPARE(Eq, ==)
KILN_PW_COMPARE(Ne, !=)
KILN_PW_COMPARE(Lt, <)
KILN_PW_COMPARE(Le, <=)
KILN_PW_COMPARE(Gt, >)
KILN_PW_COMPARE(Ge, >=)
#undef KILN_PW_COMPARE

struct LogicalAnd {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    return static_cast<T>((a != T(0)) && (b != T(0)));
  }
};
struct LogicalOr {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    return static_cast<T>((a != T(0)) || (b != T(0)));
  }
};
struct LogicalXor {
  template <class T>
  KILN_PW_FN T operator()(T a, T b) const {
    return static_cast<T>((a != T(0)) != (b != T(0)));
  }
};

#define KILN_PW_BITWISE(Name, op)             \
  struct Name {                               \
    template <class T>                        \
    KILN_PW_FN T operator()(T a, T b) const { \
      if constexpr (kIsFloat<T>) {            \
        return T(0);                          \
      } else {                                \
        return static_cast<T>(a op b);        \
      }                                       \
    }                                         \
  };
KILN_PW_BITWISE(BitwiseAnd, &)
KILN_PW_BITWISE(BitwiseOr, |)
KILN_PW_BITWISE(BitwiseXor, ^)
#undef KILN_PW_BITWISE

// where(condition, a, b); the condition arrives as 0 or 1 in T.
struct Where {
  template <class T>
  KILN_PW_FN T operator()(T cond, T a, T b) const {
    return cond != T(0) ? a : b;
  }
};

// ---------------------------------------------------------------------------
// Backward functors of training graphs (compiler/ops/training_ops.cc), with
// ATen's formulas and operand order. Floating compute types only, except
// ThresholdBackward.

// threshold_backward(grad, self, threshold): grad where self > threshold, else
// 0 (a NaN `self` keeps the gradient, as in ATen).
struct ThresholdBackward {
  template <class T>
  KILN_PW_FN T operator()(T self, T threshold, T grad) const {
    return self <= threshold ? T(0) : grad;
  }
};

// sigmoid_backward(grad, y) = grad * (1 - y) * y.
struct SigmoidBackward {
  template <class T>
  KILN_PW_FN T operator()(T grad, T y) const {
    if constexpr (kIsFloat<T>) {
      return grad * (T(1) - y) * y;
    } else {
      return T(0);  // floating only
    }
  }
};

// tanh_backward(grad, y) = grad * (1 - y * y).
struct TanhBackward {
  template <class T>
  KILN_PW_FN T operator()(T grad, T y) const {
    if constexpr (kIsFloat<T>) {
      return grad * (T(1) - y * y);
    } else {
      return T(0);  // floating only
    }
  }
};

// gelu_backward(grad, x, approximate='none'):
// grad * (Phi(x) + x * phi(x)).
struct GeluBackward {
  template <class T>
  KILN_PW_FN T operator()(T grad, T x) const {
    if constexpr (kIsFloat<T>) {
      const T kBeta = T(0.39894228040143267794);   // 1 / sqrt(2 pi)
      const T kAlpha = T(0.70710678118654752440);  // 1 / sqrt(2)
      T cdf = T(0.5) * (T(1) + erf(x * kAlpha));
      T pdf = kBeta * exp(x * x * T(-0.5));
      return grad * (cdf + x * pdf);
    } else {
      return T(0);  // floating only
    }
  }
};

// gelu_backward(grad, x, approximate='tanh'): the derivative of
// 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
struct GeluTanhBackward {
  template <class T>
  KILN_PW_FN T operator()(T grad, T x) const {
    if constexpr (kIsFloat<T>) {
      const T kBeta = T(0.79788456080286535588);  // sqrt(2 / pi)
      const T kKappa = T(0.044715);
      T x_sq = x * x;
      T x_cube = x_sq * x;
      T inner = kBeta * (x + kKappa * x_cube);
      T tanh_inner = tanh(inner);
      T left = T(0.5) * x;
      T right = T(1) + tanh_inner;
      T left_derivative = T(0.5) * right;
      T tanh_derivative = T(1) - tanh_inner * tanh_inner;
      T inner_derivative = kBeta * (T(1) + T(3) * kKappa * x_sq);
      T right_derivative = left * tanh_derivative * inner_derivative;
      return grad * (left_derivative + right_derivative);
    } else {
      return T(0);  // floating only
    }
  }
};

}  // namespace pw
}  // namespace kiln

#endif  // KILN_COMPILER_RUNTIME_SCALAR_MATH_H_
