// Image metadata in SQLite: images, their names (tags and repo digests), layers (by chain id),
// image -> layer references and layer leases held by the runtime. Writes are transactions.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

struct sqlite3;

namespace flint::image {

struct ImageRecord {
  std::string id;               // config digest
  std::string manifest_digest;  // platform manifest
  int64_t size = 0;
  std::vector<std::string> chain_ids;  // bottom layer first
  std::vector<std::string> tags;       // "docker.io/library/busybox:latest"
  std::vector<std::string> digests;    // "docker.io/library/busybox@sha256:..."
};

struct LayerRecord {
  std::string chain_id;
  std::string diff_id;
  int64_t unpacked_size = 0;
};

class MetadataStore {
 public:
  static absl::StatusOr<std::unique_ptr<MetadataStore>> Open(const std::string& path);
  ~MetadataStore();

  absl::Status PutLayer(const LayerRecord& layer);
  absl::StatusOr<std::vector<LayerRecord>> ListLayers();
  absl::StatusOr<bool> HasLayer(const std::string& chain_id);
  absl::Status DeleteLayer(const std::string& chain_id);
  // Layers used by no image and no lease.
  absl::StatusOr<std::vector<std::string>> UnreferencedLayers();

  // Inserts or updates the image and points `tags`/`digests` at it (moving them from other images).
  absl::Status PutImage(const ImageRecord& image);
  absl::StatusOr<std::vector<ImageRecord>> ListImages();
  absl::StatusOr<std::optional<ImageRecord>> GetImage(const std::string& id);
  // Image id for a tag or repo digest name.
  absl::StatusOr<std::optional<std::string>> ResolveName(const std::string& name);
  // Ids starting with `prefix` ("sha256:abc...").
  absl::StatusOr<std::vector<std::string>> ImageIdsWithPrefix(const std::string& prefix);
  absl::Status DeleteImage(const std::string& id);
  // Images that reference a layer that is not in the layers table.
  absl::StatusOr<std::vector<std::string>> ImagesWithMissingLayers();

  absl::Status AddLease(const std::string& holder, const std::vector<std::string>& chain_ids);
  absl::Status RemoveLease(const std::string& holder);

 private:
  explicit MetadataStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<std::vector<std::vector<std::string>>> Query(const std::string& sql,
                                                              const std::vector<std::string>& args);
  absl::Status Run(const std::string& sql, const std::vector<std::string>& args);
  absl::Status Transaction(const std::function<absl::Status()>& body);

  std::recursive_mutex mu_;
  sqlite3* db_;
};

}  // namespace flint::image
