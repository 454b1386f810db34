// runtime.v1.RuntimeService. Handlers are split by RPC group:
//   runtime_info.cc      Version, Status, RuntimeConfig, UpdateRuntimeConfig
// RPCs without an override answer UNIMPLEMENTED (the interceptor names the RPC).
#pragma once

#include "api.grpc.pb.h"
#include "cri/config/config.h"

namespace flint::server {

namespace v1 = ::runtime::v1;

class RuntimeServiceImpl final : public v1::RuntimeService::Service {
 public:
  explicit RuntimeServiceImpl(const Config& config);

  grpc::Status Version(grpc::ServerContext* context, const v1::VersionRequest* request,
                       v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status RuntimeConfig(grpc::ServerContext* context, const v1::RuntimeConfigRequest* request,
                             v1::RuntimeConfigResponse* response) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext* context, const v1::UpdateRuntimeConfigRequest* request,
                                   v1::UpdateRuntimeConfigResponse* response) override;

 private:
  const Config& config_;
};

}  // namespace flint::server
