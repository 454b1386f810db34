#include "absl/strings/str_cat.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

grpc::Status ImageServiceImpl::ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*,
                                           v1::ImageFsInfoResponse* response) {
  absl::StatusOr<image::ImageFsInfo> info = images_->FsInfo();
  if (!info.ok()) {
    return ToGrpcStatus(absl::Status(info.status().code(), absl::StrCat("ImageFsInfo: ", info.status().message())));
  }
  v1::FilesystemUsage* usage = response->add_image_filesystems();
  usage->set_timestamp(info->timestamp_ns);
  usage->mutable_fs_id()->set_mountpoint(info->mountpoint);
  usage->mutable_used_bytes()->set_value(info->used_bytes);
  usage->mutable_inodes_used()->set_value(info->inodes_used);
  return grpc::Status::OK;
}

}  // namespace flint::server
