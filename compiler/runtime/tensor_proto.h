// Concrete tensors on the wire (kiln.v1.Tensor) <-> rt::Tensor.
//
// The wire data is the tensor's elements in row-major order of its sizes;
// `strides` and `storage_offset` describe the layout the sender holds, which
// TensorFromProto reconstructs (a storage just large enough, elements
// scattered into it). TensorFromProto reads inline (`raw`) data; the
// server's transports (shared memory, chunked streams) hand their bytes to
// TensorFromBytes. Pure functions.
#ifndef KILN_COMPILER_RUNTIME_TENSOR_PROTO_H_
#define KILN_COMPILER_RUNTIME_TENSOR_PROTO_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "compiler/runtime/tensor.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::rt {

// INVALID_ARGUMENT (prefixed with `path`) for a bad dtype, negative sizes or
// strides, or a data size that does not match; UNIMPLEMENTED for shm and
// chunked data. Bool bytes other than 0 and 1 are INVALID_ARGUMENT.
absl::StatusOr<Tensor> TensorFromProto(const v1::Tensor& proto,
                                       std::string_view path);

// The same with the data bytes given apart from `proto` (whose `data` field
// is ignored): `bytes` are the elements in row-major order. `data_field`
// names the data in errors ("raw", "shm", "chunked").
absl::StatusOr<Tensor> TensorFromBytes(const v1::Tensor& proto,
                                       std::string_view bytes,
                                       std::string_view path,
                                       std::string_view data_field);

// Writes sizes, strides, offset and the row-major data (`raw`). The device
// is CPU.
void TensorToProto(const Tensor& tensor, v1::Tensor* proto);

}  // namespace kiln::rt

#endif  // KILN_COMPILER_RUNTIME_TENSOR_PROTO_H_
