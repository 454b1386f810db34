// The OS side of container root filesystems and pod /dev/shm: overlayfs and tmpfs mounts.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace flint::runtime {

// Mounts overlayfs at target with lower dirs given bottom layer first. upper and work are
// created when missing (same filesystem). An image with a single layer and no writes still
// gets an upper dir, so the container's writes never reach the shared layer.
absl::Status MountOverlay(const std::vector<std::string>& lower_bottom_first, const std::string& upper,
                          const std::string& work, const std::string& target);
absl::Status MountTmpfs(const std::string& target, const std::string& options);
// Unmounts (lazily when busy); a path that is not mounted is fine.
absl::Status Unmount(const std::string& target);
bool IsMountPoint(const std::string& path);

}  // namespace flint::runtime
