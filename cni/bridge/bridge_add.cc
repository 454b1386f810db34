#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cni/bridge/bridge_commands.h"
#include "cni/bridge/bridge_config.h"
#include "cni/bridge/bridge_setup.h"
#include "cni/bridge/ipam_client.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/ip_masq.h"
#include "cni/lib/netlink.h"
#include "cni/lib/netns.h"

namespace flint::cni {
namespace {

// Undo steps run in reverse unless the ADD completes.
class Rollback {
 public:
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  void Push(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void Dismiss() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

// Gateway = first host address of the subnet when IPAM gave none.
void FillGateways(Result& ipam) {
  for (ResultIp& ip : ipam.ips) {
    if (!ip.gateway) ip.gateway = ip.address.FirstAddress().Next();
  }
}

void AddDefaultRoutes(Result& ipam) {
  for (const ResultIp& ip : ipam.ips) {
    const bool v4 = ip.address.address.is_v4();
    bool present = false;
    for (const ResultRoute& r : ipam.routes) {
      present |= r.dst.length == 0 && r.dst.address.is_v4() == v4;
    }
    if (present) continue;
    IpAddress any = ip.address.address.Masked(0);
    ipam.routes.push_back({IpPrefix{any, 0}, ip.gateway});
  }
}

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> BridgeAdd(const PluginRequest& req) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse config");
  const std::string& ifname = req.env.ifname;

  absl::StatusOr<NetnsHandle> ns = NetnsHandle::Open(req.env.netns);
  if (!ns.ok()) return WithContext(ns.status(), "open netns");
  // Checked before IPAM runs: a repeated ADD must not touch the existing attachment.
  absl::Status exists_in_pod = RunInNetns(*ns, [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<NetlinkSession>> pod_nl = NetlinkSession::Open();
    if (!pod_nl.ok()) return pod_nl.status();
    if ((*pod_nl)->GetLink(ifname).ok()) {
      return absl::AlreadyExistsError(absl::StrCat("container interface \"", ifname, "\" already exists"));
    }
    return absl::OkStatus();
  });
  if (!exists_in_pod.ok()) return exists_in_pod;

  absl::StatusOr<std::unique_ptr<NetlinkSession>> opened = NetlinkSession::Open();
  if (!opened.ok()) return opened.status();
  NetlinkSession& nl = **opened;

  // IPAM runs while the links are built. The rollback (declared after `nl`,
  // which its steps use) releases the addresses if IPAM handed any out.
  absl::StatusOr<PendingIpam> ipam_add = PendingIpam::Start(req, cfg->ipam_type, "ADD");
  if (!ipam_add.ok()) return ipam_add.status();
  Rollback rollback;
  rollback.Push([&] {
    if (ipam_add->Wait().ok()) (void)IpamDel(req, cfg->ipam_type);
  });

  absl::StatusOr<LinkInfo> bridge = SetupBridge(nl, *cfg);
  if (!bridge.ok()) return WithContext(bridge.status(), absl::StrCat("bridge ", cfg->bridge));

  std::string host_veth;
  absl::Status created;
  for (int attempt = 0; attempt < 4; ++attempt) {
    host_veth = RandomVethName();
    created = nl.CreateVethPair(host_veth, ifname, cfg->mtu, ns->fd());
    if (created.code() != absl::StatusCode::kAlreadyExists) break;
  }
  if (!created.ok()) return created;
  absl::StatusOr<LinkInfo> host = nl.GetLink(host_veth);
  if (!host.ok()) return host.status();
  const int host_index = host->index;
  // Deleting either end removes the pair, including the pod side.
  rollback.Push([&nl, host_index] { (void)nl.DeleteLink(host_index); });

  FLINT_CNI_RETURN_IF_ERROR(nl.SetMaster(host_index, bridge->index), host_veth);
  if (cfg->hairpin_mode) FLINT_CNI_RETURN_IF_ERROR(nl.SetHairpin(host_index), host_veth);
  FLINT_CNI_RETURN_IF_ERROR(nl.SetUp(host_index), host_veth);

  absl::StatusOr<Result> ipam = ipam_add->WaitResult();
  if (!ipam.ok()) return ipam.status();
  if (cfg->is_gateway) FillGateways(*ipam);
  if (cfg->is_default_gateway) AddDefaultRoutes(*ipam);

  absl::StatusOr<std::string> pod_mac = ConfigureContainerInterface(*ns, ifname, *ipam);
  if (!pod_mac.ok()) return pod_mac.status();

  if (cfg->is_gateway) {
    for (const ResultIp& ip : ipam->ips) {
      IpPrefix gw{*ip.gateway, ip.address.length};
      FLINT_CNI_RETURN_IF_ERROR(EnsureGatewayAddress(nl, *bridge, gw, cfg->force_address),
                                absl::StrCat("bridge ", cfg->bridge, " gateway"));
    }
    FLINT_CNI_RETURN_IF_ERROR(EnableForwarding(ipam->ips), "host");
  }
  if (cfg->ip_masq) {
    std::vector<IpAddress> pod_ips;
    for (const ResultIp& ip : ipam->ips) pod_ips.push_back(ip.address.address);
    rollback.Push([&req, pod_ips] { (void)TeardownIpMasq(req.network_name, req.env.container_id, pod_ips); });
    for (const ResultIp& ip : ipam->ips) {
      FLINT_CNI_RETURN_IF_ERROR(SetupIpMasq(ip.address, req.network_name, req.env.container_id), "ipMasq");
    }
  }

  // The bridge takes a port's MAC when the first port joins; report the current one.
  absl::StatusOr<LinkInfo> bridge_now = nl.GetLink(bridge->index);
  Result result;
  result.interfaces = {
      {cfg->bridge, bridge_now.ok() ? bridge_now->mac : bridge->mac, ""},
      {host_veth, host->mac, ""},
      {ifname, *pod_mac, req.env.netns},
  };
  for (ResultIp ip : ipam->ips) {
    ip.interface = 2;
    result.ips.push_back(ip);
  }
  result.routes = ipam->routes;
  result.dns = cfg->dns;  // like the reference: the network's dns, not IPAM's
  rollback.Dismiss();
  return ResultToJson(result, req.cni_version);
}

}  // namespace flint::cni
