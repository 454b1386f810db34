#include "cri/runtime/stats_source.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs.h"

namespace flint::runtime {

absl::StatusOr<std::string> ReadBundleCgroupsPath(const std::string& bundle_dir) {
  std::string path = bundle_dir + "/config.json";
  absl::StatusOr<std::string> text = fs::ReadFile(path);
  if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat("read ", path, ": ", text.status().message()));
  nlohmann::json spec = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) return absl::DataLossError(absl::StrCat(path, " is not valid JSON"));
  auto linux_it = spec.find("linux");
  if (linux_it == spec.end() || !linux_it->is_object()) return absl::NotFoundError(absl::StrCat(path, " has no linux section"));
  auto cgroups_it = linux_it->find("cgroupsPath");
  if (cgroups_it == linux_it->end() || !cgroups_it->is_string() || cgroups_it->get<std::string>().empty()) {
    return absl::NotFoundError(absl::StrCat(path, " has no linux.cgroupsPath"));
  }
  return cgroups_it->get<std::string>();
}

absl::StatusOr<std::string> CgroupsPathCache::Get(const std::string& id, const std::string& bundle_dir) {
  {
    std::lock_guard lock(mu_);
    if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  }
  absl::StatusOr<std::string> path = ReadBundleCgroupsPath(bundle_dir);
  if (!path.ok()) return path.status();
  std::lock_guard lock(mu_);
  paths_[id] = *path;
  return *path;
}

void CgroupsPathCache::Retain(const std::unordered_set<std::string>& live) {
  std::lock_guard lock(mu_);
  std::erase_if(paths_, [&](const auto& entry) { return !live.contains(entry.first); });
}

}  // namespace flint::runtime
