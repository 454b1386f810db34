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
  RpcInterceptor(grpc::experimental::ServerRpcInfo* info, stats::FlintMetrics* metrics)
      : method_(info->method() ? info->method() : ""), metrics_(metrics), start_(std::chrono::steady_clock::now()) {}

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
      if (metrics_) {
        metrics_->rpc_duration_seconds.WithLabels({rpc, GrpcCodeName(status.error_code())}).Observe(ms / 1000);
        if (rpc == "PullImage" && status.ok()) metrics_->image_pull_duration_seconds.WithLabels({}).Observe(ms / 1000);
      }
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
  stats::FlintMetrics* metrics_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcInterceptor(info, metrics_);
}

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace flint::server
