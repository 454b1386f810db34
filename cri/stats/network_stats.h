// Per-interface network counters of a pod, read inside the pod's network namespace.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::stats {

struct InterfaceStats {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
};

// Parses /proc/net/dev (two header lines, then "name: 16 counters"). Loopback is included;
// callers usually skip "lo" (kubelet does).
absl::StatusOr<std::vector<InterfaceStats>> ParseProcNetDev(std::string_view content);

// Reads the counters of every interface in the network namespace at `netns_path`
// (e.g. /var/run/netns/cni-..., or /proc/<pid>/ns/net). Runs setns(2) on a short-lived dedicated
// thread and reads /proc/thread-self/net/dev, so no other thread ever changes namespace
// (/proc/self/net would show the main thread's namespace, and /sys/class/net the mounter's).
absl::StatusOr<std::vector<InterfaceStats>> ReadNetnsInterfaceStats(const std::string& netns_path);

}  // namespace flint::stats
