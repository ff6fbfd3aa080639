#include "compiler/backends/cpu/library.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compiler/runtime/dispatch.h"
#include "compiler/runtime/scalar_math.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace kiln::cpu {
namespace {

using ir::DType;

// A matrix operand as BLAS sees it: row-major with leading dimension `ld`,
// transposed or not; `ok` false when it needs a dense copy first.
struct BlasMatrix {
  bool ok = false;
  bool trans = false;
  int64_t ld = 1;
};

BlasMatrix Layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  BlasMatrix m;
  if ((cols == 1 || cs == 1) &&
      (rows == 1 || rs >= std::max<int64_t>(1, cols))) {
    m.ok = true;
    m.trans = false;
    m.ld = rows == 1 ? std::max<int64_t>(1, cols) : rs;
  } else if ((rows == 1 || rs == 1) &&
             (cols == 1 || cs >= std::max<int64_t>(1, rows))) {
    m.ok = true;
    m.trans = true;
    m.ld = cols == 1 ? std::max<int64_t>(1, rows) : cs;
  }
  return m;
}

// One matrix (of a batch) as a float/double buffer of the compute type:
// either a pointer into the tensor (f32/f64 with a BLAS layout) or a dense
// converted copy in `scratch`.
template <class T>
const T* Operand(const rt::Tensor& t, int64_t batch_offset, int64_t rows,
                 int64_t cols, int64_t rs, int64_t cs, std::vector<T>& scratch,
                 BlasMatrix* layout) {
  bool native = (std::is_same_v<T, float> && t.dtype() == DType::kFloat32) ||
                (std::is_same_v<T, double> && t.dtype() == DType::kFloat64);
  *layout = Layout(rows, cols, rs, cs);
  if (native && layout->ok) {
    return reinterpret_cast<const T*>(
        t.ElementPtrAtOffset(t.storage_offset() + batch_offset));
  }
  scratch.resize(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)));
  rt::DispatchDType(t.dtype(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const uint8_t* p = t.ElementPtrAtOffset(t.storage_offset() +
                                                batch_offset + i * rs + j * cs);
        scratch[i * cols + j] = rt::LoadElement<T, S>(p);
      }
    }
  });
  layout->ok = true;
  layout->trans = false;
  layout->ld = std::max<int64_t>(cols, 1);
  return scratch.data();
}

void Gemm(const BlasMatrix& a, const float* pa, const BlasMatrix& b,
          const float* pb, float* c, int64_t n, int64_t k, int64_t m,
          double alpha, double beta) {
  cblas_sgemm(CblasRowMajor, a.trans ? CblasTrans : CblasNoTrans,
              b.trans ? CblasTrans : CblasNoTrans, n, m, k,
              static_cast<float>(alpha), pa, a.ld, pb, b.ld,
              static_cast<float>(beta), c, std::max<int64_t>(m, 1));
}
void Gemm(const BlasMatrix& a, const double* pa, const BlasMatrix& b,
          const double* pb, double* c, int64_t n, int64_t k, int64_t m,
          double alpha, double beta) {
  cblas_dgemm(CblasRowMajor, a.trans ? CblasTrans : CblasNoTrans,
              b.trans ? CblasTrans : CblasNoTrans, n, m, k, alpha, pa, a.ld, pb,
              b.ld, beta, c, std::max<int64_t>(m, 1));
}

absl::StatusOr<double> ScalarArg(ops::KernelContext& kc, const char* name) {
  int i = kc.index(name);
  if (i < 0) return 1.0;
  auto s = kc.scalar(i);
  if (!s.ok()) return s.status();
  return s->AsDouble();
}

// C[b] = beta * bias + alpha * A[b] @ B[b] for float/double compute, or
// wrapping int64 for integers.
template <class T>
absl::Status MatmulTyped(const rt::Tensor& a, const rt::Tensor& b,
                         const rt::Tensor* bias, double alpha, double beta,
                         rt::Tensor& out) {
  const bool batched = a.rank() == 3;
  const int64_t batches = batched ? a.sizes()[0] : 1;
  const int ra = batched ? 1 : 0;
  const int64_t n = a.sizes()[ra], k = a.sizes()[ra + 1], m = b.sizes()[ra + 1];
  std::vector<T> sa, sb, cbuf(static_cast<size_t>(std::max<int64_t>(n * m, 1)));
  for (int64_t bi = 0; bi < batches; ++bi) {
    // The bias (or zeros), broadcast, scaled by beta, into cbuf.
    std::fill(cbuf.begin(), cbuf.end(), T(0));
    if (bias != nullptr && beta != 0) {
      const rt::Tensor& s = *bias;
      int off = out.rank() - s.rank();
      rt::DispatchDType(s.dtype(), [&](auto tag) {
        using S = typename decltype(tag)::type;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j < m; ++j) {
            int64_t idx[3] = {bi, i, j};
            const int64_t* oi = batched ? idx : idx + 1;
            int64_t e = s.storage_offset();
            for (int d = 0; d < s.rank(); ++d) {
              int64_t x = oi[d + off];
              if (s.sizes()[d] != 1) e += x * s.strides()[d];
            }
            T v = rt::LoadElement<T, S>(s.ElementPtrAtOffset(e));
            cbuf[i * m + j] = beta == 1 ? v : static_cast<T>(beta) * v;
          }
        }
      });
    }
    if (n > 0 && m > 0 && k > 0) {
      int64_t a_off = batched ? bi * a.strides()[0] : 0;
      int64_t b_off = batched ? bi * b.strides()[0] : 0;
      if constexpr (std::is_floating_point_v<T>) {
        BlasMatrix la, lb;
        const T* pa = Operand<T>(a, a_off, n, k, a.strides()[ra],
                                 a.strides()[ra + 1], sa, &la);
        const T* pb = Operand<T>(b, b_off, k, m, b.strides()[ra],
                                 b.strides()[ra + 1], sb, &lb);
        Gemm(la, pa, lb, pb, cbuf.data(), n, k, m, alpha, 1.0);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t p = 0; p < k; ++p) {
            int64_t av =
                rt::LoadAsInt(a.ElementPtrAtOffset(a.storage_offset() + a_off +
                                                   i * a.strides()[ra] +
                                                   p * a.strides()[ra + 1]),
                              a.dtype());
            av = static_cast<int64_t>(
                static_cast<uint64_t>(av) *
                static_cast<uint64_t>(static_cast<int64_t>(alpha)));
            for (int64_t j = 0; j < m; ++j) {
              int64_t bv = rt::LoadAsInt(
                  b.ElementPtrAtOffset(b.storage_offset() + b_off +
                                       p * b.strides()[ra] +
                                       j * b.strides()[ra + 1]),
                  b.dtype());
              cbuf[i * m + j] = static_cast<T>(
                  static_cast<uint64_t>(cbuf[i * m + j]) +
                  static_cast<uint64_t>(av) * static_cast<uint64_t>(bv));
            }
          }
        }
      }
    }
    // Store into the output (its declared layout), rounding once.
    rt::DispatchDType(out.dtype(), [&](auto tag) {
      using D = typename decltype(tag)::type;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < m; ++j) {
          int64_t e = out.storage_offset() + i * out.strides()[ra] +
                      j * out.strides()[ra + 1];
          if (batched) e += bi * out.strides()[0];
          rt::StoreElement<T, D>(out.ElementPtrAtOffset(e), cbuf[i * m + j]);
        }
      }
    });
  }
  return absl::OkStatus();
}

// mm, bmm, addmm, baddbmm.
absl::Status Matmul(LibraryCall& call) {
  ops::KernelContext& kc = call.kc;
  const std::string& name = kc.node().op().schema().name;
  const rt::Tensor* bias = nullptr;
  int ia = 0, ib = 1;
  double alpha = 1, beta = 0;
  if (name == "addmm" || name == "baddbmm") {
    bias = &kc.tensor(0);
    ia = 1;
    ib = 2;
    auto a = ScalarArg(kc, "alpha");
    auto b = ScalarArg(kc, "beta");
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    alpha = *a;
    beta = *b;
  }
  const rt::Tensor& a = kc.tensor(ia);
  const rt::Tensor& b = kc.tensor(ib);
  rt::Tensor& out = call.outputs[0];
  switch (out.dtype()) {
    case DType::kFloat64:
      return MatmulTyped<double>(a, b, bias, alpha, beta, out);
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      return MatmulTyped<float>(a, b, bias, alpha, beta, out);
    case DType::kBool:
      return absl::InvalidArgumentError("matrix products of bool tensors");
    default:
      return MatmulTyped<int64_t>(a, b, bias, alpha, beta, out);
  }
}

}  // namespace

std::string LibraryFunctionFor(const ops::OpDef& op) {
  const std::string& n = op.name();
  if (n == "aten::mm.default" || n == "aten::bmm.default" ||
      n == "aten::addmm.default" || n == "aten::baddbmm.default") {
    return "matmul";
  }
  return "";
}

LibraryFn FindLibraryFunction(const std::string& name) {
  if (name == "matmul") return &Matmul;
  return nullptr;
}

void SetLibraryThreads(int n) {
  static std::atomic<int> current{-1};
  if (current.exchange(n) != n) openblas_set_num_threads(n);
}

}  // namespace kiln::cpu
