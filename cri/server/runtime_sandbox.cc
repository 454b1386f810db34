#include "cri/server/grpc_status.h"
#include "cri/server/runtime_service.h"

namespace flint::server {

grpc::Status RuntimeServiceImpl::RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* request,
                                               v1::RunPodSandboxResponse* response) {
  absl::StatusOr<std::string> id = pods_->RunPodSandbox(request->config(), request->runtime_handler());
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_pod_sandbox_id(*id);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StopPodSandbox(grpc::ServerContext*, const v1::StopPodSandboxRequest* request,
                                                v1::StopPodSandboxResponse*) {
  return ToGrpcStatus(pods_->StopPodSandbox(request->pod_sandbox_id()));
}

grpc::Status RuntimeServiceImpl::RemovePodSandbox(grpc::ServerContext*, const v1::RemovePodSandboxRequest* request,
                                                  v1::RemovePodSandboxResponse*) {
  return ToGrpcStatus(pods_->RemovePodSandbox(request->pod_sandbox_id()));
}

grpc::Status RuntimeServiceImpl::PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* request,
                                                  v1::PodSandboxStatusResponse* response) {
  std::map<std::string, std::string> info;
  absl::StatusOr<v1::PodSandboxStatus> status =
      pods_->PodSandboxStatus(request->pod_sandbox_id(), request->verbose() ? &info : nullptr);
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response->mutable_status() = *status;
  response->mutable_info()->insert(info.begin(), info.end());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListPodSandbox(grpc::ServerContext*, const v1::ListPodSandboxRequest* request,
                                                v1::ListPodSandboxResponse* response) {
  for (auto& sandbox : pods_->ListPodSandbox(request->has_filter() ? &request->filter() : nullptr)) {
    *response->add_items() = std::move(sandbox);
  }
  return grpc::Status::OK;
}

}  // namespace flint::server
