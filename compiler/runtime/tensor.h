// Concrete tensors for the reference interpreter and the driver.
//
// A Tensor is a strided view (dtype, sizes, strides, storage offset, all in
// elements) of a shared, reference-counted Storage of bytes. Views share the
// storage with their base, as ATen's do. float16 / bfloat16 elements are
// stored as their bit patterns (scalar_math.h has the conversions); bool as
// one byte 0/1.
//
// Threading: a Tensor is a value type holding a shared_ptr; copying is cheap
// and shares data. Concurrent reads are fine; writers must synchronize.
#ifndef KILN_COMPILER_RUNTIME_TENSOR_H_
#define KILN_COMPILER_RUNTIME_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/dtype.h"

namespace kiln::rt {

using ir::DType;

// A byte buffer, 64-byte aligned, zero-initialized unless `zero_fill` is
// false (buffers a kernel overwrites entirely).
class Storage {
 public:
  explicit Storage(int64_t bytes, bool zero_fill = true);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
};

// A Python scalar at run time: a Scalar argument's value or a scalar graph
// input.
struct Scalar {
  enum class Kind : uint8_t { kInt, kFloat, kBool };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  double f = 0;
  bool b = false;

  static Scalar Int(int64_t v) { return Scalar{Kind::kInt, v, 0, false}; }
  static Scalar Float(double v) { return Scalar{Kind::kFloat, 0, v, false}; }
  static Scalar Bool(bool v) { return Scalar{Kind::kBool, 0, 0, v}; }
  // The dtype ATen gives it when wrapped: i64, f64 or b8.
  DType dtype() const;
  double AsDouble() const;
  std::string ToString() const;
};

class Tensor {
 public:
  Tensor() = default;  // undefined

  // A new contiguous, zero-filled tensor.
  static Tensor Empty(DType dtype, const std::vector<int64_t>& sizes);
  // A new zero-filled tensor with this layout; the storage is just large
  // enough for every element. INVALID_ARGUMENT for negative values or a size
  // that overflows.
  static absl::StatusOr<Tensor> EmptyStrided(DType dtype,
                                             std::vector<int64_t> sizes,
                                             std::vector<int64_t> strides,
                                             int64_t storage_offset = 0);
  // A view of `base`'s storage with another layout (and possibly dtype of
  // the same size). INVALID_ARGUMENT if it reaches outside the storage.
  static absl::StatusOr<Tensor> View(const Tensor& base,
                                     std::vector<int64_t> sizes,
                                     std::vector<int64_t> strides,
                                     int64_t storage_offset);
  // A tensor over an existing storage (of any dtype: a backend's buffer
  // holds different dtypes over time). INVALID_ARGUMENT if the layout is
  // invalid or reaches outside the storage.
  static absl::StatusOr<Tensor> FromStorage(std::shared_ptr<Storage> storage,
                                            DType dtype,
                                            std::vector<int64_t> sizes,
                                            std::vector<int64_t> strides,
                                            int64_t storage_offset);
  // Contiguous tensor from values in row-major order, converted with ATen's
  // semantics (`FromValues(DType::kFloat16, {2}, {1.0, 2.5})`).
  static Tensor FromDoubles(DType dtype, const std::vector<int64_t>& sizes,
                            const std::vector<double>& values);
  static Tensor FromInts(DType dtype, const std::vector<int64_t>& sizes,
                         const std::vector<int64_t>& values);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& sizes() const { return sizes_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t storage_offset() const { return offset_; }
  int rank() const { return static_cast<int>(sizes_.size()); }
  int64_t numel() const;
  int64_t element_size() const { return ir::ElementSize(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool SharesStorageWith(const Tensor& o) const {
    return storage_ && storage_ == o.storage_;
  }
  bool IsContiguous() const;

  // Pointer to the element at storage offset + sum(index[i] * stride[i]).
  uint8_t* ElementPtr(const int64_t* index) const;
  uint8_t* ElementPtrAtOffset(int64_t element_offset) const {
    return storage_->data() + element_offset * element_size();
  }

  // Element values in row-major order of `sizes`, converted to double /
  // int64 (tests and printing).
  std::vector<double> ToDoubles() const;
  std::vector<int64_t> ToInts() const;
  // A contiguous copy.
  Tensor Contiguous() const;
  // The elements' bytes in row-major order (kiln.v1.Tensor.raw layout).
  std::string ContiguousBytes() const;
  // Copies `src` (same sizes, any dtype, converted) into this tensor's
  // elements.
  absl::Status CopyFrom(const Tensor& src);

  // "f32[2, 3] {1, 2, 3, 4, 5, 6}" (debugging).
  std::string DebugString(int max_elements = 16) const;

 private:
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> strides_;
  int64_t offset_ = 0;
  std::shared_ptr<Storage> storage_;
};

// Calls fn(index) for every index of `sizes` in row-major order (index is a
// pointer to rank() coordinates). Nothing for a tensor with a zero size; once
// for a 0-d tensor.
template <typename Fn>
void ForEachIndex(const std::vector<int64_t>& sizes, Fn fn) {
  for (int64_t s : sizes) {
    if (s == 0) return;
  }
  std::vector<int64_t> idx(sizes.size(), 0);
  while (true) {
    fn(idx.data());
    int d = static_cast<int>(sizes.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < sizes[d]) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// Reads one element of `dtype` at `p` as double / int64 (ATen conversion).
double LoadAsDouble(const uint8_t* p, DType dtype);
int64_t LoadAsInt(const uint8_t* p, DType dtype);
// Converts element `src` of `src_dtype` into `dst` of `dst_dtype`.
void ConvertElement(const uint8_t* src, DType src_dtype, uint8_t* dst,
                    DType dst_dtype);
// Stores a Scalar as one element of `dtype` (ATen's Scalar.to<T>()).
void StoreScalar(const Scalar& s, DType dtype, uint8_t* dst);

}  // namespace kiln::rt

#endif  // KILN_COMPILER_RUNTIME_TENSOR_H_
