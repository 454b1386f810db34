// runtime.v1.ImageService. Handlers are split by RPC group:
//   image_pull.cc    PullImage (OCI images and flists)
//   image_query.cc   ListImages, ImageStatus
//   image_remove.cc  RemoveImage
//   image_fs.cc      ImageFsInfo
#pragma once

#include <functional>

#include "api.grpc.pb.h"
#include "cri/config/config.h"
#include "cri/flist_image/flist_image_store.h"
#include "cri/image/image_service.h"

namespace flint::server {

namespace v1 = ::runtime::v1;

class ImageServiceImpl final : public v1::ImageService::Service {
 public:
  // `flist_removed(image id)` runs after RemoveImage removed a flist image (its idle mount goes).
  ImageServiceImpl(const Config& config, image::ImageService* images, flist_image::FlistImageStore* flists,
                   std::function<void(const std::string&)> flist_removed = nullptr);

  grpc::Status PullImage(grpc::ServerContext* context, const v1::PullImageRequest* request,
                         v1::PullImageResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* context, const v1::ListImagesRequest* request,
                          v1::ListImagesResponse* response) override;
  grpc::Status ImageStatus(grpc::ServerContext* context, const v1::ImageStatusRequest* request,
                           v1::ImageStatusResponse* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* context, const v1::RemoveImageRequest* request,
                           v1::RemoveImageResponse* response) override;
  grpc::Status ImageFsInfo(grpc::ServerContext* context, const v1::ImageFsInfoRequest* request,
                           v1::ImageFsInfoResponse* response) override;

 private:
  // Fills a CRI Image from the store's record (pinned from the config's pinned_images).
  void ToCriImage(const image::Image& image, v1::Image* out) const;
  void ToCriImage(const flist_image::FlistImage& image, v1::Image* out) const;
  bool IsPinned(const image::Image& image) const;
  absl::Status CheckRuntimeHandler(const v1::ImageSpec& spec) const;

  const Config& config_;
  image::ImageService* images_;
  flist_image::FlistImageStore* flists_;
  std::function<void(const std::string&)> flist_removed_;
};

}  // namespace flint::server
