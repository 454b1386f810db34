// OCI / Docker schema2 manifests, indexes (manifest lists) and image configs: parsing and
// platform selection. Pure functions over JSON text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::image {

inline constexpr char kMediaTypeOciIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kMediaTypeOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaTypeDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaTypeDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";

// Value for the Accept header of manifest requests.
std::string ManifestAcceptHeader();

struct Platform {
  std::string os = "linux";
  std::string architecture;  // GOARCH names: amd64, arm64, arm, ...
  std::string variant;       // "v8", "v7", ... ; empty matches any
};
// The platform this binary runs on.
Platform HostPlatform();

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::optional<Platform> platform;  // index entries only
};

enum class ManifestKind { kIndex, kManifest };

// Decides from the Content-Type header (may be empty) and the body.
absl::StatusOr<ManifestKind> ClassifyManifest(const std::string& content_type, const std::string& body);

absl::StatusOr<std::vector<Descriptor>> ParseIndex(const std::string& body);
// Picks the entry for `want` (os + architecture, then variant; arm64 defaults to v8).
absl::StatusOr<Descriptor> SelectPlatform(const std::vector<Descriptor>& entries, const Platform& want);

struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};
// Validates media types of config and layers (InvalidArgument otherwise).
absl::StatusOr<Manifest> ParseManifest(const std::string& body);

struct ImageConfig {
  std::vector<std::string> diff_ids;
  std::string user;  // config.User
};
absl::StatusOr<ImageConfig> ParseImageConfig(const std::string& body);

}  // namespace flint::image
