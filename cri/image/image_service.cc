#include "cri/image/image_service.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/image/digest.h"
#include "cri/image/errors.h"

namespace flint::image {
namespace {

bool IsHex(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos; }

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

}  // namespace

ImageService::ImageService(ImageServiceOptions options) : options_(std::move(options)), content_(options_.root) {}
ImageService::~ImageService() = default;

absl::StatusOr<std::unique_ptr<ImageService>> ImageService::Open(ImageServiceOptions options) {
  if (options.root.empty()) return absl::InvalidArgumentError("image store root is empty");
  if (options.max_concurrent_downloads < 1) options.max_concurrent_downloads = 1;
  if (absl::Status s = fs::MakeDirs(options.root + "/snapshots", 0700); !s.ok()) return s;
  std::unique_ptr<ImageService> service(new ImageService(std::move(options)));
  auto metadata = MetadataStore::Open(service->options_.root + "/metadata.db");
  if (!metadata.ok()) return metadata.status();
  service->metadata_ = std::move(*metadata);
  if (absl::Status s = service->Recover(); !s.ok()) {
    return WithContext(s, absl::StrCat("recover image store ", service->options_.root));
  }
  return service;
}

std::string ImageService::LayerDir(const std::string& chain_id) const {
  return absl::StrCat(options_.root, "/snapshots/", DigestHex(chain_id), "/fs");
}

absl::Status ImageService::Recover() {
  if (absl::Status s = content_.Init(); !s.ok()) return s;
  // Layers whose directory vanished, and the images using them, are dropped.
  auto layers = metadata_->ListLayers();
  if (!layers.ok()) return layers.status();
  std::set<std::string> known;
  for (const LayerRecord& l : *layers) {
    if (!PathExists(LayerDir(l.chain_id))) {
      FLINT_LOG(WARN) << "image store: layer " << l.chain_id << " has no directory, dropping it";
      if (absl::Status s = metadata_->DeleteLayer(l.chain_id); !s.ok()) return s;
      continue;
    }
    known.insert(DigestHex(l.chain_id));
  }
  auto broken = metadata_->ImagesWithMissingLayers();
  if (!broken.ok()) return broken.status();
  for (const std::string& id : *broken) {
    FLINT_LOG(WARN) << "image store: image " << id << " lost a layer, dropping it";
    if (absl::Status s = metadata_->DeleteImage(id); !s.ok()) return s;
  }
  // Directories of layers that were never committed (a pull killed between rename and commit).
  for (const std::string& name : ListDir(options_.root + "/snapshots")) {
    if (!known.count(name)) {
      if (absl::Status s = fs::RemoveAll(options_.root + "/snapshots/" + name); !s.ok()) return s;
    }
  }
  // Blobs: keep configs and manifests of stored images; layer blobs only live during a pull.
  auto images = metadata_->ListImages();
  if (!images.ok()) return images.status();
  std::set<std::string> wanted;
  for (const ImageRecord& r : *images) {
    wanted.insert(DigestHex(r.id));
    wanted.insert(DigestHex(r.manifest_digest));
  }
  for (const std::string& name : ListDir(options_.root + "/blobs/sha256")) {
    if (!wanted.count(name)) unlink((options_.root + "/blobs/sha256/" + name).c_str());
  }
  return CollectGarbage();
}

absl::Status ImageService::CollectGarbage() {
  std::lock_guard<std::mutex> lock(pins_mu_);
  auto unused = metadata_->UnreferencedLayers();
  if (!unused.ok()) return unused.status();
  for (const std::string& chain_id : *unused) {
    if (pins_.count(chain_id)) continue;
    // Row first: a crash after it leaves only a directory, which Recover removes.
    if (absl::Status s = metadata_->DeleteLayer(chain_id); !s.ok()) return s;
    if (absl::Status s = fs::RemoveAll(absl::StrCat(options_.root, "/snapshots/", DigestHex(chain_id))); !s.ok()) {
      return s;
    }
    FLINT_LOG(DEBUG) << "image store: removed layer " << chain_id;
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> ImageService::ToImage(const ImageRecord& record) {
  Image image;
  image.id = record.id;
  image.repo_tags = record.tags;
  image.repo_digests = record.digests;
  image.size = static_cast<uint64_t>(record.size);
  image.manifest_digest = record.manifest_digest;
  image.chain_ids = record.chain_ids;
  auto config_json = content_.Read(record.id);
  if (!config_json.ok()) return WithContext(config_json.status(), absl::StrCat("config of image ", record.id));
  image.config_json = std::move(*config_json);
  auto config = ParseImageConfig(image.config_json);
  if (!config.ok()) return WithContext(config.status(), absl::StrCat("config of image ", record.id));
  std::string user = config->user.substr(0, config->user.find(':'));
  int64_t uid;
  if (!user.empty() && absl::SimpleAtoi(user, &uid)) {
    image.uid = uid;
  } else {
    image.username = user;
  }
  return image;
}

absl::StatusOr<std::optional<std::string>> ImageService::ResolveId(const std::string& ref) {
  using Result = std::optional<std::string>;
  if (ref.empty()) return Result();
  std::string id_candidate;
  if (absl::StartsWith(ref, "sha256:") && IsHex(ref.substr(7))) id_candidate = ref;
  if (IsHex(ref) && ref.size() == 64) id_candidate = "sha256:" + ref;
  if (!id_candidate.empty()) {
    auto ids = metadata_->ImageIdsWithPrefix(id_candidate);
    if (!ids.ok()) return ids.status();
    return ids->size() == 1 ? Result((*ids)[0]) : Result();
  }
  if (auto parsed = ParseReferenceNoDefaultTag(ref); parsed.ok()) {
    std::string name = !parsed->digest.empty()
                           ? parsed->DigestedName()
                           : absl::StrCat(parsed->Name(), ":", parsed->tag.empty() ? "latest" : parsed->tag);
    auto id = metadata_->ResolveName(name);
    if (!id.ok() || *id) return id;
  }
  // A short id prefix, as printed by crictl images.
  if (IsHex(ref) && ref.size() >= 4) {
    auto ids = metadata_->ImageIdsWithPrefix("sha256:" + ref);
    if (!ids.ok()) return ids.status();
    if (ids->size() == 1) return Result((*ids)[0]);
  }
  return Result();
}

absl::StatusOr<std::optional<Image>> ImageService::Status(const std::string& ref) {
  auto id = ResolveId(ref);
  if (!id.ok()) return id.status();
  if (!*id) return std::optional<Image>();
  auto record = metadata_->GetImage(**id);
  if (!record.ok()) return record.status();
  if (!*record) return std::optional<Image>();
  auto image = ToImage(**record);
  if (!image.ok()) return image.status();
  return std::optional<Image>(std::move(*image));
}

absl::StatusOr<std::vector<Image>> ImageService::List(const std::string& filter) {
  std::vector<Image> out;
  if (!filter.empty()) {
    auto one = Status(filter);
    if (!one.ok()) return one.status();
    if (*one) out.push_back(std::move(**one));
    return out;
  }
  auto records = metadata_->ListImages();
  if (!records.ok()) return records.status();
  for (const ImageRecord& r : *records) {
    auto image = ToImage(r);
    if (!image.ok()) return image.status();
    out.push_back(std::move(*image));
  }
  return out;
}

absl::Status ImageService::Remove(const std::string& ref) {
  auto id = ResolveId(ref);
  if (!id.ok()) return id.status();
  if (!*id) return absl::OkStatus();
  auto record = metadata_->GetImage(**id);
  if (!record.ok()) return record.status();
  if (!*record) return absl::OkStatus();
  if (absl::Status s = metadata_->DeleteImage(**id); !s.ok()) return WithContext(s, "remove image " + **id);
  {
    std::lock_guard<std::mutex> lock(pins_mu_);  // a concurrent pull may be reading them
    if (!pins_.count("blob:" + (*record)->id)) (void)content_.Delete((*record)->id);
    if (!pins_.count("blob:" + (*record)->manifest_digest)) (void)content_.Delete((*record)->manifest_digest);
  }
  FLINT_LOG(INFO) << "removed image " << **id;
  return WithContext(CollectGarbage(), "remove image " + **id);
}

absl::StatusOr<ImageFsInfo> ImageService::FsInfo() {
  auto usage = fs::MeasureDiskUsage(options_.root);
  if (!usage.ok()) return usage.status();
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return ImageFsInfo{options_.root, usage->bytes, usage->inodes,
                     static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec};
}

absl::StatusOr<std::vector<std::string>> ImageService::LayerDirs(const std::string& ref) {
  auto image = Status(ref);
  if (!image.ok()) return image.status();
  if (!*image) return absl::NotFoundError(absl::StrCat("image \"", ref, "\" not found"));
  std::vector<std::string> dirs;
  for (const std::string& c : (*image)->chain_ids) dirs.push_back(LayerDir(c));
  return dirs;
}

absl::Status ImageService::LeaseLayers(const std::string& holder, const std::string& image_ref) {
  auto image = Status(image_ref);
  if (!image.ok()) return image.status();
  if (!*image) return absl::NotFoundError(absl::StrCat("image \"", image_ref, "\" not found"));
  return metadata_->AddLease(holder, (*image)->chain_ids);
}

absl::Status ImageService::ReleaseLayers(const std::string& holder) {
  if (absl::Status s = metadata_->RemoveLease(holder); !s.ok()) return s;
  return CollectGarbage();
}

}  // namespace flint::image
