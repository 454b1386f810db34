// The image service behind CRI's ImageService: pull, list, status, remove, fs info, plus what the
// runtime needs to create containers (layer directories for overlay, the OCI image config) and
// leases that keep layers alive while containers use them. No gRPC types here.
//
// Layout under `root`: metadata.db (SQLite), blobs/sha256/<hex> (manifests, configs), tmp/ (partial
// downloads and unpacks, wiped at startup), snapshots/<chain-id hex>/fs (one unpacked layer each).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/image/content_store.h"
#include "cri/image/inflight.h"
#include "cri/image/manifest.h"
#include "cri/image/metadata_store.h"
#include "cri/image/reference.h"
#include "cri/image/registry_client.h"

namespace flint::image {

struct ImageServiceOptions {
  std::string root;  // e.g. /var/lib/flint/images
  RegistryConfig registry;
  int max_concurrent_downloads = 3;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{300};
  Platform platform = HostPlatform();
};

struct PullOptions {
  std::function<bool()> cancelled;  // polled during transfers; true aborts with Cancelled
};

struct Image {
  std::string id;  // "sha256:<config digest hex>"
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  // Bytes: config blob + compressed layer blobs, as listed in the manifest (what containerd reports).
  uint64_t size = 0;
  std::optional<int64_t> uid;  // numeric USER (user part of "uid[:gid]")
  std::string username;        // non-numeric USER
  std::string config_json;     // OCI image config
  std::string manifest_digest;
  std::vector<std::string> chain_ids;  // bottom layer first
};

struct ImageFsInfo {
  std::string mountpoint;  // the image store root
  uint64_t used_bytes = 0;
  uint64_t inodes_used = 0;
  int64_t timestamp_ns = 0;
};

// All methods are thread-safe; concurrent pulls share downloads and unpacks of common layers.
class ImageService {
 public:
  static absl::StatusOr<std::unique_ptr<ImageService>> Open(ImageServiceOptions options);
  ~ImageService();

  // Pulls `ref` (any form ParseReference accepts) and returns the stored image.
  // Errors: InvalidArgument (bad reference, manifest, media type), NotFound (no such image/tag or
  // platform), Unauthenticated / PermissionDenied, DataLoss (digest mismatch), ResourceExhausted
  // (disk full), Cancelled, Unavailable with a message starting "RegistryUnavailable:" (network,
  // timeouts, HTTP 5xx).
  absl::StatusOr<Image> Pull(const std::string& ref, const RegistryAuth& auth, const PullOptions& options = {});

  // All images, or those matching `filter` (same forms as Status).
  absl::StatusOr<std::vector<Image>> List(const std::string& filter = "");
  // By id ("sha256:<hex>", bare hex, unique id prefix), short or full name, tag, or repo@digest.
  // nullopt when unknown.
  absl::StatusOr<std::optional<Image>> Status(const std::string& ref);
  // Removes the image with all its tags and digests; unknown image is OK. Layers no image or lease
  // uses are deleted.
  absl::Status Remove(const std::string& ref);
  absl::StatusOr<ImageFsInfo> FsInfo();

  // Unpacked layer directories of an image (by any Status form), bottom layer first. For overlayfs
  // `lowerdir=` join them in reverse (topmost first).
  absl::StatusOr<std::vector<std::string>> LayerDirs(const std::string& ref);
  std::string LayerDir(const std::string& chain_id) const;

  // Keeps the layers of `image_ref` alive under `holder` (e.g. a container id) even if the image is
  // removed; persisted across restarts. ReleaseLayers drops the lease and reclaims unused layers.
  absl::Status LeaseLayers(const std::string& holder, const std::string& image_ref);
  absl::Status ReleaseLayers(const std::string& holder);

  // Number of layer downloads that ran (not shared or skipped) since Open; for tests and metrics.
  uint64_t layer_downloads() const { return layer_downloads_.load(); }

 private:
  explicit ImageService(ImageServiceOptions options);

  // image_service.cc: store bookkeeping.
  absl::Status Recover();
  absl::StatusOr<std::optional<std::string>> ResolveId(const std::string& ref);
  absl::StatusOr<Image> ToImage(const ImageRecord& record);
  absl::Status CollectGarbage();

  // image_pull.cc: the pull pipeline.
  struct PullContext;
  struct ResolvedManifest;
  class Pins;
  absl::StatusOr<Image> PullFrom(PullContext& ctx, RegistrySession& session);
  absl::StatusOr<ResolvedManifest> ResolveManifest(const Reference& ref, RegistrySession& session);
  absl::Status FetchConfig(PullContext& ctx, RegistrySession& session);
  absl::Status FetchLayers(PullContext& ctx, RegistrySession& session);
  absl::Status EnsureLayer(PullContext& ctx, RegistrySession& session, size_t index);

  ImageServiceOptions options_;
  ContentStore content_;
  std::unique_ptr<MetadataStore> metadata_;
  InFlight blob_downloads_;
  InFlight layer_unpacks_;
  // Use counts of chain ids and blob digests that ongoing pulls rely on: garbage collection and
  // Remove leave them alone; layer blobs are deleted when their count drops to zero.
  std::mutex pins_mu_;
  std::map<std::string, int> pins_;
  std::atomic<uint64_t> layer_downloads_{0};
};

}  // namespace flint::image
