// What this host (and the runtime's own process) allows, gathered once at
// startup and passed to the spec builders so they stay pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::oci {

struct HostFeatures {
  bool cgroup_v2 = false;
  bool apparmor_enabled = false;
  // "All capabilities" for privileged containers and add=[ALL]; empty means
  // every capability this build knows.
  std::vector<std::string> all_capabilities;
  // Lowest oom_score_adj the runtime can give a child. Without
  // CAP_SYS_RESOURCE a process cannot go below its own value, so requests are
  // clamped up to this instead of failing the container start.
  int64_t oom_score_adj_floor = -1000;
};

// cgroup v2 iff /sys/fs/cgroup is cgroup2fs; AppArmor iff
// /sys/module/apparmor/parameters/enabled starts with 'Y'; capabilities from
// /proc/self/status; the floor is our own oom_score_adj unless we hold
// CAP_SYS_RESOURCE.
absl::StatusOr<HostFeatures> DetectHostFeatures();

bool AppArmorEnabled();

inline int64_t ClampOomScoreAdj(int64_t requested, int64_t floor) {
  if (requested < floor) return floor;
  return requested > 1000 ? 1000 : requested;
}

}  // namespace flint::oci
