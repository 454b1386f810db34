// runtime.v1.ImageService. Handlers are split by RPC group:
//   image_fs.cc   ImageFsInfo
#pragma once

#include "api.grpc.pb.h"
#include "cri/config/config.h"

namespace flint::server {

namespace v1 = ::runtime::v1;

class ImageServiceImpl final : public v1::ImageService::Service {
 public:
  explicit ImageServiceImpl(const Config& config);

  grpc::Status ImageFsInfo(grpc::ServerContext* context, const v1::ImageFsInfoRequest* request,
                           v1::ImageFsInfoResponse* response) override;

 private:
  const Config& config_;
};

}  // namespace flint::server
