#include "cni/host_local/host_local_commands.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cni/host_local/allocation_store.h"
#include "cni/host_local/allocator.h"
#include "cni/host_local/ipam_config.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/gc_attachments.h"

namespace flint::cni {
namespace {

absl::StatusOr<std::unique_ptr<AllocationStore>> OpenStore(const HostLocalConfig& cfg) {
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = AllocationStore::OpenLocked(cfg.data_dir, cfg.network_name);
  if (!store.ok()) return WithContext(store.status(), "host-local store");
  return store;
}

// The value at `path` of nested objects, or null.
const nlohmann::json* JsonAt(const nlohmann::json& root, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &root;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
  }
  return node;
}

absl::Status AddRequested(absl::string_view text, std::vector<IpAddress>* out) {
  absl::string_view ip_text = text.substr(0, text.find('/'));  // "10.1.0.5" or "10.1.0.5/24"
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(ip_text);
  if (!ip.ok()) {
    return CniStatus(ErrorCode::kInvalidNetworkConfig, absl::StrCat("requested IP: ", ip.status().message()));
  }
  if (std::find(out->begin(), out->end(), *ip) == out->end()) out->push_back(*ip);
  return absl::OkStatus();
}

// Specific addresses asked for through CNI_ARGS "IP=a[,b]", the config's
// args.cni.ips, or the "ips" capability (runtimeConfig.ips).
absl::StatusOr<std::vector<IpAddress>> RequestedIps(const PluginRequest& req) {
  std::vector<IpAddress> out;
  absl::StatusOr<std::map<std::string, std::string>> args = ParseCniArgs(req.env.args);
  if (!args.ok()) return args.status();
  if (auto it = args->find("IP"); it != args->end()) {
    for (absl::string_view ip : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
      FLINT_CNI_RETURN_IF_ERROR(AddRequested(ip, &out), "CNI_ARGS");
    }
  }
  for (const nlohmann::json* list :
       {JsonAt(req.config, {"args", "cni", "ips"}), JsonAt(req.config, {"runtimeConfig", "ips"})}) {
    if (list == nullptr || !list->is_array()) continue;
    for (const nlohmann::json& ip : *list) {
      if (!ip.is_string()) return CniStatus(ErrorCode::kInvalidNetworkConfig, "requested IPs must be strings");
      FLINT_CNI_RETURN_IF_ERROR(AddRequested(ip.get<std::string>(), &out), "ips");
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> HostLocalAdd(const PluginRequest& req) {
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse ipam config");
  absl::StatusOr<std::vector<IpAddress>> requested = RequestedIps(req);
  if (!requested.ok()) return requested.status();
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = OpenStore(*cfg);
  if (!store.ok()) return store.status();

  Result result;
  std::vector<IpAddress> unused = *requested;
  for (size_t i = 0; i < cfg->range_sets.size(); ++i) {
    std::optional<IpAddress> wanted;
    for (auto it = unused.begin(); it != unused.end(); ++it) {
      if (RangeSetContains(cfg->range_sets[i], *it)) {
        wanted = *it;
        unused.erase(it);
        break;
      }
    }
    absl::StatusOr<ResultIp> ip = AllocateFromRangeSet(cfg->range_sets[i], static_cast<int>(i), **store,
                                                       req.env.container_id, req.env.ifname, wanted);
    if (!ip.ok()) {
      // Give back what earlier range sets handed out in this call.
      (void)(*store)->ReleaseByOwner(req.env.container_id, req.env.ifname);
      return WithContext(ip.status(), absl::StrCat("failed to allocate for range ", i));
    }
    result.ips.push_back(*ip);
  }
  if (!unused.empty()) {
    (void)(*store)->ReleaseByOwner(req.env.container_id, req.env.ifname);
    std::vector<std::string> names;
    for (const IpAddress& ip : unused) names.push_back(ip.ToString());
    return CniStatus(ErrorCode::kInvalidNetworkConfig,
                     absl::StrCat("failed to allocate all requested IPs: ", absl::StrJoin(names, ", ")));
  }
  result.routes = cfg->routes;
  return ResultToJson(result, req.cni_version);
}

absl::StatusOr<std::optional<nlohmann::json>> HostLocalCheck(const PluginRequest& req) {
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse ipam config");
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = OpenStore(*cfg);
  if (!store.ok()) return store.status();
  absl::StatusOr<std::vector<IpAddress>> held = (*store)->FindByOwner(req.env.container_id, req.env.ifname);
  if (!held.ok()) return held.status();
  if (held->empty()) {
    return CniStatus(ErrorCode::kInternal,
                     absl::StrCat("host-local: failed to find address added by container ", req.env.container_id));
  }
  return std::optional<nlohmann::json>();
}

absl::StatusOr<std::optional<nlohmann::json>> HostLocalDel(const PluginRequest& req) {
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse ipam config");
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = OpenStore(*cfg);
  if (!store.ok()) return store.status();
  FLINT_CNI_RETURN_IF_ERROR((*store)->ReleaseByOwner(req.env.container_id, req.env.ifname), "release");
  return std::optional<nlohmann::json>();
}

absl::StatusOr<std::optional<nlohmann::json>> HostLocalStatus(const PluginRequest& req) {
  // Ready when the config is usable and the store can be opened and locked.
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse ipam config");
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = OpenStore(*cfg);
  if (!store.ok()) return CniStatus(50, store.status().message());
  return std::optional<nlohmann::json>();
}

absl::StatusOr<std::optional<nlohmann::json>> HostLocalGc(const PluginRequest& req) {
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse ipam config");
  absl::StatusOr<AttachmentSet> valid = ParseValidAttachments(req.config);
  if (!valid.ok()) return valid.status();
  absl::StatusOr<std::unique_ptr<AllocationStore>> store = OpenStore(*cfg);
  if (!store.ok()) return store.status();
  FLINT_CNI_RETURN_IF_ERROR((*store)->ReleaseAllExcept(*valid), "gc");
  return std::optional<nlohmann::json>();
}

}  // namespace flint::cni
