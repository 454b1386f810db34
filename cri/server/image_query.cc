#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cri/image/reference.h"
#include "cri/server/grpc_status.h"
#include "cri/server/image_service.h"

namespace flint::server {

bool ImageServiceImpl::IsPinned(const image::Image& image) const {
  for (const std::string& pinned : config_.pinned_images) {
    absl::StatusOr<image::Reference> ref = image::ParseReference(pinned);
    std::string normalized = ref.ok() ? ref->String() : pinned;
    for (const auto& tag : image.repo_tags)
      if (tag == normalized) return true;
    for (const auto& digest : image.repo_digests)
      if (digest == normalized) return true;
  }
  return false;
}

void ImageServiceImpl::ToCriImage(const image::Image& image, v1::Image* out) const {
  out->set_id(image.id);
  for (const auto& tag : image.repo_tags) out->add_repo_tags(tag);
  for (const auto& digest : image.repo_digests) out->add_repo_digests(digest);
  out->set_size(image.size);
  if (image.uid.has_value()) out->mutable_uid()->set_value(*image.uid);
  out->set_username(image.username);
  out->mutable_spec()->set_image(image.id);
  out->set_pinned(IsPinned(image));
}

void ImageServiceImpl::ToCriImage(const flist_image::FlistImage& image, v1::Image* out) const {
  out->set_id(image.id);
  for (const auto& name : image.names) out->add_repo_tags(name);
  out->set_size(image.size);
  out->mutable_spec()->set_image(image.id);
  (*out->mutable_spec()->mutable_annotations())["flint.io/image-format"] = "flist";
  for (const std::string& pinned : config_.pinned_images) {
    for (const auto& name : image.names) out->set_pinned(out->pinned() || name == pinned || name == pinned + ":latest");
  }
}

grpc::Status ImageServiceImpl::ListImages(grpc::ServerContext*, const v1::ListImagesRequest* request,
                                          v1::ListImagesResponse* response) {
  std::string filter = request->has_filter() ? request->filter().image().image() : "";
  if (filter.empty() || !flist_image::IsFlistReference(filter)) {
    absl::StatusOr<std::vector<image::Image>> images = images_->List(filter);
    if (!images.ok() && !(images.status().code() == absl::StatusCode::kInvalidArgument && !filter.empty())) {
      return ToGrpcStatus(images.status());
    }
    if (images.ok()) {
      for (const auto& image : *images) ToCriImage(image, response->add_images());
    }
  }
  if (filter.empty()) {
    for (const auto& flist : flists_->List()) ToCriImage(flist, response->add_images());
  } else if (std::optional<flist_image::FlistImage> flist = flists_->Find(filter)) {
    ToCriImage(*flist, response->add_images());
  }
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest* request,
                                           v1::ImageStatusResponse* response) {
  const std::string& ref = request->image().image();
  if (ref.empty()) return ToGrpcStatus(absl::InvalidArgumentError("ImageStatus: image reference is empty"));
  if (std::optional<flist_image::FlistImage> flist = flists_->Find(ref)) {
    ToCriImage(*flist, response->mutable_image());
    if (request->verbose()) {
      nlohmann::json info = {{"format", "flist"}, {"url", flist->url}, {"path", flist->path},
                             {"fileSize", flist->file_size}, {"contentSize", flist->size}};
      (*response->mutable_info())["info"] = info.dump();
    }
    return grpc::Status::OK;
  }
  if (flist_image::IsFlistReference(ref)) return grpc::Status::OK;  // an flist we do not have
  absl::StatusOr<std::optional<image::Image>> found = images_->Status(ref);
  if (!found.ok()) {
    // An unparsable reference names no image we have; the kubelet expects "not present", not an error.
    if (found.status().code() == absl::StatusCode::kInvalidArgument) return grpc::Status::OK;
    return ToGrpcStatus(found.status());
  }
  if (!found->has_value()) return grpc::Status::OK;  // unknown image: no image, no error
  const image::Image& image = **found;
  ToCriImage(image, response->mutable_image());
  if (request->verbose()) {
    nlohmann::json info = {{"chainIDs", image.chain_ids}, {"manifestDigest", image.manifest_digest}};
    // Bottom layer first; `flintctl flist pack-image` stacks them to pack the image as an flist.
    if (absl::StatusOr<std::vector<std::string>> dirs = images_->LayerDirs(image.id); dirs.ok()) {
      info["layerDirs"] = *dirs;
    }
    nlohmann::json config = nlohmann::json::parse(image.config_json, nullptr, false);
    info["imageSpec"] = config.is_discarded() ? nlohmann::json(image.config_json) : config;
    (*response->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

}  // namespace flint::server
