// cmdAdd / cmdCheck / cmdDel of flint-bridge.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "cni/lib/plugin_main.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

absl::StatusOr<std::optional<nlohmann::json>> BridgeAdd(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> BridgeCheck(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> BridgeDel(const PluginRequest& req);
// STATUS and GC (spec 1.1.0) are passed on to the IPAM plugin.
absl::StatusOr<std::optional<nlohmann::json>> BridgeStatus(const PluginRequest& req);
absl::StatusOr<std::optional<nlohmann::json>> BridgeGc(const PluginRequest& req);

}  // namespace flint::cni
