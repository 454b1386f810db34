#include "absl/strings/str_cat.h"
#include "cni/bridge/bridge_commands.h"
#include "cni/bridge/bridge_config.h"
#include "cni/bridge/ipam_client.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/netlink.h"
#include "cni/lib/netns.h"

namespace flint::cni {
namespace {

absl::Status CheckFailed(absl::string_view msg) { return absl::FailedPreconditionError(msg); }

// The bridge exists and the host veth named in the result is its port.
absl::Status CheckHostSide(const BridgeConfig& cfg, const Result& prev) {
  absl::StatusOr<std::unique_ptr<NetlinkSession>> nl = NetlinkSession::Open();
  if (!nl.ok()) return nl.status();
  absl::StatusOr<LinkInfo> bridge = (*nl)->GetLink(cfg.bridge);
  if (!bridge.ok()) return bridge.status();
  if (bridge->kind != "bridge") return CheckFailed(absl::StrCat("\"", cfg.bridge, "\" is not a bridge"));
  for (const ResultInterface& iface : prev.interfaces) {
    if (!iface.sandbox.empty() || iface.name == cfg.bridge) continue;
    absl::StatusOr<LinkInfo> veth = (*nl)->GetLink(iface.name);
    if (!veth.ok()) return veth.status();
    if (veth->master != bridge->index) {
      return CheckFailed(absl::StrCat("\"", iface.name, "\" is not attached to ", cfg.bridge));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPodSide(const std::string& netns, const std::string& ifname, const Result& prev) {
  absl::StatusOr<NetnsHandle> ns = NetnsHandle::Open(netns);
  if (!ns.ok()) return ns.status();
  return RunInNetns(*ns, [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<NetlinkSession>> nl = NetlinkSession::Open();
    if (!nl.ok()) return nl.status();
    absl::StatusOr<LinkInfo> link = (*nl)->GetLink(ifname);
    if (!link.ok()) return link.status();
    if (!link->up) return CheckFailed(absl::StrCat(ifname, " is down"));
    for (const ResultIp& ip : prev.ips) {
      absl::StatusOr<std::vector<IpPrefix>> addrs = (*nl)->ListAddresses(link->index, ip.address.address.is_v4());
      if (!addrs.ok()) return addrs.status();
      bool found = false;
      for (const IpPrefix& a : *addrs) found |= a == ip.address;
      if (!found) return CheckFailed(absl::StrCat(ifname, " lacks address ", ip.address.ToString()));
    }
    absl::StatusOr<std::vector<RouteInfo>> routes = (*nl)->ListRoutes(link->index);
    if (!routes.ok()) return routes.status();
    for (const ResultRoute& want : prev.routes) {
      bool found = false;
      for (const RouteInfo& r : *routes) found |= r.dst == want.dst;
      if (!found) return CheckFailed(absl::StrCat(ifname, " lacks route to ", want.dst.ToString()));
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> BridgeCheck(const PluginRequest& req) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse config");
  if (!cfg->prev_result) return CniStatus(ErrorCode::kInvalidNetworkConfig, "required prevResult missing");
  absl::StatusOr<PendingIpam> ipam_check = PendingIpam::Start(req, cfg->ipam_type, "CHECK");
  if (!ipam_check.ok()) return ipam_check.status();
  FLINT_CNI_RETURN_IF_ERROR(ipam_check->Wait(), "check addresses");
  FLINT_CNI_RETURN_IF_ERROR(CheckHostSide(*cfg, *cfg->prev_result), "check host side");
  FLINT_CNI_RETURN_IF_ERROR(CheckPodSide(req.env.netns, req.env.ifname, *cfg->prev_result), "check pod side");
  return std::optional<nlohmann::json>();
}

}  // namespace flint::cni
