#include "absl/strings/str_cat.h"
#include "cni/bridge/bridge_commands.h"
#include "cni/bridge/bridge_config.h"
#include "cni/bridge/ipam_client.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/ip_masq.h"
#include "cni/lib/netlink.h"
#include "cni/lib/netns.h"

namespace flint::cni {
namespace {

// Deletes the pod end of the veth (which takes the host end with it).
// A missing namespace or interface means there is nothing left to do; so does
// a path that is no longer a namespace (its bind mount is gone, the file stayed).
// The interface's global addresses are appended to `addresses` before it goes.
absl::Status DeletePodInterface(const std::string& netns_path, const std::string& ifname,
                                std::vector<IpAddress>* addresses) {
  if (netns_path.empty()) return absl::OkStatus();
  absl::StatusOr<NetnsHandle> ns = NetnsHandle::Open(netns_path);
  if (ns.status().code() == absl::StatusCode::kNotFound ||
      ns.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::OkStatus();
  }
  if (!ns.ok()) return ns.status();
  return RunInNetns(*ns, [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<NetlinkSession>> nl = NetlinkSession::Open();
    if (!nl.ok()) return nl.status();
    absl::StatusOr<LinkInfo> link = (*nl)->GetLink(ifname);
    if (link.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    if (!link.ok()) return link.status();
    for (const bool v4 : {true, false}) {
      absl::StatusOr<std::vector<IpPrefix>> addrs = (*nl)->ListAddresses(link->index, v4);
      if (!addrs.ok()) continue;
      for (const IpPrefix& a : *addrs) {
        const bool link_local = !v4 && a.address.bytes()[0] == 0xfe && (a.address.bytes()[1] & 0xc0) == 0x80;
        if (!link_local) addresses->push_back(a.address);
      }
    }
    absl::Status deleted = (*nl)->DeleteLink(link->index);
    if (deleted.code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    return deleted;
  });
}

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> BridgeDel(const PluginRequest& req) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse config");
  // IPAM release runs unconditionally (addresses are never leaked by a broken
  // pod) and in the background while the interface is deleted.
  absl::StatusOr<PendingIpam> ipam_del = PendingIpam::Start(req, cfg->ipam_type, "DEL");
  if (!ipam_del.ok()) return WithContext(ipam_del.status(), "release addresses");
  std::vector<IpAddress> pod_addresses;
  absl::Status deleted = DeletePodInterface(req.env.netns, req.env.ifname, &pod_addresses);
  FLINT_CNI_RETURN_IF_ERROR(ipam_del->Wait(), "release addresses");
  FLINT_CNI_RETURN_IF_ERROR(deleted, absl::StrCat("delete ", req.env.ifname));
  if (cfg->ip_masq) {
    // The pod's addresses come from the ADD result the runtime passes on DEL,
    // or from the interface just deleted; without either, search both families.
    std::optional<std::vector<IpAddress>> ips;
    if (cfg->prev_result && !cfg->prev_result->ips.empty()) {
      ips.emplace();
      for (const ResultIp& ip : cfg->prev_result->ips) ips->push_back(ip.address.address);
    } else if (!pod_addresses.empty()) {
      ips = pod_addresses;
    }
    FLINT_CNI_RETURN_IF_ERROR(TeardownIpMasq(req.network_name, req.env.container_id, ips), "ipMasq teardown");
  }
  return std::optional<nlohmann::json>();
}

}  // namespace flint::cni
