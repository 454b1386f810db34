// The host-side and container-side steps of attaching a pod to the bridge.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cni/bridge/bridge_config.h"
#include "cni/lib/netlink.h"
#include "cni/lib/netns.h"
#include "cni/lib/result.h"

namespace flint::cni {

// Creates or adopts the bridge, applies promiscMode and brings it up.
absl::StatusOr<LinkInfo> SetupBridge(NetlinkSession& nl, const BridgeConfig& cfg);

// Puts `gateway` (with the subnet's prefix) on the bridge. A different address
// of the same subnet is an error unless forceAddress, in which case it is replaced.
absl::Status EnsureGatewayAddress(NetlinkSession& nl, const LinkInfo& bridge, const IpPrefix& gateway,
                                  bool force_address);

// Enables IPv4/IPv6 forwarding for the families present in `ips`.
absl::Status EnableForwarding(const std::vector<ResultIp>& ips);

// In the pod netns: settle sysctls, bring `ifname` up, add addresses and routes.
// Returns the interface's MAC.
absl::StatusOr<std::string> ConfigureContainerInterface(const NetnsHandle& ns, const std::string& ifname,
                                                        const Result& ipam);

// A host-side veth name that is not in use: "veth" + 8 hex digits.
std::string RandomVethName();

}  // namespace flint::cni
