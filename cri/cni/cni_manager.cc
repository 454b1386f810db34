#include "cri/cni/cni_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "cri/cni/capability_args.h"
#include "cri/cni/cni_protocol.h"

extern char** environ;

namespace flint::cni {

struct CniManager::RunContext {
  nlohmann::json conflist;
  std::string network_name;
  std::string cni_version;
  nlohmann::json capability_args;
  std::string cni_args;
  std::string container_id;
  std::string netns;
};

namespace {

// Names, sizes and mtimes of the files LoadFirstNetworkConfig would look at.
std::string ConfDirFingerprint(const std::string& conf_dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(conf_dir, ec)) {
    std::string ext = entry.path().extension();
    if (ext != ".conflist" && ext != ".conf" && ext != ".json") continue;
    struct stat st;
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    entries.push_back(absl::StrCat(entry.path().filename().string(), ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                                   st.st_mtim.tv_nsec, ":", st.st_ino));
  }
  if (ec) return absl::StrCat("error:", ec.value());
  std::sort(entries.begin(), entries.end());
  return absl::StrJoin(entries, "|");
}

int64_t ElapsedMs(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status WithContext(const absl::Status& s, const std::string& context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

}  // namespace

CniManager::CniManager(CniManagerOptions options, std::shared_ptr<PluginExecutor> executor)
    : options_(std::move(options)),
      executor_(executor ? std::move(executor) : std::make_shared<ProcessPluginExecutor>()),
      cache_(options_.cache_dir) {}

absl::StatusOr<NetworkConfig> CniManager::CurrentConfig() {
  std::string fingerprint = ConfDirFingerprint(options_.conf_dir);
  std::lock_guard<std::mutex> lock(mu_);
  if (config_.has_value() && fingerprint == config_fingerprint_) return *config_;
  absl::StatusOr<NetworkConfig> config = LoadFirstNetworkConfig(options_.conf_dir);
  if (config.ok()) {
    FLINT_LOG(INFO) << "CNI network config: " << config->path << " network=" << config->name
                    << " plugins=" << absl::StrJoin(config->plugin_types, ",");
  }
  config_fingerprint_ = fingerprint;
  config_ = config;
  return config;
}

absl::Status CniManager::StartWatching() {
  absl::StatusOr<std::unique_ptr<ConfDirWatcher>> watcher = ConfDirWatcher::Start(options_.conf_dir, [this] {
    absl::Status ready = Ready();
    std::string summary = ready.ok() ? "ready" : std::string(ready.message());
    std::lock_guard<std::mutex> lock(mu_);
    if (summary == last_logged_config_) return;
    last_logged_config_ = summary;
    if (ready.ok()) {
      FLINT_LOG(INFO) << "CNI conf dir " << options_.conf_dir << " changed: network ready";
    } else {
      FLINT_LOG(WARN) << "CNI conf dir " << options_.conf_dir << " changed: network not ready: " << summary;
    }
  });
  if (!watcher.ok()) return WithContext(watcher.status(), "watch CNI conf dir " + options_.conf_dir);
  watcher_ = std::move(*watcher);
  return absl::OkStatus();
}

absl::StatusOr<std::string> CniManager::FindPlugin(const std::string& plugin_type) const {
  if (plugin_type.empty() || absl::StrContains(plugin_type, '/') || plugin_type == "." || plugin_type == "..")
    return absl::InvalidArgumentError(absl::StrCat("invalid plugin type \"", plugin_type, "\""));
  for (const std::string& dir : options_.bin_dirs) {
    std::string path = absl::StrCat(dir, "/", plugin_type);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError(absl::StrCat("CNI plugin \"", plugin_type, "\" not found in ",
                                          absl::StrJoin(options_.bin_dirs, ":")));
}

absl::Status CniManager::Ready() {
  absl::StatusOr<NetworkConfig> config = CurrentConfig();
  if (!config.ok()) return config.status();
  nlohmann::json list = nlohmann::json::parse(config->conflist_json);
  if (absl::StatusOr<std::string> v = SelectCniVersion(list); !v.ok()) return WithContext(v.status(), config->path);
  for (const std::string& type : config->plugin_types)
    if (absl::StatusOr<std::string> p = FindPlugin(type); !p.ok()) return WithContext(p.status(), config->path);
  return absl::OkStatus();
}

void CniManager::SetPodCidrs(const std::string& pod_cidrs) {
  std::lock_guard<std::mutex> lock(mu_);
  pod_cidrs_ = pod_cidrs;
}

std::vector<std::string> CniManager::PluginEnv(const RunContext& ctx, const std::string& command) const {
  // Plugins inherit flintd's environment (they need PATH for iptables & co), minus stale CNI_* values.
  std::vector<std::string> env;
  bool has_path = false;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string var(*e);
    if (absl::StartsWith(var, "CNI_")) continue;
    if (absl::StartsWith(var, "PATH=")) has_path = true;
    env.emplace_back(var);
  }
  if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.push_back(absl::StrCat("CNI_COMMAND=", command));
  env.push_back(absl::StrCat("CNI_CONTAINERID=", ctx.container_id));
  env.push_back(absl::StrCat("CNI_NETNS=", ctx.netns));
  env.push_back(absl::StrCat("CNI_IFNAME=", options_.ifname));
  env.push_back(absl::StrCat("CNI_ARGS=", ctx.cni_args));
  env.push_back(absl::StrCat("CNI_PATH=", absl::StrJoin(options_.bin_dirs, ":")));
  return env;
}

absl::StatusOr<nlohmann::json> CniManager::RunPlugin(const RunContext& ctx, const std::string& command,
                                                     const nlohmann::json& plugin, const nlohmann::json* prev_result) {
  std::string type = plugin.value("type", "");
  absl::StatusOr<std::string> binary = FindPlugin(type);
  if (!binary.ok()) return binary.status();
  PluginInvocation invocation;
  invocation.binary = *binary;
  invocation.env = PluginEnv(ctx, command);
  invocation.stdin_data = BuildPluginStdin(plugin, ctx.network_name, ctx.cni_version, prev_result,
                                           RuntimeConfigFor(plugin, ctx.capability_args));
  invocation.timeout = options_.plugin_timeout;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<PluginOutput> output = executor_->Exec(invocation);
  if (!output.ok()) return WithContext(output.status(), absl::StrCat("plugin ", type, " ", command));
  FLINT_LOG(DEBUG) << "cni plugin=" << type << " command=" << command << " container=" << ctx.container_id
                   << " exit=" << output->exit_code << " took_ms=" << ElapsedMs(start);
  if (output->exit_code != 0) return PluginFailure(type, command, *output);
  if (command != "ADD") return nlohmann::json();
  return ParsePluginResult(type, output->stdout_data);
}

absl::Status CniManager::DeleteAll(const RunContext& ctx, const nlohmann::json* prev_result) {
  const nlohmann::json& plugins = ctx.conflist["plugins"];
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    absl::StatusOr<nlohmann::json> r = RunPlugin(ctx, "DEL", *it, prev_result);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<PodNetworkStatus> CniManager::SetUpPod(const PodNetworkRequest& request) {
  const std::string what = absl::StrCat("set up network for sandbox ", request.sandbox_id);
  absl::StatusOr<NetworkConfig> config = CurrentConfig();
  if (!config.ok()) return WithContext(config.status(), absl::StrCat(what, ": CNI network not ready"));
  RunContext ctx;
  ctx.conflist = nlohmann::json::parse(config->conflist_json);
  ctx.network_name = config->name;
  absl::StatusOr<std::string> version = SelectCniVersion(ctx.conflist);
  if (!version.ok()) return WithContext(version.status(), absl::StrCat(what, ": ", config->path));
  ctx.cni_version = *version;
  std::string pod_cidrs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pod_cidrs = pod_cidrs_;
  }
  absl::StatusOr<nlohmann::json> capability_args = BuildCapabilityArgs(request, pod_cidrs);
  if (!capability_args.ok()) return WithContext(capability_args.status(), what);
  ctx.capability_args = *capability_args;
  ctx.cni_args = BuildCniArgs(request);
  ctx.container_id = request.sandbox_id;
  ctx.netns = request.netns_path;

  // Recorded before any plugin runs: a DEL after a crash mid-ADD must use this same config.
  CachedAttachment attachment{.container_id = ctx.container_id,
                              .ifname = options_.ifname,
                              .network_name = ctx.network_name,
                              .cni_version = ctx.cni_version,
                              .netns = ctx.netns,
                              .cni_args = ctx.cni_args,
                              .conflist_json = config->conflist_json,
                              .capability_args = ctx.capability_args,
                              .result = nullptr};
  if (absl::Status s = cache_.Save(attachment); !s.ok()) return WithContext(s, what);

  const auto start = std::chrono::steady_clock::now();
  nlohmann::json result;
  for (const nlohmann::json& plugin : ctx.conflist["plugins"]) {
    absl::StatusOr<nlohmann::json> r = RunPlugin(ctx, "ADD", plugin, result.is_null() ? nullptr : &result);
    if (!r.ok()) {
      absl::Status add_error = WithContext(r.status(), absl::StrCat(what, " (network ", ctx.network_name, ")"));
      absl::Status rollback = DeleteAll(ctx, nullptr);
      if (rollback.ok()) {
        (void)cache_.Remove(attachment);
        return add_error;
      }
      FLINT_LOG(WARN) << "rollback DEL after failed ADD of sandbox " << ctx.container_id << ": " << rollback;
      return absl::Status(add_error.code(),
                          absl::StrCat(add_error.message(), "; rollback DEL also failed: ", rollback.message()));
    }
    result = std::move(*r);
  }
  attachment.result = result;
  if (absl::Status s = cache_.Save(attachment); !s.ok()) return WithContext(s, what);

  PodNetworkStatus status;
  status.network_name = ctx.network_name;
  status.result_json = result.dump();
  std::vector<std::string> ips = SelectPodIps(result, options_.ifname);
  if (!ips.empty()) {
    status.primary_ip = ips[0];
    status.additional_ips.assign(ips.begin() + 1, ips.end());
  }
  FLINT_LOG(INFO) << "CNI ADD sandbox=" << ctx.container_id << " network=" << ctx.network_name
                  << " ips=" << absl::StrJoin(ips, ",")
                  << " took_ms=" << ElapsedMs(start);
  return status;
}

absl::Status CniManager::CheckPod(const PodNetworkRequest& request) {
  const std::string what = absl::StrCat("check network of sandbox ", request.sandbox_id);
  absl::StatusOr<std::optional<CachedAttachment>> cached = cache_.Find(request.sandbox_id, options_.ifname);
  if (!cached.ok()) return WithContext(cached.status(), what);
  if (!cached->has_value() || (*cached)->result.is_null())
    return absl::NotFoundError(absl::StrCat(what, ": no completed ADD recorded"));
  const CachedAttachment& a = **cached;
  RunContext ctx{.conflist = nlohmann::json::parse(a.conflist_json),
                 .network_name = a.network_name,
                 .cni_version = a.cni_version,
                 .capability_args = a.capability_args,
                 .cni_args = a.cni_args,
                 .container_id = a.container_id,
                 .netns = request.netns_path.empty() ? a.netns : request.netns_path};
  if (CompareVersions(ctx.cni_version, "0.4.0") < 0 || ctx.conflist.value("disableCheck", false))
    return absl::OkStatus();
  for (const nlohmann::json& plugin : ctx.conflist["plugins"]) {
    absl::StatusOr<nlohmann::json> r = RunPlugin(ctx, "CHECK", plugin, &a.result);
    if (!r.ok()) return WithContext(r.status(), what);
  }
  return absl::OkStatus();
}

absl::Status CniManager::TearDownPod(const PodNetworkRequest& request) {
  const std::string what = absl::StrCat("tear down network of sandbox ", request.sandbox_id);
  absl::StatusOr<std::optional<CachedAttachment>> cached = cache_.Find(request.sandbox_id, options_.ifname);
  if (!cached.ok()) return WithContext(cached.status(), what);
  RunContext ctx;
  ctx.container_id = request.sandbox_id;
  ctx.netns = request.netns_path;
  const nlohmann::json* prev_result = nullptr;
  if (cached->has_value()) {
    const CachedAttachment& a = **cached;
    ctx.conflist = nlohmann::json::parse(a.conflist_json, nullptr, /*allow_exceptions=*/false);
    if (!ctx.conflist.is_object() || !ctx.conflist.contains("plugins") || !ctx.conflist["plugins"].is_array())
      return absl::DataLossError(absl::StrCat(what, ": cached config is not a conflist"));
    ctx.network_name = a.network_name;
    ctx.cni_version = a.cni_version;
    ctx.capability_args = a.capability_args;
    ctx.cni_args = a.cni_args;
    if (ctx.netns.empty()) ctx.netns = a.netns;
    // Spec versions before 0.4.0 have no prevResult on DEL.
    if (!a.result.is_null() && CompareVersions(a.cni_version, "0.4.0") >= 0) prev_result = &a.result;
  } else {
    absl::StatusOr<NetworkConfig> config = CurrentConfig();
    if (!config.ok()) {
      // Nothing recorded and nothing configured: no ADD can have run for this sandbox.
      FLINT_LOG(WARN) << what << ": no cached attachment and no network config; nothing to delete";
      return absl::OkStatus();
    }
    ctx.conflist = nlohmann::json::parse(config->conflist_json);
    ctx.network_name = config->name;
    absl::StatusOr<std::string> version = SelectCniVersion(ctx.conflist);
    if (!version.ok()) return WithContext(version.status(), absl::StrCat(what, ": ", config->path));
    ctx.cni_version = *version;
    absl::StatusOr<nlohmann::json> capability_args = BuildCapabilityArgs(request, "");
    ctx.capability_args = capability_args.ok() ? *capability_args : nlohmann::json::object();
    ctx.cni_args = BuildCniArgs(request);
  }
  // As containerd does: a netns that is already gone is passed as "" and plugins clean up what they can.
  if (!ctx.netns.empty() && !PathExists(ctx.netns)) ctx.netns.clear();

  if (absl::Status s = DeleteAll(ctx, prev_result); !s.ok())
    return WithContext(s, absl::StrCat(what, " (network ", ctx.network_name, ")"));
  if (cached->has_value())
    if (absl::Status s = cache_.Remove(**cached); !s.ok()) return WithContext(s, what);
  FLINT_LOG(INFO) << "CNI DEL sandbox=" << ctx.container_id << " network=" << ctx.network_name
                  << (cached->has_value() ? " (cached config)" : " (current config, no cache)");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<PodNetworkStatus>> CniManager::PodStatus(const std::string& sandbox_id) {
  absl::StatusOr<std::optional<CachedAttachment>> cached = cache_.Find(sandbox_id, options_.ifname);
  if (!cached.ok()) return cached.status();
  if (!cached->has_value() || (*cached)->result.is_null()) return std::optional<PodNetworkStatus>();
  PodNetworkStatus status;
  status.network_name = (*cached)->network_name;
  status.result_json = (*cached)->result.dump();
  std::vector<std::string> ips = SelectPodIps((*cached)->result, options_.ifname);
  if (!ips.empty()) {
    status.primary_ip = ips[0];
    status.additional_ips.assign(ips.begin() + 1, ips.end());
  }
  return std::optional<PodNetworkStatus>(std::move(status));
}

absl::StatusOr<std::vector<std::string>> CniManager::PluginVersions(const std::string& plugin_type) {
  RunContext ctx;
  ctx.cni_version = "1.0.0";
  absl::StatusOr<std::string> binary = FindPlugin(plugin_type);
  if (!binary.ok()) return binary.status();
  PluginInvocation invocation;
  invocation.binary = *binary;
  invocation.env = PluginEnv(ctx, "VERSION");
  invocation.stdin_data = R"({"cniVersion":"1.0.0"})";
  invocation.timeout = options_.plugin_timeout;
  absl::StatusOr<PluginOutput> output = executor_->Exec(invocation);
  if (!output.ok()) return WithContext(output.status(), absl::StrCat("plugin ", plugin_type, " VERSION"));
  if (output->exit_code != 0) return PluginFailure(plugin_type, "VERSION", *output);
  nlohmann::json j = nlohmann::json::parse(output->stdout_data, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> versions;
  if (j.is_object() && j.contains("supportedVersions") && j["supportedVersions"].is_array()) {
    for (const auto& v : j["supportedVersions"])
      if (v.is_string()) versions.push_back(v);
  } else {
    // Plugins from before VERSION existed (spec 0.1/0.2) print nothing useful.
    return absl::InternalError(absl::StrCat("plugin ", plugin_type, " VERSION printed no supportedVersions"));
  }
  return versions;
}

absl::Status CniManager::Validate() {
  absl::StatusOr<NetworkConfig> config = CurrentConfig();
  if (!config.ok()) return config.status();
  absl::StatusOr<std::string> version = SelectCniVersion(nlohmann::json::parse(config->conflist_json));
  if (!version.ok()) return WithContext(version.status(), config->path);
  for (const std::string& type : config->plugin_types) {
    absl::StatusOr<std::vector<std::string>> versions = PluginVersions(type);
    if (!versions.ok()) return WithContext(versions.status(), config->path);
    if (std::find(versions->begin(), versions->end(), *version) == versions->end())
      return absl::FailedPreconditionError(absl::StrCat(config->path, ": plugin ", type, " does not support cniVersion ",
                                                        *version, " (supports ", absl::StrJoin(*versions, ", "), ")"));
  }
  return absl::OkStatus();
}

}  // namespace flint::cni
