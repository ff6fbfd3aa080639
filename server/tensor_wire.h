// Concrete tensors on the wire, as the Compiler service receives and sends
// them (kiln.v1.Tensor): metadata checks done before any data is touched,
// and the pieces of an output message.
//
// The data of a wire tensor is numel(sizes) * element_size(dtype) bytes in
// row-major order, whatever the transport (inline `raw`, a shared-memory
// range, chunks of a stream); compiler/runtime/tensor_proto.h turns those
// bytes into an rt::Tensor with the sender's layout. Pure functions,
// thread-safe.
#ifndef KILN_SERVER_TENSOR_WIRE_H_
#define KILN_SERVER_TENSOR_WIRE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "compiler/runtime/tensor.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::server {

// Checks a wire tensor's metadata and returns the byte size its data must
// have. INVALID_ARGUMENT (message starting with `path`) for an unset or
// unknown dtype or device, a CPU device with a non-zero index, a negative
// CUDA index, sizes and strides of different lengths, negative sizes,
// strides or offset, or sizes whose product overflows. RESOURCE_EXHAUSTED
// when the data, or the storage the layout spans (offset + 1 + sum((size -
// 1) * stride) elements), is over `max_tensor_bytes`.
absl::StatusOr<int64_t> CheckWireTensor(const v1::Tensor& tensor,
                                        std::string_view path,
                                        int64_t max_tensor_bytes);

// INVALID_ARGUMENT naming `path`.`field` unless `actual` equals the
// `expected` data size from CheckWireTensor.
absl::Status CheckDataBytes(int64_t actual, int64_t expected,
                            const v1::Tensor& tensor, std::string_view path,
                            std::string_view field);

// Fills dtype, sizes, strides and storage offset of `proto` from `tensor`,
// and its device from `device` (the device the client placed the value on),
// leaving the data unset.
void SetWireMeta(const rt::Tensor& tensor, const v1::Device& device,
                 v1::Tensor* proto);

// Bytes of `tensor`'s data on the wire (numel * element size).
int64_t WireBytes(const rt::Tensor& tensor);

}  // namespace kiln::server

#endif  // KILN_SERVER_TENSOR_WIRE_H_
