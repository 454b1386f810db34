// Finding and reading the CNI network configuration flintd uses, as libcni does:
// the lexicographically first .conflist/.conf/.json file in the conf dir that parses.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::cni {

struct NetworkConfig {
  std::string path;          // file it came from
  std::string name;          // network name
  std::string cni_version;   // e.g. "1.0.0"
  std::vector<std::string> plugin_types;
  std::string conflist_json;  // normalized to conflist form (a .conf becomes a one-plugin list)
};

// Parses one file's content; `is_conflist` by extension.
absl::StatusOr<NetworkConfig> ParseNetworkConfig(const std::string& path, const std::string& content,
                                                 bool is_conflist);
// NotFound (with the dir named) when no usable config exists.
absl::StatusOr<NetworkConfig> LoadFirstNetworkConfig(const std::string& conf_dir);

}  // namespace flint::cni
