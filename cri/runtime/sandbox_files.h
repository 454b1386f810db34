// Per-pod files every container of the pod sees: /etc/resolv.conf, /etc/hostname, /etc/hosts.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api.pb.h"

namespace flint::runtime {

// resolv.conf text from the CRI DNS config; without servers/searches/options the host's
// file (host_resolv_conf) is used, as containerd does.
std::string ResolvConfText(const ::runtime::v1::DNSConfig& dns, const std::string& host_resolv_conf);
std::string HostsText(const std::string& hostname, const std::string& ip);

struct SandboxFiles {
  std::string resolv_conf;
  std::string hostname;
  std::string hosts;
};

// Writes the three files into dir; hostname is the pod's (or the node's for host network).
absl::StatusOr<SandboxFiles> WriteSandboxFiles(const std::string& dir, const ::runtime::v1::PodSandboxConfig& config,
                                               const std::string& host_resolv_conf_path = "/etc/resolv.conf");

}  // namespace flint::runtime
