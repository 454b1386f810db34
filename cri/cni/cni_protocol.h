// Pieces of the CNI protocol that are pure data: versions, per-plugin stdin, results and errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cri/cni/plugin_exec.h"

namespace flint::cni {

// Spec versions whose configs and results this runner understands.
const std::vector<std::string>& SupportedCniVersions();

// The version to speak for a conflist: the highest supported entry of `cniVersions` (spec 1.1) if present,
// else `cniVersion`. Unsupported (e.g. 0.2.0 or 2.0.0) is InvalidArgument.
absl::StatusOr<std::string> SelectCniVersion(const nlohmann::json& conflist);

// -1/0/1 comparing dotted versions numerically ("0.3.1" < "0.4.0" < "1.0.0").
int CompareVersions(const std::string& a, const std::string& b);

// The stdin of one plugin: its own object plus the list's name and version, `prevResult` when given and
// `runtimeConfig` when non-empty (anything the plugin object already had under those keys is replaced).
std::string BuildPluginStdin(const nlohmann::json& plugin, const std::string& network_name,
                             const std::string& cni_version, const nlohmann::json* prev_result,
                             const nlohmann::json& runtime_config);

// A plugin run that ended with exit code != 0 (or a signal) as a Status naming the plugin and command,
// with the CNI error object's code, msg and details when stdout holds one, else stderr's tail.
absl::Status PluginFailure(const std::string& plugin_type, const std::string& command, const PluginOutput& output);

// The result object from an ADD's stdout; a successful plugin must print one.
absl::StatusOr<nlohmann::json> ParsePluginResult(const std::string& plugin_type, const std::string& stdout_data);

// Pod IPs from a result (any 0.3.0+ version): the `ips` on the interface named `ifname` that has a `sandbox`,
// else all `ips`; prefix lengths stripped, IPv4 before IPv6, otherwise in result order, no duplicates.
std::vector<std::string> SelectPodIps(const nlohmann::json& result, const std::string& ifname);

}  // namespace flint::cni
