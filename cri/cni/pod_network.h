// What the CRI layer tells the CNI runner about a pod, and what it gets back.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::cni {

struct PortMapping {
  int32_t host_port = 0;
  int32_t container_port = 0;
  std::string protocol;  // CRI spelling accepted ("TCP", "UDP", "SCTP"); sent lowercase
  std::string host_ip;
};

struct DnsSettings {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

struct PodNetworkRequest {
  std::string sandbox_id;  // CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID
  std::string netns_path;  // CNI_NETNS
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::vector<PortMapping> port_mappings;  // all of PodSandboxConfig.port_mappings; host_port 0 is skipped
  std::map<std::string, std::string> annotations;
  std::string cgroup_parent;  // `cgroupPath` capability; empty: not offered
  DnsSettings dns;            // `dns` capability; empty: not offered
};

struct PodNetworkStatus {
  std::string primary_ip;                   // PodSandboxStatus.network.ip ("" if none)
  std::vector<std::string> additional_ips;  // PodSandboxStatus.network.additional_ips
  std::string network_name;
  std::string result_json;  // the final ADD result as the plugins returned it
};

}  // namespace flint::cni
