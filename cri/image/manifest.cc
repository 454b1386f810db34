#include "cri/image/manifest.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cri/image/reference.h"

namespace flint::image {
namespace {

using nlohmann::json;

absl::StatusOr<json> ParseJson(const std::string& body, const char* what) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a JSON object"));
  return j;
}

std::string StringField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, const char* what) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, " descriptor is not an object"));
  Descriptor d;
  d.media_type = StringField(j, "mediaType");
  d.digest = StringField(j, "digest");
  if (!IsValidDigest(d.digest)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has unsupported digest \"", d.digest, "\""));
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", d.digest, " has no valid size"));
  }
  d.size = size->get<int64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    Platform platform;
    platform.os = StringField(*p, "os");
    platform.architecture = StringField(*p, "architecture");
    platform.variant = StringField(*p, "variant");
    d.platform = platform;
  }
  return d;
}

bool IsLayerMediaType(const std::string& t) {
  return t == "application/vnd.oci.image.layer.v1.tar" || t == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         t == "application/vnd.oci.image.layer.v1.tar+zstd" ||
         t == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         t == "application/vnd.docker.image.rootfs.diff.tar" ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

std::string NormalizeVariant(const Platform& p) {
  if (p.architecture == "arm64" && p.variant.empty()) return "v8";
  return p.variant;
}

}  // namespace

std::string ManifestAcceptHeader() {
  return absl::StrCat("Accept: ", kMediaTypeOciIndex, ", ", kMediaTypeDockerList, ", ", kMediaTypeOciManifest, ", ",
                      kMediaTypeDockerManifest);
}

Platform HostPlatform() {
  Platform p;
#if defined(__x86_64__)
  p.architecture = "amd64";
#elif defined(__aarch64__)
  p.architecture = "arm64";
  p.variant = "v8";
#elif defined(__arm__)
  p.architecture = "arm";
  p.variant = "v7";
#elif defined(__i386__)
  p.architecture = "386";
#elif defined(__powerpc64__)
  p.architecture = "ppc64le";
#elif defined(__s390x__)
  p.architecture = "s390x";
#else
  p.architecture = "unknown";
#endif
  return p;
}

absl::StatusOr<ManifestKind> ClassifyManifest(const std::string& content_type, const std::string& body) {
  std::string type = content_type.substr(0, content_type.find(';'));
  if (type == kMediaTypeOciIndex || type == kMediaTypeDockerList) return ManifestKind::kIndex;
  if (type == kMediaTypeOciManifest || type == kMediaTypeDockerManifest) return ManifestKind::kManifest;
  absl::StatusOr<json> j = ParseJson(body, "manifest");
  if (!j.ok()) return j.status();
  std::string media = StringField(*j, "mediaType");
  if (media == kMediaTypeOciIndex || media == kMediaTypeDockerList) return ManifestKind::kIndex;
  if (media == kMediaTypeOciManifest || media == kMediaTypeDockerManifest) return ManifestKind::kManifest;
  if (media.empty() && j->contains("manifests")) return ManifestKind::kIndex;
  if (media.empty() && j->contains("layers") && j->contains("config")) return ManifestKind::kManifest;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported manifest media type \"", media.empty() ? type : media, "\""));
}

absl::StatusOr<std::vector<Descriptor>> ParseIndex(const std::string& body) {
  absl::StatusOr<json> j = ParseJson(body, "image index");
  if (!j.ok()) return j.status();
  auto manifests = j->find("manifests");
  if (manifests == j->end() || !manifests->is_array()) {
    return absl::InvalidArgumentError("image index has no \"manifests\" array");
  }
  std::vector<Descriptor> out;
  for (const json& m : *manifests) {
    absl::StatusOr<Descriptor> d = ParseDescriptor(m, "index entry");
    if (!d.ok()) return d.status();
    out.push_back(*d);
  }
  return out;
}

absl::StatusOr<Descriptor> SelectPlatform(const std::vector<Descriptor>& entries, const Platform& want) {
  const Descriptor* fallback = nullptr;
  std::string want_variant = NormalizeVariant(want);
  std::string available;
  for (const Descriptor& d : entries) {
    if (!d.platform) continue;
    const Platform& p = *d.platform;
    absl::StrAppend(&available, available.empty() ? "" : ", ", p.os, "/", p.architecture, p.variant.empty() ? "" : "/",
                    p.variant);
    if (p.os != want.os || p.architecture != want.architecture) continue;
    if (d.media_type == kMediaTypeOciIndex || d.media_type == kMediaTypeDockerList) continue;
    std::string variant = NormalizeVariant(p);
    if (variant == want_variant) return d;
    if (fallback == nullptr && (want_variant.empty() || variant.empty())) fallback = &d;
  }
  if (fallback != nullptr) return *fallback;
  return absl::NotFoundError(absl::StrCat("no manifest for platform ", want.os, "/", want.architecture,
                                          want.variant.empty() ? "" : "/", want.variant, " (index has: ", available,
                                          ")"));
}

absl::StatusOr<Manifest> ParseManifest(const std::string& body) {
  absl::StatusOr<json> j = ParseJson(body, "manifest");
  if (!j.ok()) return j.status();
  Manifest m;
  m.media_type = StringField(*j, "mediaType");
  auto config = j->find("config");
  if (config == j->end()) return absl::InvalidArgumentError("manifest has no config");
  absl::StatusOr<Descriptor> c = ParseDescriptor(*config, "config");
  if (!c.ok()) return c.status();
  if (!c->media_type.empty() && c->media_type != "application/vnd.oci.image.config.v1+json" &&
      c->media_type != "application/vnd.docker.container.image.v1+json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported config media type \"", c->media_type, "\" (not a container image)"));
  }
  m.config = *c;
  auto layers = j->find("layers");
  if (layers == j->end() || !layers->is_array()) return absl::InvalidArgumentError("manifest has no \"layers\" array");
  for (const json& l : *layers) {
    absl::StatusOr<Descriptor> d = ParseDescriptor(l, "layer");
    if (!d.ok()) return d.status();
    if (!IsLayerMediaType(d->media_type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", d->digest, " has unsupported media type \"", d->media_type, "\""));
    }
    m.layers.push_back(*d);
  }
  return m;
}

absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& body) {
  absl::StatusOr<json> j = ParseJson(body, "image config");
  if (!j.ok()) return j.status();
  ImageConfig out;
  auto rootfs = j->find("rootfs");
  if (rootfs == j->end() || !rootfs->is_object()) return absl::InvalidArgumentError("image config has no rootfs");
  auto diff_ids = rootfs->find("diff_ids");
  if (diff_ids == rootfs->end() || !diff_ids->is_array()) {
    return absl::InvalidArgumentError("image config has no rootfs.diff_ids");
  }
  for (const json& d : *diff_ids) {
    if (!d.is_string() || !IsValidDigest(d.get<std::string>())) {
      return absl::InvalidArgumentError("image config has an invalid diff_id");
    }
    out.diff_ids.push_back(d.get<std::string>());
  }
  if (auto config = j->find("config"); config != j->end() && config->is_object()) {
    out.user = StringField(*config, "User");
  }
  return out;
}

}  // namespace flint::image
