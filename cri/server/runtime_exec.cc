#include "cri/server/grpc_status.h"
#include "cri/server/runtime_service.h"

namespace flint::server {

grpc::Status RuntimeServiceImpl::ExecSync(grpc::ServerContext*, const v1::ExecSyncRequest* request,
                                          v1::ExecSyncResponse* response) {
  std::vector<std::string> cmd(request->cmd().begin(), request->cmd().end());
  absl::StatusOr<v1::ExecSyncResponse> result = pods_->ExecSync(request->container_id(), cmd, request->timeout());
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace flint::server
