#include "server/tensor_wire.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ir/dtype.h"

namespace kiln::server {
namespace {

std::string Shape(const google::protobuf::RepeatedField<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

}  // namespace

absl::StatusOr<int64_t> CheckWireTensor(const v1::Tensor& tensor,
                                        std::string_view path_view,
                                        int64_t max_tensor_bytes) {
  const std::string path(path_view);
  absl::StatusOr<ir::DType> dtype =
      ir::DTypeFromProto(tensor.dtype(), absl::StrCat(path, ".dtype"));
  if (!dtype.ok()) return dtype.status();
  if (!tensor.has_device() ||
      tensor.device().type() == v1::DEVICE_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".device: required (cpu or cuda:N)"));
  }
  const v1::Device& device = tensor.device();
  if (device.type() != v1::CPU && device.type() != v1::CUDA) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".device.type: unknown device type ", device.type()));
  }
  if (device.type() == v1::CPU && device.index() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".device.index: must be 0 for cpu, got ", device.index()));
  }
  if (device.index() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".device.index: must be >= 0, got ", device.index()));
  }
  if (tensor.sizes_size() != tensor.strides_size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d sizes but %d strides", path,
                        tensor.sizes_size(), tensor.strides_size()));
  }
  if (tensor.storage_offset() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".storage_offset: must be >= 0, got ", tensor.storage_offset()));
  }
  const int64_t element_size = ir::ElementSize(*dtype);
  int64_t numel = 1;
  int64_t extent = tensor.storage_offset() + 1;  // elements the layout spans
  bool overflow = false;
  for (int d = 0; d < tensor.sizes_size(); ++d) {
    int64_t size = tensor.sizes(d);
    int64_t stride = tensor.strides(d);
    if (size < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s.sizes[%d]: size %d is negative", path, d, size));
    }
    if (stride < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.strides[%d]: stride %d is negative", path, d, stride));
    }
    overflow |= __builtin_mul_overflow(numel, size, &numel);
    if (size > 0) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(size - 1, stride, &reach);
      overflow |= __builtin_add_overflow(extent, reach, &extent);
    }
  }
  int64_t bytes = 0;
  int64_t extent_bytes = 0;
  overflow |= __builtin_mul_overflow(numel, element_size, &bytes);
  overflow |= __builtin_mul_overflow(extent, element_size, &extent_bytes);
  if (overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": sizes ", Shape(tensor.sizes()), " with strides ",
                     Shape(tensor.strides()), " overflow 64-bit byte counts"));
  }
  if (numel == 0) extent_bytes = 0;
  if (bytes > max_tensor_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: %d bytes of data (sizes %s) is over the limit of %d "
        "(Limits.max_tensor_bytes)",
        path, bytes, Shape(tensor.sizes()), max_tensor_bytes));
  }
  if (extent_bytes > max_tensor_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: the layout (sizes %s, strides %s, storage offset %d) spans %d "
        "bytes of storage, over the limit of %d (Limits.max_tensor_bytes)",
        path, Shape(tensor.sizes()), Shape(tensor.strides()),
        tensor.storage_offset(), extent_bytes, max_tensor_bytes));
  }
  return bytes;
}

absl::Status CheckDataBytes(int64_t actual, int64_t expected,
                            const v1::Tensor& tensor, std::string_view path,
                            std::string_view field) {
  if (actual == expected) return absl::OkStatus();
  int64_t element_size = 0;
  if (absl::StatusOr<ir::DType> d = ir::DTypeFromProto(tensor.dtype(), "");
      d.ok()) {
    element_size = ir::ElementSize(*d);
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s.%s: %d bytes, but dtype %s and sizes %s need %d (%d elements of "
      "%d bytes)",
      std::string(path), std::string(field), actual,
      v1::DType_Name(tensor.dtype()), Shape(tensor.sizes()), expected,
      element_size == 0 ? 0 : expected / element_size, element_size));
}

void SetWireMeta(const rt::Tensor& tensor, const v1::Device& device,
                 v1::Tensor* proto) {
  proto->set_dtype(static_cast<v1::DType>(ir::DTypeToProto(tensor.dtype())));
  *proto->mutable_device() = device;
  if (proto->device().type() == v1::DEVICE_TYPE_UNSPECIFIED) {
    proto->mutable_device()->set_type(v1::CPU);
  }
  for (int64_t s : tensor.sizes()) proto->add_sizes(s);
  for (int64_t s : tensor.strides()) proto->add_strides(s);
  proto->set_storage_offset(tensor.storage_offset());
}

int64_t WireBytes(const rt::Tensor& tensor) {
  return tensor.numel() * tensor.element_size();
}

}  // namespace kiln::server
