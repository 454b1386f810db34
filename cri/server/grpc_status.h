// The one place absl::Status becomes a gRPC status.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace flint::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace flint::server
