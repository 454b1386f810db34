// Exec, Attach, PortForward: validate, then hand out a one-shot URL of the streaming server.
#include "absl/strings/str_cat.h"
#include "cri/server/grpc_status.h"
#include "cri/server/runtime_service.h"
#include "cri/streaming/server.h"

namespace flint::server {
namespace {

// The container must exist and run; returns its full id.
absl::StatusOr<std::string> RunningContainer(runtime::PodRuntime* pods, const std::string& id_or_prefix) {
  if (id_or_prefix.empty()) return absl::InvalidArgumentError("container_id is required");
  absl::StatusOr<v1::ContainerStatus> status = pods->ContainerStatus(id_or_prefix, nullptr);
  if (!status.ok()) return status.status();
  if (status->state() != v1::CONTAINER_RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", status->id(), " is not running (", v1::ContainerState_Name(status->state()), ")"));
  }
  return status->id();
}

}  // namespace

grpc::Status RuntimeServiceImpl::Exec(grpc::ServerContext*, const v1::ExecRequest* request,
                                      v1::ExecResponse* response) {
  if (streaming_ == nullptr) return ToGrpcStatus(absl::UnavailableError("streaming server is not running"));
  absl::StatusOr<std::string> id = RunningContainer(pods_, request->container_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  v1::ExecRequest resolved = *request;
  resolved.set_container_id(*id);
  absl::StatusOr<std::string> url = streaming_->GetExecUrl(resolved);
  if (!url.ok()) return ToGrpcStatus(url.status());
  response->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::Attach(grpc::ServerContext*, const v1::AttachRequest* request,
                                        v1::AttachResponse* response) {
  if (streaming_ == nullptr) return ToGrpcStatus(absl::UnavailableError("streaming server is not running"));
  absl::StatusOr<std::string> id = RunningContainer(pods_, request->container_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  v1::AttachRequest resolved = *request;
  resolved.set_container_id(*id);
  absl::StatusOr<std::string> url = streaming_->GetAttachUrl(resolved);
  if (!url.ok()) return ToGrpcStatus(url.status());
  response->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::PortForward(grpc::ServerContext*, const v1::PortForwardRequest* request,
                                             v1::PortForwardResponse* response) {
  if (streaming_ == nullptr) return ToGrpcStatus(absl::UnavailableError("streaming server is not running"));
  if (request->pod_sandbox_id().empty()) return ToGrpcStatus(absl::InvalidArgumentError("pod_sandbox_id is required"));
  absl::StatusOr<std::string> id = pods_->records().ResolveSandboxId(request->pod_sandbox_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  v1::PortForwardRequest resolved = *request;
  resolved.set_pod_sandbox_id(*id);
  absl::StatusOr<std::string> url = streaming_->GetPortForwardUrl(resolved);
  if (!url.ok()) return ToGrpcStatus(url.status());
  response->set_url(*url);
  return grpc::Status::OK;
}

}  // namespace flint::server
