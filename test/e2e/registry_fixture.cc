#include "test/e2e/registry_fixture.h"

#include <cstdlib>
#include <fstream>
#include <mutex>

namespace flint::e2e {
namespace {
std::string ImagesDir() {
  const char* dir = getenv("FLINT_IMAGES_DIR");
  return dir ? dir : "/var/tmp/flint-images";
}
}  // namespace

std::string EnsureRegistryFixtures() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::string hack = std::string(FLINT_SOURCE_DIR) + "/hack/";
    if (system(("bash " + hack + "registry.sh start >/tmp/flint-e2e-registry.log 2>&1").c_str()) != 0) {
      error = "hack/registry.sh start failed; see /tmp/flint-e2e-registry.log";
      return;
    }
    if (system(("bash " + hack + "images.sh >/tmp/flint-e2e-images.log 2>&1").c_str()) != 0) {
      error = "hack/images.sh failed; see /tmp/flint-e2e-images.log";
    }
  });
  return error;
}

std::string RegistryAddress() {
  const char* port = getenv("FLINT_REGISTRY_PORT");
  return std::string("127.0.0.1:") + (port ? port : "5055");
}

nlohmann::json ImagesManifest() {
  std::ifstream in(ImagesDir() + "/images.json");
  return nlohmann::json::parse(in, nullptr, false);
}

nlohmann::json ImageEntry(const std::string& image) {
  nlohmann::json manifest = ImagesManifest();
  if (manifest.is_discarded() || !manifest.contains("images")) return nullptr;
  for (const auto& entry : manifest["images"]) {
    if (entry.value("image", "") == image) return entry;
  }
  return nullptr;
}

}  // namespace flint::e2e
