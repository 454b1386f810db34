// OCI mounts: the runtime's defaults and CRI bind mounts.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "api.pb.h"

namespace flint::oci {

// /proc, /dev (tmpfs), /dev/pts, /dev/mqueue, /sys (ro), and for containers
// /sys/fs/cgroup (ro). /dev/shm is added separately (sandbox tmpfs). With
// `privileged`, /sys and /sys/fs/cgroup are read-write.
std::vector<nlohmann::json> DefaultMounts(bool privileged, bool with_cgroup_mount);

// A private 64 MiB tmpfs for /dev/shm (sandbox without a shared shm dir).
nlohmann::json PrivateShmMount();

// rbind mount of `source` at `destination` with the given options appended.
nlohmann::json BindMount(const std::string& source, const std::string& destination, bool readonly,
                         const std::vector<std::string>& extra_options = {});

// Converts a CRI mount: propagation PRIVATE->rprivate, HOST_TO_CONTAINER->rslave,
// BIDIRECTIONAL->rshared; recursive_read_only -> "rro" (needs readonly and
// PRIVATE). A missing host path is created as a directory when
// `create_missing` (containerd behaviour), then symlinks are resolved.
absl::StatusOr<nlohmann::json> CriMountToOci(const runtime::v1::Mount& mount, bool create_missing);

// Replaces mounts in `mounts` that have the same destination as one of
// `overrides`, then appends `overrides` sorted by destination depth (parents
// before children, stable otherwise).
void MergeMounts(std::vector<nlohmann::json>& mounts, std::vector<nlohmann::json> overrides);

// Kubelet-default masked/readonly paths (containerd's lists).
const std::vector<std::string>& DefaultMaskedPaths();
const std::vector<std::string>& DefaultReadonlyPaths();

}  // namespace flint::oci
