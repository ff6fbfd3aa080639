// Loop drivers shared by every kernel the CPU backend generates. The code
// generator pastes this header (after scalar_math.h and kernel_abi.h) into
// each generated source; it is never compiled into the compiler itself.
// Only the C++ standard library and OpenMP.
//
// The drivers own iteration and parallelism; generated code supplies the
// per-element work as lambdas or small structs:
//   * RunPointwise: N operands broadcast to operand 0's shape; size-1 dims
//     dropped, dims reordered by memory order and coalesced (TensorIterator
//     style), then split into equal element ranges over threads; the body
//     gets rows: `int body(int64_t n, char* const* ptrs, const int64_t*
//     strides)` with element strides, so contiguous rows vectorize.
//   * RunReduce: a reduction over an iteration shape with element operands
//     (its input, a fused prologue's inputs and outputs) and row operands
//     (its outputs, a fused epilogue's); a Reducer struct (Identity/Step/
//     Merge/Store) says what to compute. Inner reductions use independent lanes
//     (so the host compiler vectorizes without -ffast-math), outer reductions
//     vectorize across the kept inner dim; few large reductions are split
//     across threads and merged in a fixed order (deterministic).
//   * RunRows: a row-wise operation (softmax along a dim, layer norm over
//     trailing dims) calls `body(char* const* row_ptrs, const int64_t*
//     row_strides, int64_t row_len)` per row, rows split over threads.
// Error codes (kernel_abi.h) combine with max across threads.
#ifndef KILN_COMPILER_BACKENDS_CPU_KERNEL_RUNTIME_H_
#define KILN_COMPILER_BACKENDS_CPU_KERNEL_RUNTIME_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "compiler/backends/cpu/kernel_abi.h"
#include "compiler/runtime/scalar_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace kiln {
namespace cpu {

constexpr int kMaxDims = 16;
// Elements of work below which a loop stays on one thread (ATen's
// GRAIN_SIZE).
constexpr int64_t kGrainSize = 32768;
// Independent accumulators of an inner reduction.
constexpr int kLanes = 16;

// Calls f(begin, end) over [0, n) split into contiguous ranges, one per
// thread, using at most `num_threads` threads and none for less than
// `grain` items each. Returns the largest error code.
template <class F>
inline int ParallelFor(int64_t n, int64_t grain, int64_t num_threads, F&& f) {
  if (n <= 0) return 0;
  if (grain < 1) grain = 1;
  int64_t threads = std::min<int64_t>(num_threads, (n + grain - 1) / grain);
  if (threads <= 1) return f(int64_t{0}, n);
  int err = 0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(static_cast <int>(threads)) reduction(max \
                                                                       : err)
  {
    int64_t t = omp_get_thread_num();
    int64_t nt = omp_get_num_threads();
    int64_t b = n * t / nt;
    int64_t e = n * (t + 1) / nt;
    if (b < e) err = std::max(err, static_cast<int>(f(b, e)));
  }
#else
  err = f(int64_t{0}, n);
#endif
  return err;
}

// An iteration space over N operands: dims outermost first, element strides
// per operand.
template <int N>
struct Loop {
  int rank = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  char* base[N];
  int64_t elem[N];
};

// Puts the dims in memory order (innermost = smallest stride of the first
// operand that tells them apart, as TensorIterator's reorder_dimensions).
// Set-up code is kept out of line (compiled once per operand count, not per
// kernel).
#define KILN_COLD __attribute__((noinline))

template <int N>
KILN_COLD void ReorderDims(Loop<N>* L) {
  int perm[kMaxDims];
  for (int d = 0; d < L->rank; ++d) perm[d] = d;
  auto should_be_inner = [&](int a, int b) {
    for (int k = 0; k < N; ++k) {
      int64_t sa = L->strides[k][a], sb = L->strides[k][b];
      if (sa == 0 || sb == 0) continue;
      if (sa != sb) return sa < sb;
    }
    return false;
  };
  for (int i = 1; i < L->rank; ++i) {
    for (int j = i; j > 0 && should_be_inner(perm[j - 1], perm[j]); --j) {
      std::swap(perm[j - 1], perm[j]);
    }
  }
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  for (int d = 0; d < L->rank; ++d) {
    sizes[d] = L->sizes[perm[d]];
    for (int k = 0; k < N; ++k) strides[k][d] = L->strides[k][perm[d]];
  }
  for (int d = 0; d < L->rank; ++d) {
    L->sizes[d] = sizes[d];
    for (int k = 0; k < N; ++k) L->strides[k][d] = strides[k][d];
  }
}

// Merges neighbouring dims that every operand walks as one.
template <int N>
KILN_COLD void CoalesceDims(Loop<N>* L) {
  if (L->rank <= 1) return;
  int out = L->rank - 1;  // the dim being grown, filled from the inside
  for (int d = L->rank - 2; d >= 0; --d) {
    bool can = true;
    for (int k = 0; k < N; ++k) {
      if (L->strides[k][d] != L->strides[k][out] * L->sizes[out]) {
        can = false;
        break;
      }
    }
    if (can) {
      L->sizes[out] *= L->sizes[d];
    } else {
      --out;
      L->sizes[out] = L->sizes[d];
      for (int k = 0; k < N; ++k) L->strides[k][out] = L->strides[k][d];
    }
  }
  int rank = L->rank - out;
  for (int d = 0; d < rank; ++d) {
    L->sizes[d] = L->sizes[out + d];
    for (int k = 0; k < N; ++k) L->strides[k][d] = L->strides[k][out + d];
  }
  L->rank = rank;
}

// Builds the loop over operand `ops[0]`'s shape; the others broadcast
// (aligned to the right, size-1 dims get stride 0).
template <int N>
KILN_COLD int MakeLoop(const KernelArgs* a, const int* ops, const int64_t* elem,
                       bool reorder, Loop<N>* L) {
  const TensorArg& shape = a->tensors[ops[0]];
  const int R = static_cast<int>(shape.rank);
  int r = 0;
  L->numel = 1;
  for (int d = 0; d < R; ++d) {
    int64_t size = shape.sizes[d];
    if (size == 0) {
      L->numel = 0;
      return kKernelOk;
    }
    if (size == 1) continue;
    if (r == kMaxDims) return kTooManyDims;
    L->sizes[r] = size;
    for (int k = 0; k < N; ++k) {
      const TensorArg& t = a->tensors[ops[k]];
      int off = R - static_cast<int>(t.rank);
      int64_t st = 0;
      if (d >= off && t.sizes[d - off] != 1) st = t.strides[d - off];
      L->strides[k][r] = st;
    }
    L->numel *= size;
    ++r;
  }
  for (int k = 0; k < N; ++k) {
    L->base[k] = a->tensors[ops[k]].data;
    L->elem[k] = elem[k];
  }
  if (r == 0) {
    r = 1;
    L->sizes[0] = 1;
    for (int k = 0; k < N; ++k) L->strides[k][0] = 0;
  }
  L->rank = r;
  if (reorder) ReorderDims(L);
  CoalesceDims(L);
  return kKernelOk;
}

// Runs body over elements [begin, end) of the loop (row-major over its
// dims), one call per piece of the innermost dim.
template <int N, class F>
inline int RunRange(const Loop<N>& L, int64_t begin, int64_t end, F& body) {
  const int R = L.rank;
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = R - 1; d >= 0; --d) {
    idx[d] = rem % L.sizes[d];
    rem /= L.sizes[d];
  }
  int64_t inner[N];
  for (int k = 0; k < N; ++k) inner[k] = L.strides[k][R - 1];
  char* ptrs[N];
  int err = 0;
  int64_t pos = begin;
  while (pos < end) {
    int64_t n = std::min(L.sizes[R - 1] - idx[R - 1], end - pos);
    for (int k = 0; k < N; ++k) {
      int64_t off = 0;
      for (int d = 0; d < R; ++d) off += idx[d] * L.strides[k][d];
      ptrs[k] = L.base[k] + off * L.elem[k];
    }
    int e = body(n, static_cast<char* const*>(ptrs),
                 static_cast<const int64_t*>(inner));
    if (e > err) err = e;
    pos += n;
    idx[R - 1] += n;
    for (int d = R - 1; d > 0 && idx[d] >= L.sizes[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
  return err;
}

// A pointwise kernel over N operands (outputs first; operand 0 gives the
// shape).
template <int N, class F>
inline int RunPointwise(const KernelArgs* a, const int (&ops)[N],
                        const int64_t (&elem)[N], F&& body) {
  Loop<N> L;
  int e = MakeLoop<N>(a, ops, elem, /*reorder=*/true, &L);
  if (e != kKernelOk || L.numel == 0) return e;
  return ParallelFor(
      L.numel, kGrainSize, a->num_threads,
      [&](int64_t b, int64_t end) { return RunRange<N>(L, b, end, body); });
}

// Whether `t` is laid out row-major with unit strides (size-1 dims aside).
inline bool IsContiguous(const TensorArg& t) {
  int64_t expect = 1;
  for (int64_t d = t.rank - 1; d >= 0; --d) {
    if (t.sizes[d] == 1) continue;
    if (t.strides[d] != expect) return false;
    expect *= t.sizes[d];
  }
  return true;
}

// *p = v; float16 / bfloat16 through their bits (a struct copy would keep
// loops from vectorizing).
template <class T>
inline void Put(T* p, T v) {
  *p = v;
}
inline void Put(kiln::pw::Half* p, kiln::pw::Half v) { p->bits = v.bits; }
inline void Put(kiln::pw::BFloat16* p, kiln::pw::BFloat16 v) {
  p->bits = v.bits;
}

// dst = Convert<Out>(src), src broadcast to dst's shape.
template <class Out, class In>
inline int CopyTensor(const TensorArg& dst, const TensorArg& src,
                      int64_t num_threads) {
  TensorArg pair[2] = {dst, src};
  KernelArgs la{pair, nullptr, nullptr, num_threads};
  static constexpr int kPairOps[2] = {0, 1};
  static constexpr int64_t kPairElem[2] = {sizeof(Out), sizeof(In)};
  return RunPointwise<2>(
      &la, kPairOps, kPairElem,
      [](int64_t n, char* const* p, const int64_t* s) -> int {
        Out* o = reinterpret_cast<Out*>(p[0]);
        const In* x = reinterpret_cast<const In*>(p[1]);
        if (s[0] == 1 && s[1] == 1) {
          for (int64_t i = 0; i < n; ++i)
            Put(o + i, kiln::pw::Convert<Out>(x[i]));
        } else {
          const int64_t s0 = s[0], s1 = s[1];
          for (int64_t i = 0; i < n; ++i) {
            Put(o + i * s0, kiln::pw::Convert<Out>(x[i * s1]));
          }
        }
        return 0;
      });
}

// Every element of dst = value.
template <class T>
inline int FillTensor(const TensorArg& dst, T value, int64_t num_threads) {
  KernelArgs la{&dst, nullptr, nullptr, num_threads};
  static constexpr int kOneOp[1] = {0};
  static constexpr int64_t kOneElem[1] = {sizeof(T)};
  return RunPointwise<1>(&la, kOneOp, kOneElem,
                         [&](int64_t n, char* const* p, const int64_t* s) {
                           T* o = reinterpret_cast<T*>(p[0]);
                           const int64_t s0 = s[0];
                           if (s0 == 1) {
                             for (int64_t i = 0; i < n; ++i) Put(o + i, value);
                           } else {
                             for (int64_t i = 0; i < n; ++i) {
                               Put(o + i * s0, value);
                             }
                           }
                           return 0;
                         });
}

// A view of `t` as a TensorArg over the caller's size/stride buffers.
struct LocalTensor {
  TensorArg arg;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];
};

// t.select(dim, i) (rank - 1 dims); `elem` is t's element size.
inline int Select(const TensorArg& t, int dim, int64_t i, int64_t elem,
                  LocalTensor* out) {
  if (t.rank - 1 > kMaxDims) return kTooManyDims;
  int r = 0;
  for (int64_t d = 0; d < t.rank; ++d) {
    if (d == dim) continue;
    out->sizes[r] = t.sizes[d];
    out->strides[r] = t.strides[d];
    ++r;
  }
  out->arg.data = t.data + i * t.strides[dim] * elem;
  out->arg.sizes = out->sizes;
  out->arg.strides = out->strides;
  out->arg.rank = r;
  return kKernelOk;
}

// t.narrow(dim, start, length).
inline int Narrow(const TensorArg& t, int dim, int64_t start, int64_t length,
                  int64_t elem, LocalTensor* out) {
  if (t.rank > kMaxDims) return kTooManyDims;
  for (int64_t d = 0; d < t.rank; ++d) {
    out->sizes[d] = t.sizes[d];
    out->strides[d] = t.strides[d];
  }
  out->sizes[dim] = length;
  out->arg.data = t.data + start * t.strides[dim] * elem;
  out->arg.sizes = out->sizes;
  out->arg.strides = out->strides;
  out->arg.rank = t.rank;
  return kKernelOk;
}

// Calls f(position, value) for every element of an integer tensor in
// row-major order of its sizes (sequential).
template <class I, class F>
inline int ForEachIndexValue(const TensorArg& t, F&& f) {
  int64_t numel = 1;
  for (int64_t d = 0; d < t.rank; ++d) numel *= t.sizes[d];
  if (numel == 0) return kKernelOk;
  if (t.rank > kMaxDims) return kTooManyDims;
  int64_t idx[kMaxDims] = {};
  const I* base = reinterpret_cast<const I*>(t.data);
  for (int64_t p = 0; p < numel; ++p) {
    int64_t off = 0;
    for (int64_t d = 0; d < t.rank; ++d) off += idx[d] * t.strides[d];
    int e = f(p, static_cast<int64_t>(base[off]));
    if (e != kKernelOk) return e;
    for (int64_t d = t.rank - 1; d >= 0; --d) {
      if (++idx[d] < t.sizes[d]) break;
      idx[d] = 0;
    }
  }
  return kKernelOk;
}

// out[pos] = self[... index[pos] at `dim` ...] for every position of
// index (= out's shape), ATen's gather. Indices outside [0, size) fail.
template <class T, class I>
inline int Gather(const TensorArg& out, const TensorArg& self,
                  const TensorArg& index, int dim, int64_t num_threads) {
  const int64_t R = index.rank;
  if (R > kMaxDims) return kTooManyDims;
  int64_t numel = 1;
  for (int64_t d = 0; d < R; ++d) numel *= index.sizes[d];
  if (numel == 0) return kKernelOk;
  const int64_t limit = self.rank == 0 ? 1 : self.sizes[dim];
  return ParallelFor(numel, kGrainSize, num_threads,
                     [&](int64_t b, int64_t e) -> int {
                       int64_t idx[kMaxDims];
                       int64_t rem = b;
                       for (int64_t d = R - 1; d >= 0; --d) {
                         idx[d] = rem % index.sizes[d];
                         rem /= index.sizes[d];
                       }
                       T* o = reinterpret_cast<T*>(out.data);
                       const T* x = reinterpret_cast<const T*>(self.data);
                       const I* ix = reinterpret_cast<const I*>(index.data);
                       for (int64_t p = b; p < e; ++p) {
                         int64_t oo = 0, io = 0, so = 0;
                         for (int64_t d = 0; d < R; ++d) {
                           oo += idx[d] * out.strides[d];
                           io += idx[d] * index.strides[d];
                           if (d != dim) so += idx[d] * self.strides[d];
                         }
                         int64_t v = static_cast<int64_t>(ix[io]);
                         if (v < 0 || v >= limit) return kIndexOutOfRange;
                         if (self.rank > 0) so += v * self.strides[dim];
                         Put(o + oo, x[so]);
                         for (int64_t d = R - 1; d >= 0; --d) {
                           if (++idx[d] < index.sizes[d]) break;
                           idx[d] = 0;
                         }
                       }
                       return kKernelOk;
                     });
}

// ---------------------------------------------------------------------------
// Reductions.
//
// A reduction runs over an iteration shape whose dims are kept or reduced.
// Element operands are read (or written: a fused prologue's outputs) once
// per element of the shape; row operands once per output position (the
// kept dims; their strides over reduced dims are 0): the reduction's
// outputs and a fused epilogue's inputs and outputs. A Reducer is a struct
// with
//   using Acc = <accumulator>;
//   static constexpr bool kOrdered;        // Step needs the logical index
//   static constexpr bool kNeedsElements;  // no identity (max, argmax)
//   Acc Identity() const;
//   // element i of a run: element operand k at p[k] + i * s[k] elements
//   Acc Step(Acc acc, char* const* p, const int64_t* s, int64_t i,
//            int64_t index) const;
//   Acc StepUnit(Acc acc, char* const* p, int64_t i) const;  // s[k] == 1
//   Acc Merge(Acc a, Acc b) const;   // b's elements come after a's
//   void Store(char* const* rows, Acc acc, int64_t count) const;
// `index` is the element's position in the reduced dims' row-major order
// (only meaningful when kOrdered). Store sees the row operands at the
// output position and the number of reduced elements.

// Reducer building blocks.
template <class T>
inline T ExtremumIdentity(bool is_max) {
  if constexpr (std::numeric_limits<T>::has_infinity) {
    return is_max ? -std::numeric_limits<T>::infinity()
                  : std::numeric_limits<T>::infinity();
  } else {
    return is_max ? std::numeric_limits<T>::lowest()
                  : std::numeric_limits<T>::max();
  }
}

// The running max (or min) `a` updated with `b`; NaN wins (once `a` is
// NaN no comparison with it succeeds, so it stays). One select, so that
// lanes vectorize.
template <bool kMax, class T>
inline T PickExtremum(T a, T b) {
  return ((kMax ? (b > a) : (b < a)) || kiln::pw::IsNanT(b)) ? b : a;
}

template <class T>
struct ValueIndex {
  T value;
  int64_t index;  // -1: no element yet
};

// `b`'s elements come after `a`'s: ties keep `a` (the first extremum); the
// first NaN wins.
template <bool kMax, class T>
inline ValueIndex<T> PickIndexed(ValueIndex<T> a, ValueIndex<T> b) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  if (kiln::pw::IsNanT(a.value)) return a;
  if (kiln::pw::IsNanT(b.value)) return b;
  return (kMax ? (b.value > a.value) : (b.value < a.value)) ? b : a;
}

struct Welford {
  double mean;
  double m2;
  int64_t n;
};
inline Welford WelfordStep(Welford a, double x) {
  a.n += 1;
  double delta = x - a.mean;
  a.mean += delta / static_cast<double>(a.n);
  a.m2 += delta * (x - a.mean);
  return a;
}
inline Welford WelfordMerge(Welford a, Welford b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  int64_t n = a.n + b.n;
  double delta = b.mean - a.mean;
  double nb = static_cast<double>(b.n) / static_cast<double>(n);
  Welford r;
  r.mean = a.mean + delta * nb;
  r.m2 = a.m2 + b.m2 + delta * delta * static_cast<double>(a.n) * nb;
  r.n = n;
  return r;
}
inline double WelfordVar(Welford a, double correction) {
  double divisor = static_cast<double>(a.n) - correction;
  if (divisor < 0) divisor = 0;
  return a.m2 / divisor;
}

template <int NE, int NR>
struct RedDims {
  int n = 0;
  int64_t size[kMaxDims];
  int64_t es[kMaxDims][NE > 0 ? NE : 1];  // element operand strides
  int64_t rs[kMaxDims][NR > 0 ? NR : 1];  // row operand strides
};

template <int NE, int NR>
KILN_COLD void SortRedDims(RedDims<NE, NR>* d) {
  // Outer first: descending stride of element operand 0 (stable).
  for (int i = 1; i < d->n; ++i) {
    for (int j = i; j > 0 && d->es[j - 1][0] < d->es[j][0]; --j) {
      std::swap(d->size[j - 1], d->size[j]);
      for (int k = 0; k < NE; ++k) std::swap(d->es[j - 1][k], d->es[j][k]);
      for (int k = 0; k < NR; ++k) std::swap(d->rs[j - 1][k], d->rs[j][k]);
    }
  }
}

template <int NE, int NR>
KILN_COLD void CoalesceRedDims(RedDims<NE, NR>* d) {
  if (d->n <= 1) return;
  int out = d->n - 1;
  for (int i = d->n - 2; i >= 0; --i) {
    bool can = true;
    for (int k = 0; k < NE && can; ++k) {
      can = d->es[i][k] == d->es[out][k] * d->size[out];
    }
    for (int k = 0; k < NR && can; ++k) {
      can = d->rs[i][k] == d->rs[out][k] * d->size[out];
    }
    if (can) {
      d->size[out] *= d->size[i];
    } else {
      --out;
      d->size[out] = d->size[i];
      for (int k = 0; k < NE; ++k) d->es[out][k] = d->es[i][k];
      for (int k = 0; k < NR; ++k) d->rs[out][k] = d->rs[i][k];
    }
  }
  int cnt = d->n - out;
  for (int i = 0; i < cnt; ++i) {
    d->size[i] = d->size[out + i];
    for (int k = 0; k < NE; ++k) d->es[i][k] = d->es[out + i][k];
    for (int k = 0; k < NR; ++k) d->rs[i][k] = d->rs[out + i][k];
  }
  d->n = cnt;
}

// Reduces `n` elements of a run (element operands at p, strides s).
template <int NE, class R>
inline typename R::Acc Reduce1D(const R& r, typename R::Acc acc, char* const* p,
                                const int64_t* s, int64_t n, int64_t index0) {
  using Acc = typename R::Acc;
  bool unit = true;
  for (int k = 0; k < NE; ++k) unit = unit && s[k] == 1;
  if (!R::kOrdered && unit && n >= 2 * kLanes) {
    Acc lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = r.Identity();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        lanes[l] = r.StepUnit(lanes[l], p, i + l);
      }
    }
    for (int w = kLanes / 2; w > 0; w /= 2) {
      for (int l = 0; l < w; ++l) lanes[l] = r.Merge(lanes[l], lanes[l + w]);
    }
    acc = r.Merge(acc, lanes[0]);
    for (; i < n; ++i) acc = r.StepUnit(acc, p, i);
    return acc;
  }
  if (unit) {
    for (int64_t i = 0; i < n; ++i) acc = r.Step(acc, p, s, i, index0 + i);
    return acc;
  }
  for (int64_t i = 0; i < n; ++i) acc = r.Step(acc, p, s, i, index0 + i);
  return acc;
}

// Reduces positions [begin, end) of the reduced dims from element
// operand bases `base` (at the output position).
template <int NE, int NR, class R>
inline typename R::Acc ReduceRange(const R& r, typename R::Acc acc,
                                   char* const* base, const int64_t* elem,
                                   const RedDims<NE, NR>& rd, int64_t begin,
                                   int64_t end) {
  char* p[NE > 0 ? NE : 1];
  int64_t s[NE > 0 ? NE : 1];
  if (rd.n == 0) {
    for (int k = 0; k < NE; ++k) {
      p[k] = base[k];
      s[k] = 1;
    }
    if (begin < end) acc = r.Step(acc, p, s, 0, 0);
    return acc;
  }
  const int nr = rd.n;
  for (int k = 0; k < NE; ++k) s[k] = rd.es[nr - 1][k];
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = nr - 1; d >= 0; --d) {
    idx[d] = rem % rd.size[d];
    rem /= rd.size[d];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t n = std::min(rd.size[nr - 1] - idx[nr - 1], end - pos);
    for (int k = 0; k < NE; ++k) {
      int64_t off = 0;
      for (int d = 0; d < nr; ++d) off += idx[d] * rd.es[d][k];
      p[k] = base[k] + off * elem[k];
    }
    acc = Reduce1D<NE>(r, acc, p, s, n, pos);
    pos += n;
    idx[nr - 1] += n;
    for (int d = nr - 1; d > 0 && idx[d] >= rd.size[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
  return acc;
}

// Strides of a row operand (an output laid out over the kept dims of a
// rank-`rank` shape, with or without the reduced dims kept as size 1) per
// shape dim: 0 on reduced dims.
template <int NR>
inline void RowStrides(const TensorArg& t, int rank, const bool* reduced, int k,
                       int64_t (*rs)[NR > 0 ? NR : 1]) {
  bool keepdim = t.rank == rank;
  for (int d = 0, od = 0; d < rank; ++d) {
    if (reduced[d]) {
      rs[d][k] = 0;
      if (keepdim) ++od;
      continue;
    }
    rs[d][k] = t.strides[od++];
  }
}

// The general driver: `shape` (rank dims, reduced[d]), element operands
// (base pointers, per-dim strides es[d][k], element sizes) and row
// operands (rs[d][k], 0 on reduced dims).
template <int NE, int NR, class R>
inline int RunReduce(int rank, const int64_t* shape, const bool* reduced,
                     char* const* ebase, const int64_t (*es)[NE > 0 ? NE : 1],
                     const int64_t* eelem, char* const* rbase,
                     const int64_t (*rs)[NR > 0 ? NR : 1], const int64_t* relem,
                     int64_t num_threads, const R& r) {
  using Acc = typename R::Acc;
  RedDims<NE, NR> kept, red;
  int64_t n_red = 1;
  for (int d = 0; d < rank; ++d) {
    int64_t size = shape[d];
    if (reduced[d]) {
      n_red *= size;
    } else if (size == 0) {
      return kKernelOk;  // no outputs
    }
    if (size == 1) continue;
    RedDims<NE, NR>& to = reduced[d] ? red : kept;
    if (to.n == kMaxDims) return kTooManyDims;
    to.size[to.n] = size;
    for (int k = 0; k < NE; ++k) to.es[to.n][k] = es[d][k];
    for (int k = 0; k < NR; ++k) to.rs[to.n][k] = reduced[d] ? 0 : rs[d][k];
    ++to.n;
  }
  if (!R::kOrdered && NE > 0) {
    SortRedDims(&red);
    SortRedDims(&kept);
  }
  CoalesceRedDims(&red);
  CoalesceRedDims(&kept);
  bool empty = n_red == 0;
  if (empty && R::kNeedsElements) return kEmptyReduction;
  const int nk = kept.n, nr = red.n;
  int64_t n_out = 1;
  for (int d = 0; d < nk; ++d) n_out *= kept.size[d];

  // Element and row pointers at an output position (kept multi-index).
  auto at = [&](const int64_t* idx, int upto, char** e, char** o) {
    for (int k = 0; k < NE; ++k) {
      int64_t off = 0;
      for (int d = 0; d < upto; ++d) off += idx[d] * kept.es[d][k];
      e[k] = ebase[k] + off * eelem[k];
    }
    for (int k = 0; k < NR; ++k) {
      int64_t off = 0;
      for (int d = 0; d < upto; ++d) off += idx[d] * kept.rs[d][k];
      o[k] = rbase[k] + off * relem[k];
    }
  };
  constexpr int kNE = NE > 0 ? NE : 1;
  constexpr int kNR = NR > 0 ? NR : 1;

  bool column = !R::kOrdered && NE > 0 && nk > 0 && nr > 0 && !empty &&
                red.es[nr - 1][0] != 1;
  for (int k = 0; column && k < NE; ++k) {
    column = kept.es[nk - 1][k] == 1;
  }
  if (column) {
    // Vectorize across the innermost kept dim.
    constexpr int64_t kChunk = 256;
    const int64_t n_inner = kept.size[nk - 1];
    const int64_t chunks = (n_inner + kChunk - 1) / kChunk;
    const int64_t n_outer = n_out / n_inner;
    const int64_t cost = std::min(n_inner, kChunk) * n_red;
    return ParallelFor(
        n_outer * chunks,
        std::max<int64_t>(1, kGrainSize / std::max<int64_t>(cost, 1)),
        num_threads, [&](int64_t b, int64_t e) {
          Acc acc[kChunk];
          int64_t idx[kMaxDims];
          int64_t ridx[kMaxDims];
          for (int64_t it = b; it < e; ++it) {
            int64_t outer = it / chunks;
            int64_t c0 = (it % chunks) * kChunk;
            int64_t len = std::min(kChunk, n_inner - c0);
            int64_t rem = outer;
            for (int d = nk - 2; d >= 0; --d) {
              idx[d] = rem % kept.size[d];
              rem /= kept.size[d];
            }
            char* ep[kNE];
            char* op[kNR];
            at(idx, nk - 1, ep, op);
            for (int k = 0; k < NE; ++k) ep[k] += c0 * eelem[k];
            for (int64_t j = 0; j < len; ++j) acc[j] = r.Identity();
            for (int d = 0; d < nr; ++d) ridx[d] = 0;
            char* p[kNE];
            for (int64_t rp = 0; rp < n_red; ++rp) {
              for (int k = 0; k < NE; ++k) {
                int64_t roff = 0;
                for (int d = 0; d < nr; ++d) roff += ridx[d] * red.es[d][k];
                p[k] = ep[k] + roff * eelem[k];
              }
              for (int64_t j = 0; j < len; ++j) {
                acc[j] = r.StepUnit(acc[j], p, j);
              }
              for (int d = nr - 1; d >= 0; --d) {
                if (++ridx[d] < red.size[d]) break;
                ridx[d] = 0;
              }
            }
            for (int64_t j = 0; j < len; ++j) {
              char* oj[kNR];
              for (int k = 0; k < NR; ++k) {
                oj[k] = op[k] + (c0 + j) * kept.rs[nk - 1][k] * relem[k];
              }
              r.Store(oj, acc[j], n_red);
            }
          }
          return 0;
        });
  }

  // Row reductions: one accumulator per output position.
  auto reduce_one = [&](int64_t o_index, int64_t rb, int64_t re, char** o) {
    int64_t idx[kMaxDims];
    int64_t rem = o_index;
    for (int d = nk - 1; d >= 0; --d) {
      idx[d] = rem % kept.size[d];
      rem /= kept.size[d];
    }
    char* ep[kNE];
    at(idx, nk, ep, o);
    Acc acc = r.Identity();
    if (!empty) acc = ReduceRange<NE, NR>(r, acc, ep, eelem, red, rb, re);
    return acc;
  };
  if (n_out >= num_threads || n_out * n_red < 2 * kGrainSize) {
    return ParallelFor(
        n_out, std::max<int64_t>(1, kGrainSize / std::max<int64_t>(n_red, 1)),
        num_threads, [&](int64_t b, int64_t e) {
          char* o[kNR];
          for (int64_t i = b; i < e; ++i) {
            Acc acc = reduce_one(i, 0, n_red, o);
            r.Store(o, acc, n_red);
          }
          return 0;
        });
  }
  // Few outputs, long reductions: split each over threads and merge the
  // partial results in order (deterministic for a given thread count).
  for (int64_t i = 0; i < n_out; ++i) {
    constexpr int kMaxThreads = 256;
    int64_t nt = std::min<int64_t>(std::min<int64_t>(num_threads, kMaxThreads),
                                   std::max<int64_t>(1, n_red / kGrainSize));
    Acc partial[kMaxThreads];
    char* o[kNR];
    ParallelFor(nt, 1, nt, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        char* ot[kNR];
        partial[t] = reduce_one(i, n_red * t / nt, n_red * (t + 1) / nt, ot);
        if (t == 0) {
          for (int k = 0; k < NR; ++k) o[k] = ot[k];
        }
      }
      return 0;
    });
    Acc acc = partial[0];
    for (int64_t t = 1; t < nt; ++t) acc = r.Merge(acc, partial[t]);
    r.Store(o, acc, n_red);
  }
  return kKernelOk;
}

// ---------------------------------------------------------------------------
// Row helpers: reductions over [0, n) of a function of the position with
// kLanes independent accumulators (vectorizable without -ffast-math).

// max(a, b) that propagates NaN (either operand).
template <class T>
inline T MaxNan(T a, T b) {
  if (a != a) return a;
  return (b > a || b != b) ? b : a;
}

template <class Acc, class F>
inline Acc LaneSum(int64_t n, F&& f) {
  Acc lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) lanes[l] = Acc(0);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += f(j + l);
  }
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  Acc acc = lanes[0];
  for (; j < n; ++j) acc += f(j);
  return acc;
}

template <class Acc, class F>
inline Acc LaneMax(int64_t n, F&& f) {
  Acc lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    lanes[l] = -std::numeric_limits<Acc>::infinity();
  }
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] = MaxNan(lanes[l], f(j + l));
  }
  Acc acc = lanes[0];
  for (int l = 1; l < kLanes; ++l) acc = MaxNan(acc, lanes[l]);
  for (; j < n; ++j) acc = MaxNan(acc, f(j));
  return acc;
}

// A per-thread scratch array of at least n elements (slot 0..3), reused
// across rows and calls.
template <class T>
inline T* Scratch(int slot, int64_t n) {
  static thread_local std::vector<char> buffers[4];
  std::vector<char>& b = buffers[slot];
  size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 64;
  if (b.size() < bytes) b.resize(bytes);
  uintptr_t p = reinterpret_cast<uintptr_t>(b.data());
  return reinterpret_cast<T*>((p + 63) & ~uintptr_t{63});
}

// Row passes for softmax and layer norm: plain loops over a scratch row,
// with `omp simd` reductions so the host compiler vectorizes them (exp
// through libmvec) without -ffast-math. Reduction order is fixed by the
// compiled code, so results are deterministic.

// t[j] = load(j) for the row; returns its maximum. NaNs are skipped here:
// they reach every result through exp and the sum.
template <class Acc, class Load>
inline Acc LoadRowMax(int64_t n, Acc* __restrict t, Load&& load) {
  Acc m = -std::numeric_limits<Acc>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) {
    t[j] = load(j);
    m = t[j] > m ? t[j] : m;
  }
  return m;
}

// softmax after LoadRowMax: t[j] becomes exp(t[j] - m); returns 1 / sum,
// the factor of every result.
template <class Acc>
inline Acc SoftmaxExp(int64_t n, Acc* __restrict t, Acc m) {
  using std::exp;
  Acc sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    t[j] = exp(t[j] - m);
    sum += t[j];
  }
  return Acc(1) / sum;
}

// log_softmax after LoadRowMax: returns m + log(sum(exp(t - m))); result j
// is (t[j] - m) - log(sum).
template <class Acc>
inline Acc LogSumExp(int64_t n, const Acc* __restrict t, Acc m) {
  using std::exp;
  Acc sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += exp(t[j] - m);
  return std::log(sum);
}

// softmax / log_softmax of one row: load(j) gives element j in Acc,
// store(j, v) writes result j.
template <class Acc, bool kLog, class Load, class Store>
inline void SoftmaxRow(int64_t n, Load&& load, Store&& store) {
  Acc* t = Scratch<Acc>(0, n);
  const Acc m = LoadRowMax<Acc>(n, t, load);
  if (kLog) {
    const Acc lse = LogSumExp<Acc>(n, t, m);
    for (int64_t j = 0; j < n; ++j) store(j, (t[j] - m) - lse);
  } else {
    const Acc inv = SoftmaxExp<Acc>(n, t, m);
    for (int64_t j = 0; j < n; ++j) store(j, t[j] * inv);
  }
}

// t[j] = load(j); returns the row's sum.
template <class Acc, class Load>
inline Acc LoadRowSum(int64_t n, Acc* __restrict t, Load&& load) {
  Acc s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) {
    t[j] = load(j);
    s += t[j];
  }
  return s;
}

// Mean and 1/sqrt(var + eps) of the row t[0, n) (two passes; biased
// variance, as layer norm).
template <class Acc>
inline void RowMoments(int64_t n, const Acc* __restrict t, Acc sum, Acc eps,
                       Acc* mean, Acc* rstd) {
  const Acc m = sum / Acc(n);
  Acc v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t j = 0; j < n; ++j) {
    const Acc d = t[j] - m;
    v += d * d;
  }
  *mean = m;
  *rstd = Acc(1) / std::sqrt(v / Acc(n) + eps);
}

// ---------------------------------------------------------------------------
// Row-wise operations.

// Calls body(row_ptrs, row_strides, row_len) for every row: the dims
// [row_begin, row_begin + row_count) of operand 0's shape form the row
// (they must collapse into one stride per operand, or kBadLayout), the
// other dims are iterated. Operands broadcast to operand 0's shape.
template <int N, class F>
inline int RunRows(const KernelArgs* a, const int (&ops)[N],
                   const int64_t (&elem)[N], int row_begin, int row_count,
                   F&& body) {
  const TensorArg& shape = a->tensors[ops[0]];
  const int R = static_cast<int>(shape.rank);
  // Row length and strides.
  int64_t row_len = 1;
  for (int d = row_begin; d < row_begin + row_count; ++d) {
    row_len *= shape.sizes[d];
  }
  int64_t row_stride[N];
  for (int k = 0; k < N; ++k) {
    const TensorArg& t = a->tensors[ops[k]];
    int off = R - static_cast<int>(t.rank);
    int64_t stride = 0;   // of the innermost non-trivial row dim
    int64_t expect = -1;  // what the next outer dim's stride must be
    bool ok = true;
    for (int d = row_begin + row_count - 1; d >= row_begin; --d) {
      int64_t size = d >= off ? t.sizes[d - off] : 1;
      if (size == 1) continue;
      int64_t s = t.strides[d - off];
      if (expect < 0) {
        stride = s;
      } else if (s != expect) {
        ok = false;
      }
      expect = s * size;
    }
    if (!ok) return kBadLayout;
    row_stride[k] = stride;
  }
  // The outer iteration space.
  Loop<N> L;
  int r = 0;
  L.numel = 1;
  for (int d = 0; d < R; ++d) {
    if (d >= row_begin && d < row_begin + row_count) continue;
    int64_t size = shape.sizes[d];
    if (size == 0) return kKernelOk;
    if (size == 1) continue;
    if (r == kMaxDims) return kTooManyDims;
    L.sizes[r] = size;
    for (int k = 0; k < N; ++k) {
      const TensorArg& t = a->tensors[ops[k]];
      int off = R - static_cast<int>(t.rank);
      int64_t st = 0;
      if (d >= off && t.sizes[d - off] != 1) st = t.strides[d - off];
      L.strides[k][r] = st;
    }
    L.numel *= size;
    ++r;
  }
  if (row_len == 0) return kKernelOk;
  for (int k = 0; k < N; ++k) {
    L.base[k] = a->tensors[ops[k]].data;
    L.elem[k] = elem[k];
  }
  if (r == 0) {
    r = 1;
    L.sizes[0] = 1;
    for (int k = 0; k < N; ++k) L.strides[k][0] = 0;
  }
  L.rank = r;
  CoalesceDims(&L);
  return ParallelFor(
      L.numel, std::max<int64_t>(1, kGrainSize / row_len), a->num_threads,
      [&](int64_t b, int64_t e) {
        auto per_row = [&](int64_t n, char* const* p, const int64_t* s) {
          char* ptrs[N];
          for (int k = 0; k < N; ++k) ptrs[k] = p[k];
          int err = 0;
          for (int64_t i = 0; i < n; ++i) {
            int e2 = body(static_cast<char* const*>(ptrs),
                          static_cast<const int64_t*>(row_stride), row_len);
            if (e2 > err) err = e2;
            for (int k = 0; k < N; ++k) ptrs[k] += s[k] * L.elem[k];
          }
          return err;
        };
        return RunRange<N>(L, b, e, per_row);
      });
}

}  // namespace cpu
}  // namespace kiln

#endif  // KILN_COMPILER_BACKENDS_CPU_KERNEL_RUNTIME_H_
