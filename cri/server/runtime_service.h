// runtime.v1.RuntimeService. Handlers are split by RPC group:
//   runtime_info.cc       Version, Status, RuntimeConfig, UpdateRuntimeConfig
//   runtime_sandbox.cc    RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox
//   runtime_container.cc  CreateContainer, StartContainer, StopContainer, RemoveContainer,
//                         ContainerStatus, ListContainers, UpdateContainerResources, ReopenContainerLog
//   runtime_exec.cc       ExecSync
// RPCs without an override answer UNIMPLEMENTED (the interceptor names the RPC).
#pragma once

#include "api.grpc.pb.h"
#include "cri/cni/cni_manager.h"
#include "cri/config/config.h"
#include "cri/runtime/pod_runtime.h"

namespace flint::server {

namespace v1 = ::runtime::v1;

class RuntimeServiceImpl final : public v1::RuntimeService::Service {
 public:
  RuntimeServiceImpl(const Config& config, runtime::PodRuntime* pods, cni::CniManager* cni);

  grpc::Status Version(grpc::ServerContext* context, const v1::VersionRequest* request,
                       v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status RuntimeConfig(grpc::ServerContext* context, const v1::RuntimeConfigRequest* request,
                             v1::RuntimeConfigResponse* response) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext* context, const v1::UpdateRuntimeConfigRequest* request,
                                   v1::UpdateRuntimeConfigResponse* response) override;

  grpc::Status RunPodSandbox(grpc::ServerContext* context, const v1::RunPodSandboxRequest* request,
                             v1::RunPodSandboxResponse* response) override;
  grpc::Status StopPodSandbox(grpc::ServerContext* context, const v1::StopPodSandboxRequest* request,
                              v1::StopPodSandboxResponse* response) override;
  grpc::Status RemovePodSandbox(grpc::ServerContext* context, const v1::RemovePodSandboxRequest* request,
                                v1::RemovePodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(grpc::ServerContext* context, const v1::PodSandboxStatusRequest* request,
                                v1::PodSandboxStatusResponse* response) override;
  grpc::Status ListPodSandbox(grpc::ServerContext* context, const v1::ListPodSandboxRequest* request,
                              v1::ListPodSandboxResponse* response) override;

  grpc::Status CreateContainer(grpc::ServerContext* context, const v1::CreateContainerRequest* request,
                               v1::CreateContainerResponse* response) override;
  grpc::Status StartContainer(grpc::ServerContext* context, const v1::StartContainerRequest* request,
                              v1::StartContainerResponse* response) override;
  grpc::Status StopContainer(grpc::ServerContext* context, const v1::StopContainerRequest* request,
                             v1::StopContainerResponse* response) override;
  grpc::Status RemoveContainer(grpc::ServerContext* context, const v1::RemoveContainerRequest* request,
                               v1::RemoveContainerResponse* response) override;
  grpc::Status ContainerStatus(grpc::ServerContext* context, const v1::ContainerStatusRequest* request,
                               v1::ContainerStatusResponse* response) override;
  grpc::Status ListContainers(grpc::ServerContext* context, const v1::ListContainersRequest* request,
                              v1::ListContainersResponse* response) override;
  grpc::Status UpdateContainerResources(grpc::ServerContext* context,
                                        const v1::UpdateContainerResourcesRequest* request,
                                        v1::UpdateContainerResourcesResponse* response) override;
  grpc::Status ReopenContainerLog(grpc::ServerContext* context, const v1::ReopenContainerLogRequest* request,
                                  v1::ReopenContainerLogResponse* response) override;
  grpc::Status ExecSync(grpc::ServerContext* context, const v1::ExecSyncRequest* request,
                        v1::ExecSyncResponse* response) override;

 private:
  const Config& config_;
  runtime::PodRuntime* pods_;
  cni::CniManager* cni_;
};

}  // namespace flint::server
