// Per-RPC logging (name, duration, code) and naming of unimplemented RPCs.
#pragma once

#include <grpcpp/support/server_interceptor.h>

namespace flint::server {

class RpcInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace flint::server
