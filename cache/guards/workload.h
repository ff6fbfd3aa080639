// A typical guarded call for benchmarks and allocation tests: ten inputs of
// a dynamic-batch transformer block step (activations with a dynamic batch
// and sequence length, static weights, a TwoTensor subclass, a SymInt and a
// constant), with shape guards and a symbol range.
#ifndef KILN_CACHE_GUARDS_WORKLOAD_H_
#define KILN_CACHE_GUARDS_WORKLOAD_H_

#include <cstdint>

#include "cache/guards/test_util.h"

namespace kiln::cache::testing {

// The GuardContext: inputs
//   0 x        [s0, s1, 512]  float32 cuda:0, requires_grad
//   1 mask     [s0, s1]       bool
//   2 w_q      [512, 512]     requires_grad
//   3 w_k      [512, 512]     requires_grad
//   4 w_v      [512, 512]     requires_grad
//   5 bias     [512]          requires_grad
//   6 pos      [s1, 512]      aliases nothing
//   7 scaled   TwoTensor [s0, 512] with inner a, b [s0, 512]
//   8 n        SymInt s1
//   9 eps      constant 1e-5
// shape guards s1 <= 4096, Ne(s0, 3); s1 declared in [2, 8192].
inline v1::GuardContext TypicalContext() {
  auto w = [] { return T().Sizes({512, 512}).Cuda(0).Grad(); };
  return Ctx()
      .In(T().Sizes({"s0", "s1", 512}).Cuda(0).Grad())
      .In(T().Sizes({"s0", "s1"}).Cuda(0).DType(v1::BOOL))
      .In(w())
      .In(w())
      .In(w())
      .In(T().Sizes({512}).Cuda(0).Grad())
      .In(T().Sizes({"s1", 512}).Cuda(0))
      .In(T("torch.testing._internal.two_tensor.TwoTensor")
              .Sizes({"s0", 512})
              .Cuda(0)
              .Inner("a", T().Sizes({"s0", 512}).Cuda(0))
              .Inner("b", T().Sizes({"s0", 512}).Cuda(0)))
      .SymInt(S("s1"))
      .Constant(CFloat(1e-5))
      .Sym("s1", 128, 2, 8192)
      .Guard(Le(S("s1"), C(4096)))
      .Guard(Ne(S("s0"), C(3)))
      .Build();
}

// A call the context serves (batch 8, sequence `seq`); `last_batch` is the
// batch size of the TwoTensor's inner `b` (a miss on the last tensor when
// it differs from 8).
inline v1::CallSignature TypicalCall(int64_t seq = 256,
                                     int64_t last_batch = 8) {
  auto w = [] { return T().Sizes({512, 512}).Cuda(0).Grad(); };
  return Sig()
      .In(T().Sizes({8, seq, 512}).Cuda(0).Grad())
      .In(T().Sizes({8, seq}).Cuda(0).DType(v1::BOOL))
      .In(w())
      .In(w())
      .In(w())
      .In(T().Sizes({512}).Cuda(0).Grad())
      .In(T().Sizes({seq, 512}).Cuda(0))
      .In(T("torch.testing._internal.two_tensor.TwoTensor")
              .Sizes({8, 512})
              .Cuda(0)
              .Inner("a", T().Sizes({8, 512}).Cuda(0))
              .Inner("b", T().Sizes({last_batch, 512}).Cuda(0)))
      .SymInt(seq)
      .Constant(CFloat(1e-5))
      .Build();
}

}  // namespace kiln::cache::testing

#endif  // KILN_CACHE_GUARDS_WORKLOAD_H_
