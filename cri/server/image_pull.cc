#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "common/log.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

ImageServiceImpl::ImageServiceImpl(const Config& config, image::ImageService* images,
                                   flist_image::FlistImageStore* flists,
                                   std::function<void(const std::string&)> flist_removed)
    : config_(config), images_(images), flists_(flists), flist_removed_(std::move(flist_removed)) {}

absl::Status ImageServiceImpl::CheckRuntimeHandler(const v1::ImageSpec& spec) const {
  if (spec.runtime_handler().empty() || config_.runtimes.contains(spec.runtime_handler())) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("unknown runtime handler \"", spec.runtime_handler(), "\""));
}

grpc::Status ImageServiceImpl::PullImage(grpc::ServerContext* context, const v1::PullImageRequest* request,
                                         v1::PullImageResponse* response) {
  const std::string& ref = request->image().image();
  if (ref.empty()) return ToGrpcStatus(absl::InvalidArgumentError("PullImage: image reference is empty"));
  if (absl::Status s = CheckRuntimeHandler(request->image()); !s.ok()) return ToGrpcStatus(s);
  image::RegistryAuth auth;
  if (request->has_auth()) {
    const v1::AuthConfig& a = request->auth();
    auth = {a.username(), a.password(), a.auth(), a.server_address(), a.identity_token(), a.registry_token()};
  }
  auto cancelled = [context] { return context->IsCancelled(); };
  if (flist_image::IsFlistReference(ref)) {
    // An flist pull fetches only its metadata file; blocks come on first read.
    absl::StatusOr<flist_image::FlistImage> flist = flists_->Pull(ref, cancelled);
    if (!flist.ok()) {
      if (absl::StartsWith(flist.status().message(), "RegistryUnavailable")) {
        return grpc::Status(grpc::StatusCode::UNKNOWN, std::string(flist.status().message()));
      }
      return ToGrpcStatus(absl::Status(flist.status().code(), absl::StrCat("pull ", ref, ": ", flist.status().message())));
    }
    response->set_image_ref(flist->id);
    return grpc::Status::OK;
  }
  image::PullOptions options;
  options.cancelled = cancelled;
  absl::StatusOr<image::Image> pulled = images_->Pull(ref, auth, options);
  if (!pulled.ok()) {
    std::string message = absl::StrCat("pull ", ref, ": ", pulled.status().message());
    // The kubelet maps these to pod reasons by message prefix, and only strips the gRPC
    // prefix for code Unknown.
    if (absl::StartsWith(pulled.status().message(), "RegistryUnavailable")) {
      return grpc::Status(grpc::StatusCode::UNKNOWN, std::string(pulled.status().message()) + " (pull " + ref + ")");
    }
    return ToGrpcStatus(absl::Status(pulled.status().code(), message));
  }
  FLINT_LOG(INFO) << "rpc=PullImage image=" << ref << " id=" << pulled->id << " size=" << pulled->size;
  response->set_image_ref(pulled->id);
  return grpc::Status::OK;
}

}  // namespace flint::server
