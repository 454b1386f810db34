#include "cri/server/rpc_interceptor.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace flint::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// "/runtime.v1.RuntimeService/Version" -> "Version".
std::string ShortMethodName(const char* method) {
  std::string full = method ? method : "";
  size_t slash = full.rfind('/');
  return slash == std::string::npos ? full : full.substr(slash + 1);
}

class RpcInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RpcInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() ? info->method() : ""), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      std::string rpc = ShortMethodName(method_.c_str());
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty()) {
        status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                              absl::StrCat("flint does not implement ", method_, " yet"));
        methods->ModifySendStatus(status);
      }
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
      if (status.ok()) {
        FLINT_LOG(DEBUG) << "rpc=" << rpc << " code=OK took_ms=" << ms;
      } else if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        FLINT_LOG(DEBUG) << "rpc=" << rpc << " code=UNIMPLEMENTED took_ms=" << ms;
      } else {
        FLINT_LOG(WARN) << "rpc=" << rpc << " code=" << status.error_code() << " took_ms=" << ms
                        << " error=\"" << status.error_message() << "\"";
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcInterceptor(info);
}

}  // namespace flint::server
