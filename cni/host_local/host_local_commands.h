// cmdAdd / cmdCheck / cmdDel of flint-host-local.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "cni/lib/plugin_main.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

absl::StatusOr<std::optional<nlohmann::json>> HostLocalAdd(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> HostLocalCheck(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> HostLocalDel(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> HostLocalStatus(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> HostLocalGc(const PluginRequest& req);

}  // namespace flint::cni
