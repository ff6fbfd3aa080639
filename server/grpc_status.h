#ifndef KILN_SERVER_GRPC_STATUS_H_
#define KILN_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace kiln::server {

// The one place an absl::Status becomes a grpc::Status: same code, same
// message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_STATUS_H_
