#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

ImageServiceImpl::ImageServiceImpl(const Config& config) : config_(config) {}

grpc::Status ImageServiceImpl::ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*,
                                           v1::ImageFsInfoResponse* response) {
  // The image store lives under root_dir; it must answer even before any pull.
  std::string image_dir = absl::StrCat(config_.root_dir, "/images");
  absl::StatusOr<fs::DiskUsage> usage = fs::MeasureDiskUsage(image_dir);
  if (!usage.ok()) return ToGrpcStatus(absl::Status(usage.status().code(), absl::StrCat("ImageFsInfo: ", usage.status().message())));
  v1::FilesystemUsage* fs_usage = response->add_image_filesystems();
  fs_usage->set_timestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  fs_usage->mutable_fs_id()->set_mountpoint(image_dir);
  fs_usage->mutable_used_bytes()->set_value(usage->bytes);
  fs_usage->mutable_inodes_used()->set_value(usage->inodes);
  return grpc::Status::OK;
}

}  // namespace flint::server
