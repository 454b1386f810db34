// The gRPC server: both CRI services on the unix socket.
#pragma once

#include <grpcpp/server.h>

#include <memory>

#include "absl/status/statusor.h"
#include "cri/config/config.h"
#include "cri/image/image_service.h"
#include "cri/server/image_service.h"
#include "cri/server/runtime_service.h"
#include "cri/runtime/streaming_runtime.h"
#include "cri/streaming/server.h"

namespace flint::server {

class CriServer {
 public:
  // Takes the socket: refuses (FailedPrecondition) when another flintd owns it,
  // removes a stale socket file left by a crash.
  static absl::StatusOr<std::unique_ptr<CriServer>> Start(const Config& config);
  ~CriServer();

  // Stops accepting, lets in-flight RPCs finish (bounded), removes the socket.
  void Shutdown();
  void Wait();

 private:
  explicit CriServer(const Config& config);
  const Config& config_;
  int lock_fd_ = -1;
  std::unique_ptr<image::ImageService> images_;
  std::unique_ptr<flist_image::FlistImageStore> flists_;
  std::unique_ptr<cni::CniManager> cni_;
  std::unique_ptr<runtime::PodRuntime> pods_;
  std::unique_ptr<RuntimeServiceImpl> runtime_service_;
  std::unique_ptr<ImageServiceImpl> image_service_;
  std::unique_ptr<grpc::Server> server_;
  // Exec/Attach/PortForward URLs point here; declared last so it stops before the pods go.
  std::unique_ptr<runtime::PodStreamingRuntime> streaming_runtime_;
  std::unique_ptr<streaming::StreamingServer> streaming_;
};

}  // namespace flint::server
