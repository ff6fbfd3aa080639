#include "compiler/runtime/tensor.h"

#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::rt {

Storage::Storage(int64_t bytes, bool zero_fill) : size_(bytes) {
  int64_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
  if (zero_fill) std::memset(data_, 0, rounded);
}

Storage::~Storage() { std::free(data_); }

DType Scalar::dtype() const {
  switch (kind) {
    case Kind::kInt:
      return DType::kInt64;
    case Kind::kFloat:
      return DType::kFloat64;
    case Kind::kBool:
      return DType::kBool;
  }
  return DType::kInt64;
}

double Scalar::AsDouble() const {
  switch (kind) {
    case Kind::kInt:
      return static_cast<double>(i);
    case Kind::kFloat:
      return f;
    case Kind::kBool:
      return b ? 1.0 : 0.0;
  }
  return 0;
}

std::string Scalar::ToString() const {
  switch (kind) {
    case Kind::kInt:
      return absl::StrCat(i);
    case Kind::kFloat:
      return absl::StrFormat("%g", f);
    case Kind::kBool:
      return b ? "True" : "False";
  }
  return "?";
}

namespace {

// Largest element offset reached, or -1 when there are no elements.
absl::StatusOr<int64_t> ExtentOf(const std::vector<int64_t>& sizes,
                                 const std::vector<int64_t>& strides,
                                 int64_t offset) {
  if (sizes.size() != strides.size()) {
    return absl::InvalidArgumentError("sizes and strides differ in length");
  }
  if (offset < 0) return absl::InvalidArgumentError("negative storage offset");
  int64_t max = offset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0) return absl::InvalidArgumentError("negative size");
    if (strides[i] < 0) return absl::InvalidArgumentError("negative stride");
    if (sizes[i] == 0) return -1;
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    int64_t reach;
    if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) ||
        __builtin_add_overflow(max, reach, &max)) {
      return absl::InvalidArgumentError("tensor extent overflows int64");
    }
  }
  return max;
}

}  // namespace

Tensor Tensor::Empty(DType dtype, const std::vector<int64_t>& sizes) {
  std::vector<int64_t> strides(sizes.size());
  int64_t running = 1;
  for (int i = static_cast<int>(sizes.size()) - 1; i >= 0; --i) {
    strides[i] = running;
    running *= sizes[i] > 1 ? sizes[i] : 1;
  }
  return *EmptyStrided(dtype, sizes, strides, 0);
}

absl::StatusOr<Tensor> Tensor::EmptyStrided(DType dtype,
                                            std::vector<int64_t> sizes,
                                            std::vector<int64_t> strides,
                                            int64_t storage_offset) {
  auto extent = ExtentOf(sizes, strides, storage_offset);
  if (!extent.ok()) return extent.status();
  int64_t elements = *extent + 1;
  if (*extent < 0) elements = storage_offset;
  int64_t bytes;
  if (__builtin_mul_overflow(elements, ir::ElementSize(dtype), &bytes) ||
      bytes > (int64_t{1} << 40)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tensor of ", elements, " elements is too large"));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.sizes_ = std::move(sizes);
  t.strides_ = std::move(strides);
  t.offset_ = storage_offset;
  t.storage_ = std::make_shared<Storage>(bytes);
  return t;
}

absl::StatusOr<Tensor> Tensor::FromStorage(std::shared_ptr<Storage> storage,
                                           DType dtype,
                                           std::vector<int64_t> sizes,
                                           std::vector<int64_t> strides,
                                           int64_t storage_offset) {
  auto extent = ExtentOf(sizes, strides, storage_offset);
  if (!extent.ok()) return extent.status();
  if (storage == nullptr ||
      (*extent + 1) * ir::ElementSize(dtype) > storage->size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor [%s] with strides [%s] and offset %d does not fit its "
        "storage",
        absl::StrJoin(sizes, ", "), absl::StrJoin(strides, ", "),
        storage_offset));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.sizes_ = std::move(sizes);
  t.strides_ = std::move(strides);
  t.offset_ = storage_offset;
  t.storage_ = std::move(storage);
  return t;
}

absl::StatusOr<Tensor> Tensor::View(const Tensor& base,
                                    std::vector<int64_t> sizes,
                                    std::vector<int64_t> strides,
                                    int64_t storage_offset) {
  auto extent = ExtentOf(sizes, strides, storage_offset);
  if (!extent.ok()) return extent.status();
  if ((*extent + 1) * base.element_size() > base.storage_->size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "view [%s] with strides [%s] and offset %d reaches outside a storage "
        "of %d bytes",
        absl::StrJoin(sizes, ", "), absl::StrJoin(strides, ", "),
        storage_offset, base.storage_->size()));
  }
  Tensor t;
  t.dtype_ = base.dtype_;
  t.sizes_ = std::move(sizes);
  t.strides_ = std::move(strides);
  t.offset_ = storage_offset;
  t.storage_ = base.storage_;
  return t;
}

Tensor Tensor::FromDoubles(DType dtype, const std::vector<int64_t>& sizes,
                           const std::vector<double>& values) {
  Tensor t = Empty(dtype, sizes);
  DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    uint8_t* p = t.storage_->data();
    for (size_t i = 0; i < values.size() && i < size_t(t.numel()); ++i) {
      StoreElement<double, T>(p + i * sizeof(T), values[i]);
    }
  });
  return t;
}

Tensor Tensor::FromInts(DType dtype, const std::vector<int64_t>& sizes,
                        const std::vector<int64_t>& values) {
  Tensor t = Empty(dtype, sizes);
  DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    uint8_t* p = t.storage_->data();
    for (size_t i = 0; i < values.size() && i < size_t(t.numel()); ++i) {
      StoreElement<int64_t, T>(p + i * sizeof(T), values[i]);
    }
  });
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes_) n *= s;
  return n;
}

bool Tensor::IsContiguous() const {
  int64_t expected = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (sizes_[i] == 1) continue;
    if (sizes_[i] == 0) return true;
    if (strides_[i] != expected) return false;
    expected *= sizes_[i];
  }
  return true;
}

uint8_t* Tensor::ElementPtr(const int64_t* index) const {
  int64_t off = offset_;
  for (size_t i = 0; i < sizes_.size(); ++i) off += index[i] * strides_[i];
  return storage_->data() + off * element_size();
}

double LoadAsDouble(const uint8_t* p, DType dtype) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return LoadElement<double, T>(p);
  });
}

int64_t LoadAsInt(const uint8_t* p, DType dtype) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return LoadElement<int64_t, T>(p);
  });
}

void ConvertElement(const uint8_t* src, DType src_dtype, uint8_t* dst,
                    DType dst_dtype) {
  DispatchDType(src_dtype, [&](auto stag) {
    using S = typename decltype(stag)::type;
    S s;
    std::memcpy(&s, src, sizeof(S));
    DispatchDType(dst_dtype, [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      D d = pw::Convert<D>(s);
      std::memcpy(dst, &d, sizeof(D));
    });
  });
}

void StoreScalar(const Scalar& s, DType dtype, uint8_t* dst) {
  DispatchDType(dtype, [&](auto tag) {
    using D = typename decltype(tag)::type;
    D d;
    switch (s.kind) {
      case Scalar::Kind::kInt:
        d = pw::Convert<D>(s.i);
        break;
      case Scalar::Kind::kFloat:
        d = pw::Convert<D>(s.f);
        break;
      case Scalar::Kind::kBool:
        d = pw::Convert<D>(s.b);
        break;
    }
    std::memcpy(dst, &d, sizeof(D));
  });
}

std::vector<double> Tensor::ToDoubles() const {
  std::vector<double> out;
  out.reserve(numel());
  ForEachIndex(sizes_, [&](const int64_t* idx) {
    out.push_back(LoadAsDouble(ElementPtr(idx), dtype_));
  });
  return out;
}

std::vector<int64_t> Tensor::ToInts() const {
  std::vector<int64_t> out;
  out.reserve(numel());
  ForEachIndex(sizes_, [&](const int64_t* idx) {
    out.push_back(LoadAsInt(ElementPtr(idx), dtype_));
  });
  return out;
}

Tensor Tensor::Contiguous() const {
  Tensor out = Empty(dtype_, sizes_);
  (void)out.CopyFrom(*this);
  return out;
}

std::string Tensor::ContiguousBytes() const {
  std::string out;
  int64_t es = element_size();
  out.resize(numel() * es);
  if (IsContiguous()) {
    if (!out.empty()) {
      std::memcpy(&out[0], ElementPtrAtOffset(offset_), out.size());
    }
    return out;
  }
  int64_t i = 0;
  ForEachIndex(sizes_, [&](const int64_t* idx) {
    std::memcpy(&out[i * es], ElementPtr(idx), es);
    ++i;
  });
  return out;
}

absl::Status Tensor::CopyFrom(const Tensor& src) {
  if (src.sizes_ != sizes_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "copy from [%s] into [%s]", absl::StrJoin(src.sizes_, ", "),
        absl::StrJoin(sizes_, ", ")));
  }
  ForEachIndex(sizes_, [&](const int64_t* idx) {
    ConvertElement(src.ElementPtr(idx), src.dtype_, ElementPtr(idx), dtype_);
  });
  return absl::OkStatus();
}

std::string Tensor::DebugString(int max_elements) const {
  if (!defined()) return "<undefined>";
  std::string out = absl::StrCat(ir::ShortName(dtype_), "[",
                                 absl::StrJoin(sizes_, ", "), "] {");
  int n = 0;
  bool integral = ir::IsIntegral(dtype_, /*include_bool=*/true);
  ForEachIndex(sizes_, [&](const int64_t* idx) {
    if (n < max_elements) {
      if (n > 0) out += ", ";
      if (integral) {
        absl::StrAppend(&out, LoadAsInt(ElementPtr(idx), dtype_));
      } else {
        absl::StrAppend(
            &out, absl::StrFormat("%g", LoadAsDouble(ElementPtr(idx), dtype_)));
      }
    } else if (n == max_elements) {
      out += ", ...";
    }
    ++n;
  });
  return out + "}";
}

}  // namespace kiln::rt
