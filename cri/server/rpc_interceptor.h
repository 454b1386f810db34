// Per-RPC logging (name, duration, code), latency metrics and naming of unimplemented RPCs.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "cri/stats/metrics_registry.h"

namespace flint::server {

class RpcInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` (may be null) receives every RPC's duration; it must outlive the server.
  explicit RpcInterceptorFactory(stats::FlintMetrics* metrics = nullptr) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  stats::FlintMetrics* metrics_;
};

// "OK", "NOT_FOUND", ... as gRPC spells the codes (the `code` label of the RPC histogram).
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace flint::server
