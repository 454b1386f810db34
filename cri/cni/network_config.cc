#include "cri/cni/network_config.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/log.h"

namespace flint::cni {

absl::StatusOr<NetworkConfig> ParseNetworkConfig(const std::string& path, const std::string& content,
                                                 bool is_conflist) {
  nlohmann::json j = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  NetworkConfig config;
  config.path = path;
  nlohmann::json list;
  if (is_conflist) {
    if (!j.contains("plugins") || !j["plugins"].is_array() || j["plugins"].empty())
      return absl::InvalidArgumentError(absl::StrCat(path, ": conflist needs a non-empty \"plugins\" list"));
    list = j;
  } else {
    // A single-plugin .conf becomes a list of one, with name/cniVersion lifted.
    list = {{"cniVersion", j.value("cniVersion", "")}, {"name", j.value("name", "")}, {"plugins", {j}}};
  }
  if (!list.contains("name") || !list["name"].is_string() || list["name"].get<std::string>().empty())
    return absl::InvalidArgumentError(absl::StrCat(path, ": missing network \"name\""));
  config.name = list["name"];
  config.cni_version = list.value("cniVersion", "");
  for (const auto& plugin : list["plugins"]) {
    if (!plugin.is_object() || !plugin.contains("type") || !plugin["type"].is_string())
      return absl::InvalidArgumentError(absl::StrCat(path, ": every plugin needs a \"type\""));
    config.plugin_types.push_back(plugin["type"]);
  }
  config.conflist_json = list.dump();
  return config;
}

absl::StatusOr<NetworkConfig> LoadFirstNetworkConfig(const std::string& conf_dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(conf_dir, ec)) {
    std::string ext = entry.path().extension();
    if (ext == ".conflist" || ext == ".conf" || ext == ".json") files.push_back(entry.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return absl::UnavailableError(absl::StrCat("read CNI conf dir ", conf_dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  std::vector<std::string> problems;
  for (const auto& file : files) {
    absl::StatusOr<std::string> content = fs::ReadFile(file);
    if (!content.ok()) {
      problems.push_back(std::string(content.status().message()));
      continue;
    }
    absl::StatusOr<NetworkConfig> config = ParseNetworkConfig(file, *content, file.extension() == ".conflist");
    if (config.ok()) return config;
    FLINT_LOG(WARN) << "skipping CNI config: " << config.status().message();
    problems.push_back(std::string(config.status().message()));
  }
  std::string why = problems.empty() ? "" : absl::StrCat(" (skipped: ", absl::StrJoin(problems, "; "), ")");
  return absl::NotFoundError(absl::StrCat("no CNI network config found in ", conf_dir, why));
}

}  // namespace flint::cni
