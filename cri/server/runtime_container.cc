#include "cri/server/grpc_status.h"
#include "cri/server/runtime_service.h"

namespace flint::server {

grpc::Status RuntimeServiceImpl::CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* request,
                                                 v1::CreateContainerResponse* response) {
  absl::StatusOr<std::string> id =
      pods_->CreateContainer(request->pod_sandbox_id(), request->config(), request->sandbox_config());
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_container_id(*id);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* request,
                                                v1::StartContainerResponse*) {
  return ToGrpcStatus(pods_->StartContainer(request->container_id()));
}

grpc::Status RuntimeServiceImpl::StopContainer(grpc::ServerContext*, const v1::StopContainerRequest* request,
                                               v1::StopContainerResponse*) {
  return ToGrpcStatus(pods_->StopContainer(request->container_id(), request->timeout()));
}

grpc::Status RuntimeServiceImpl::RemoveContainer(grpc::ServerContext*, const v1::RemoveContainerRequest* request,
                                                 v1::RemoveContainerResponse*) {
  return ToGrpcStatus(pods_->RemoveContainer(request->container_id()));
}

grpc::Status RuntimeServiceImpl::ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest* request,
                                                 v1::ContainerStatusResponse* response) {
  std::map<std::string, std::string> info;
  absl::StatusOr<v1::ContainerStatus> status =
      pods_->ContainerStatus(request->container_id(), request->verbose() ? &info : nullptr);
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response->mutable_status() = *status;
  response->mutable_info()->insert(info.begin(), info.end());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListContainers(grpc::ServerContext*, const v1::ListContainersRequest* request,
                                                v1::ListContainersResponse* response) {
  for (auto& container : pods_->ListContainers(request->has_filter() ? &request->filter() : nullptr)) {
    *response->add_containers() = std::move(container);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UpdateContainerResources(grpc::ServerContext*,
                                                          const v1::UpdateContainerResourcesRequest* request,
                                                          v1::UpdateContainerResourcesResponse*) {
  return ToGrpcStatus(pods_->UpdateContainerResources(request->container_id(), request->linux()));
}

grpc::Status RuntimeServiceImpl::ReopenContainerLog(grpc::ServerContext*,
                                                    const v1::ReopenContainerLogRequest* request,
                                                    v1::ReopenContainerLogResponse*) {
  return ToGrpcStatus(pods_->ReopenContainerLog(request->container_id()));
}

}  // namespace flint::server
