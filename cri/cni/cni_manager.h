// The CNI runner in flintd: picks the network config, runs a conflist's plugins for ADD/CHECK/DEL,
// and keeps each pod's attachment on disk so that DEL works after a restart.
//
// Thread-safe. Calls for different sandboxes may run concurrently; the caller serializes calls for one
// sandbox (RunPodSandbox vs StopPodSandbox of the same pod).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cri/cni/conf_dir_watcher.h"
#include "cri/cni/network_config.h"
#include "cri/cni/plugin_exec.h"
#include "cri/cni/pod_network.h"
#include "cri/cni/result_cache.h"

namespace flint::cni {

struct CniManagerOptions {
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};
  std::string cache_dir;  // e.g. <root_dir>/cni; attachments live in <cache_dir>/results
  std::chrono::milliseconds plugin_timeout{60'000};
  std::string ifname = "eth0";
};

class CniManager {
 public:
  // `executor` null: plugins are run as processes.
  explicit CniManager(CniManagerOptions options, std::shared_ptr<PluginExecutor> executor = nullptr);

  // The config a new pod would get now. The conf dir is listed on every call and files are re-parsed only
  // when a candidate's name, size or mtime changed, so a new or edited config is seen immediately.
  absl::StatusOr<NetworkConfig> CurrentConfig();

  // Reloads (and logs) the config whenever the conf dir changes, until destruction.
  absl::Status StartWatching();

  // NetworkReady: OK when a config is usable (supported version) and every plugin it names is found.
  absl::Status Ready();

  // Runs VERSION on every plugin of the current config and checks each supports the list's version.
  absl::Status Validate();
  // The versions one plugin reports via VERSION.
  absl::StatusOr<std::vector<std::string>> PluginVersions(const std::string& plugin_type);

  // UpdateRuntimeConfig's pod CIDR ("10.0.0.0/24" or "10.0.0.0/24,fd00::/64"), offered as `ipRanges`.
  void SetPodCidrs(const std::string& pod_cidrs);

  // ADD of the whole list. On failure a DEL rolls back what was done, and the error names the plugin.
  absl::StatusOr<PodNetworkStatus> SetUpPod(const PodNetworkRequest& request);

  // CHECK against the cached result (no-op for lists older than 0.4.0 or with disableCheck).
  absl::Status CheckPod(const PodNetworkRequest& request);

  // DEL in reverse order with the cached config and result; without a cache, with the current config
  // and no prevResult. A netns path that no longer exists is passed empty. Idempotent.
  absl::Status TearDownPod(const PodNetworkRequest& request);

  // The cached ADD result of a sandbox (survives restarts); nullopt if none.
  absl::StatusOr<std::optional<PodNetworkStatus>> PodStatus(const std::string& sandbox_id);

  // Absolute path of a plugin binary found in the bin dirs.
  absl::StatusOr<std::string> FindPlugin(const std::string& plugin_type) const;

 private:
  struct RunContext;

  absl::StatusOr<nlohmann::json> RunPlugin(const RunContext& ctx, const std::string& command,
                                           const nlohmann::json& plugin, const nlohmann::json* prev_result);
  absl::Status DeleteAll(const RunContext& ctx, const nlohmann::json* prev_result);
  std::vector<std::string> PluginEnv(const RunContext& ctx, const std::string& command) const;

  const CniManagerOptions options_;
  std::shared_ptr<PluginExecutor> executor_;
  ResultCache cache_;

  std::mutex mu_;
  std::string config_fingerprint_;  // guarded by mu_
  std::optional<absl::StatusOr<NetworkConfig>> config_;  // guarded by mu_
  std::string pod_cidrs_;  // guarded by mu_
  std::string last_logged_config_;  // guarded by mu_
  std::unique_ptr<ConfDirWatcher> watcher_;  // last: stops before the rest goes
};

}  // namespace flint::cni
