// The local registry and OCI test images (hack/registry.sh, hack/images.sh), started once per test binary.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace flint::e2e {

// Starts the registry and pushes the test images (cached, idempotent). Returns "" on success,
// else what went wrong.
std::string EnsureRegistryFixtures();
// "127.0.0.1:5055"
std::string RegistryAddress();
// images.json written by hack/images.sh: {registry, images:[{image, manifest, config, ...}]}.
nlohmann::json ImagesManifest();
// Entry of ImagesManifest() for "flint/busybox:latest" etc.
nlohmann::json ImageEntry(const std::string& image);

}  // namespace flint::e2e
