#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

grpc::Status ImageServiceImpl::RemoveImage(grpc::ServerContext*, const v1::RemoveImageRequest* request,
                                           v1::RemoveImageResponse*) {
  const std::string& ref = request->image().image();
  if (ref.empty()) return ToGrpcStatus(absl::InvalidArgumentError("RemoveImage: image reference is empty"));
  absl::StatusOr<std::optional<flist_image::FlistImage>> flist = flists_->Remove(ref);
  if (!flist.ok()) return ToGrpcStatus(flist.status());
  if (flist->has_value()) {
    FLINT_LOG(INFO) << "rpc=RemoveImage image=" << ref << " flist=" << (*flist)->id;
    if (flist_removed_) flist_removed_((*flist)->id);
    return grpc::Status::OK;
  }
  if (flist_image::IsFlistReference(ref)) return grpc::Status::OK;
  absl::Status s = images_->Remove(ref);
  if (s.code() == absl::StatusCode::kNotFound) return grpc::Status::OK;  // idempotent
  if (!s.ok()) return ToGrpcStatus(absl::Status(s.code(), absl::StrCat("remove image ", ref, ": ", s.message())));
  FLINT_LOG(INFO) << "rpc=RemoveImage image=" << ref;
  return grpc::Status::OK;
}

}  // namespace flint::server
