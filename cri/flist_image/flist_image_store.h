// Flist images in the CRI: an image reference whose last path element ends in `.flist` or `.fl`
// (`hub.grid.tf/user/name.flist`, with the kubelet's `:latest`; or a full http(s) URL) is an flist.
// Pulling downloads only the flist file (metadata); contents are fetched lazily when a container
// reads them. Files live under <root>/flists/: sha256/<hex> (the flist files) and index.json.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::flist_image {

struct FlistStoreOptions {
  std::string root;                 // e.g. /var/lib/flint/flists
  std::vector<std::string> hubs;    // e.g. https://hub.grid.tf: a reference on that host uses its scheme
  std::map<std::string, std::vector<std::string>> mirrors;  // host -> endpoints, path kept
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{300};
  uint64_t max_flist_bytes = 1ull << 30;
  // When not empty, a flist whose routes name a store none of these match is not pulled
  // (flist-snapshotter/store/store_policy.h).
  std::vector<std::string> allowed_stores;
};

struct FlistImage {
  std::string id;                  // sha256:<hex of the flist file>
  std::vector<std::string> names;  // canonical references, e.g. hub.grid.tf/user/name.flist:latest
  std::string url;                 // where it was downloaded from
  std::string path;                // local copy
  uint64_t size = 0;               // bytes of file content it describes (what a full pull would fetch)
  uint64_t file_size = 0;          // bytes of the flist file itself
};

// The block store for an flist image that names none: the store of the hub its name comes from
// (`hub_stores`, by host, e.g. "hub.grid.tf" or "127.0.0.1:8080"; the first of its names with
// one), else `default_store`.
std::string DefaultStoreFor(const FlistImage& image, const std::map<std::string, std::string>& hub_stores,
                            const std::string& default_store);

// True when `ref` names an flist rather than an OCI image.
bool IsFlistReference(const std::string& ref);

struct ResolvedFlistReference {
  std::string name;               // "host/path/x.flist:tag" (":latest" when none was given)
  std::vector<std::string> urls;  // mirrors first, then the hub
};
absl::StatusOr<ResolvedFlistReference> ResolveFlistReference(const std::string& ref, const FlistStoreOptions& options);

class FlistImageStore {
 public:
  static absl::StatusOr<std::unique_ptr<FlistImageStore>> Open(FlistStoreOptions options);

  // Downloads (or re-downloads: a hub may move a tag) and records the flist.
  absl::StatusOr<FlistImage> Pull(const std::string& ref, const std::function<bool()>& cancelled = nullptr);
  std::vector<FlistImage> List() const;
  // By id (sha256:<hex>, bare hex), name, or the reference as pulled.
  std::optional<FlistImage> Find(const std::string& ref) const;
  // Removes the image with all its names; unknown is OK. Returns the image removed, if any.
  absl::StatusOr<std::optional<FlistImage>> Remove(const std::string& ref);

 private:
  explicit FlistImageStore(FlistStoreOptions options) : options_(std::move(options)) {}
  // Writes `images_by_id` as the index (atomically); callers hold mu_.
  absl::Status SaveIndex(const std::map<std::string, FlistImage>& images_by_id) const;
  std::optional<FlistImage> FindLocked(const std::string& ref) const;

  FlistStoreOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, FlistImage> images_;  // by id
};

}  // namespace flint::flist_image
