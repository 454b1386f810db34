// Per-attachment source NAT through a dedicated nat-table chain, driven by the
// iptables binaries (libnl does not speak netfilter). The chain name and rule
// comments follow the reference plugins so either can clean up the other's rules.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cni/lib/ip_math.h"

namespace flint::cni {

// "CNI-" + the first 24 hex digits of SHA-512(network + container_id).
std::string MasqChainName(absl::string_view network, absl::string_view container_id);
std::string MasqComment(absl::string_view network, absl::string_view container_id);

// Masquerades traffic from `address` (host IP + subnet prefix) leaving the subnet.
absl::Status SetupIpMasq(const IpPrefix& address, absl::string_view network, absl::string_view container_id);
// Removes the chain and the POSTROUTING jumps to it; absent rules are fine.
// With `pod_ips` known (the attachment's addresses), only their families are
// touched and the jumps are deleted by their exact spec in one transaction;
// otherwise (or if that fails) both families are searched.
absl::Status TeardownIpMasq(absl::string_view network, absl::string_view container_id,
                            const std::optional<std::vector<IpAddress>>& pod_ips = std::nullopt);

}  // namespace flint::cni
