#include "compiler/runtime/tensor_proto.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::rt {

absl::StatusOr<Tensor> TensorFromProto(const v1::Tensor& proto,
                                       std::string_view path_view) {
  const std::string path(path_view);
  if (proto.data_case() != v1::Tensor::kRaw) {
    auto dtype =
        ir::DTypeFromProto(proto.dtype(), absl::StrCat(path, ".dtype"));
    if (!dtype.ok()) return dtype.status();
    if (proto.data_case() == v1::Tensor::DATA_NOT_SET) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor data is not set"));
    }
    return absl::UnimplementedError(
        absl::StrCat(path, ": only inline (raw) tensor data is supported"));
  }
  return TensorFromBytes(proto, proto.raw(), path, "raw");
}

absl::StatusOr<Tensor> TensorFromBytes(const v1::Tensor& proto,
                                       std::string_view raw,
                                       std::string_view path_view,
                                       std::string_view data_field) {
  const std::string path(path_view);
  auto dtype = ir::DTypeFromProto(proto.dtype(), absl::StrCat(path, ".dtype"));
  if (!dtype.ok()) return dtype.status();
  if (proto.sizes_size() != proto.strides_size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d sizes but %d strides", path, proto.sizes_size(),
                        proto.strides_size()));
  }
  std::vector<int64_t> sizes(proto.sizes().begin(), proto.sizes().end());
  std::vector<int64_t> strides(proto.strides().begin(), proto.strides().end());
  auto t = Tensor::EmptyStrided(*dtype, sizes, strides, proto.storage_offset());
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": ", t.status().message()));
  }
  int64_t es = ir::ElementSize(*dtype);
  if (static_cast<int64_t>(raw.size()) != t->numel() * es) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s.%s: %d bytes, expected %d (%d elements of %d bytes)", path,
        std::string(data_field), raw.size(), t->numel() * es, t->numel(), es));
  }
  if (*dtype == ir::DType::kBool) {
    for (size_t k = 0; k < raw.size(); ++k) {
      if (static_cast<uint8_t>(raw[k]) > 1) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.%s: bool element %d is %d, not 0 or 1", path,
            std::string(data_field), k, static_cast<uint8_t>(raw[k])));
      }
    }
  }
  // The bytes are the elements in row-major order: one copy when the
  // tensor's layout is that order too.
  if (t->IsContiguous()) {
    if (!raw.empty())
      std::memcpy(t->ElementPtrAtOffset(t->storage_offset()), raw.data(),
                  raw.size());
    return *std::move(t);
  }
  int64_t i = 0;
  absl::Status st = absl::OkStatus();
  ForEachIndex(t->sizes(), [&](const int64_t* idx) {
    const char* src = raw.data() + i * es;
    if (*dtype == ir::DType::kBool && static_cast<uint8_t>(*src) > 1 &&
        st.ok()) {
      st = absl::InvalidArgumentError(absl::StrFormat(
          "%s.%s: bool element %d is %d, not 0 or 1", path,
          std::string(data_field), i, static_cast<uint8_t>(*src)));
    }
    std::memcpy(t->ElementPtr(idx), src, es);
    ++i;
  });
  if (!st.ok()) return st;
  return *std::move(t);
}

void TensorToProto(const Tensor& tensor, v1::Tensor* proto) {
  proto->set_dtype(static_cast<v1::DType>(ir::DTypeToProto(tensor.dtype())));
  proto->mutable_device()->set_type(v1::CPU);
  for (int64_t s : tensor.sizes()) proto->add_sizes(s);
  for (int64_t s : tensor.strides()) proto->add_strides(s);
  proto->set_storage_offset(tensor.storage_offset());
  proto->set_raw(tensor.ContiguousBytes());
}

}  // namespace kiln::rt
