#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/cache/shared_ledger.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

grpc::Status ImageServiceImpl::ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*,
                                           v1::ImageFsInfoResponse* response) {
  absl::StatusOr<image::ImageFsInfo> info = images_->FsInfo();
  if (!info.ok()) {
    return ToGrpcStatus(absl::Status(info.status().code(), absl::StrCat("ImageFsInfo: ", info.status().message())));
  }
  // Flist files and their block cache live beside the OCI store, on the same filesystem.
  uint64_t flist_bytes = 0, flist_inodes = 0;
  for (const auto& flist : flists_->List()) {
    flist_bytes += flist.file_size;
    ++flist_inodes;
  }
  // The cache's own count of its block files (kept by every flist-mount that writes to it).
  const std::string ledger = FlistCacheDir(config_) + "/.ledger";
  if (absl::StatusOr<uint64_t> cached = flist::SharedLedger::ReadFile(ledger); cached.ok()) {
    flist_bytes += *cached;
  } else {
    FLINT_LOG(WARN) << "ImageFsInfo: flist block cache not counted: " << cached.status().message();
  }
  info->used_bytes += flist_bytes;
  info->inodes_used += flist_inodes;
  v1::FilesystemUsage* usage = response->add_image_filesystems();
  usage->set_timestamp(info->timestamp_ns);
  usage->mutable_fs_id()->set_mountpoint(info->mountpoint);
  usage->mutable_used_bytes()->set_value(info->used_bytes);
  usage->mutable_inodes_used()->set_value(info->inodes_used);
  return grpc::Status::OK;
}

}  // namespace flint::server
