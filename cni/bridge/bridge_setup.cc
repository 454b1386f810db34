#include "cni/bridge/bridge_setup.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/sysctl.h"

namespace flint::cni {

absl::StatusOr<LinkInfo> SetupBridge(NetlinkSession& nl, const BridgeConfig& cfg) {
  absl::StatusOr<LinkInfo> bridge = nl.EnsureBridge(cfg.bridge, cfg.mtu);
  if (!bridge.ok()) return bridge.status();
  if (cfg.promisc_mode && !bridge->promisc) FLINT_CNI_RETURN_IF_ERROR(nl.SetPromisc(bridge->index), "bridge");
  if (!bridge->up) FLINT_CNI_RETURN_IF_ERROR(nl.SetUp(bridge->index), "bridge");
  return bridge;
}

absl::Status EnsureGatewayAddress(NetlinkSession& nl, const LinkInfo& bridge, const IpPrefix& gateway,
                                  bool force_address) {
  absl::StatusOr<std::vector<IpPrefix>> existing = nl.ListAddresses(bridge.index, gateway.address.is_v4());
  if (!existing.ok()) return existing.status();
  for (const IpPrefix& addr : *existing) {
    if (addr == gateway) return absl::OkStatus();
    if (!addr.Overlaps(gateway)) continue;
    if (!force_address) {
      return absl::FailedPreconditionError(absl::StrCat("bridge \"", bridge.name, "\" already has an IP address ",
                                                        addr.ToString(), " different from ", gateway.ToString()));
    }
    FLINT_CNI_RETURN_IF_ERROR(nl.DeleteAddress(bridge.index, addr), "forceAddress");
  }
  absl::Status added = nl.AddAddress(bridge.index, gateway);
  // A concurrent ADD on the same network may have added it first.
  if (added.code() == absl::StatusCode::kAlreadyExists) return absl::OkStatus();
  return added;
}

absl::Status EnableForwarding(const std::vector<ResultIp>& ips) {
  for (const ResultIp& ip : ips) {
    if (ip.address.address.is_v4()) {
      FLINT_CNI_RETURN_IF_ERROR(WriteSysctl("net/ipv4/ip_forward", "1"), "enable forwarding");
    } else {
      FLINT_CNI_RETURN_IF_ERROR(WriteSysctl("net/ipv6/conf/all/forwarding", "1"), "enable forwarding");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConfigureContainerInterface(const NetnsHandle& ns, const std::string& ifname,
                                                        const Result& ipam) {
  std::string mac;
  absl::Status status = RunInNetns(ns, [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<NetlinkSession>> nl = NetlinkSession::Open();
    if (!nl.ok()) return nl.status();
    absl::StatusOr<LinkInfo> link = (*nl)->GetLink(ifname);
    if (!link.ok()) return link.status();
    // Announce the new address with a gratuitous ARP when the link comes up, and
    // skip IPv6 DAD so addresses are usable as soon as ADD returns.
    (void)WriteSysctl(absl::StrCat("net/ipv4/conf/", ifname, "/arp_notify"), "1");
    (void)WriteSysctl(absl::StrCat("net/ipv6/conf/", ifname, "/accept_dad"), "0");
    for (const ResultIp& ip : ipam.ips) {
      FLINT_CNI_RETURN_IF_ERROR((*nl)->AddAddress(link->index, ip.address), ifname);
    }
    FLINT_CNI_RETURN_IF_ERROR((*nl)->SetUp(link->index), ifname);
    for (const ResultRoute& route : ipam.routes) {
      std::optional<IpAddress> gw = route.gw;
      if (!gw) {
        for (const ResultIp& ip : ipam.ips) {
          if (ip.gateway && ip.gateway->is_v4() == route.dst.address.is_v4()) {
            gw = ip.gateway;
            break;
          }
        }
      }
      absl::Status added = (*nl)->AddRoute(link->index, route.dst, gw);
      if (!added.ok() && added.code() != absl::StatusCode::kAlreadyExists) return WithContext(added, ifname);
    }
    mac = link->mac;
    return absl::OkStatus();
  });
  if (!status.ok()) return WithContext(status, absl::StrCat("configure ", ifname, " in ", ns.path()));
  return mac;
}

std::string RandomVethName() {
  std::random_device rd;
  return absl::StrFormat("veth%08x", rd());
}

}  // namespace flint::cni
