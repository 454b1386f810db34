#include "cri/server/cri_server.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/server/rpc_interceptor.h"

namespace flint::server {
namespace {
constexpr int kMaxMessageBytes = 16 * 1024 * 1024;  // kubelet's client accepts up to 16 MiB
}

CriServer::CriServer(const Config& config)
    : config_(config), runtime_service_(config), image_service_(config) {}

CriServer::~CriServer() {
  Shutdown();
  if (lock_fd_ >= 0) close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<CriServer>> CriServer::Start(const Config& config) {
  std::unique_ptr<CriServer> server(new CriServer(config));
  std::string socket_dir = config.socket.substr(0, config.socket.rfind('/'));
  if (absl::Status s = fs::MakeDirs(socket_dir.empty() ? "/" : socket_dir, 0711); !s.ok()) return s;
  for (const std::string& dir : {config.state_dir, config.root_dir}) {
    if (absl::Status s = fs::MakeDirs(dir, 0711); !s.ok()) return s;
  }

  // The lock beside the socket says who owns it; it dies with the process, so a
  // crashed flintd never blocks the next one.
  std::string lock_path = config.socket + ".lock";
  server->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (server->lock_fd_ < 0) return absl::PermissionDeniedError(absl::StrCat("open ", lock_path, ": ", strerror(errno)));
  if (flock(server->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("another flintd already serves ", config.socket,
                                                      " (lock ", lock_path, " is held); stop it first"));
  }
  if (unlink(config.socket.c_str()) == 0) FLINT_LOG(INFO) << "removed stale socket " << config.socket;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", config.socket), grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Idle sync-server threads notice shutdown at their next poll; keep that short.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 200);
  builder.RegisterService(&server->runtime_service_);
  builder.RegisterService(&server->image_service_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (!server->server_) return absl::UnavailableError(absl::StrCat("cannot listen on unix:", config.socket));
  if (chmod(config.socket.c_str(), 0660) != 0)
    return absl::PermissionDeniedError(absl::StrCat("chmod ", config.socket, ": ", strerror(errno)));
  FLINT_LOG(INFO) << "serving CRI runtime.v1 on unix://" << config.socket;
  return server;
}

void CriServer::Shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
  unlink(config_.socket.c_str());
  FLINT_LOG(INFO) << "stopped serving " << config_.socket;
}

void CriServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace flint::server
