// linux.cgroupsPath for the two cgroup drivers.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::oci {

enum class CgroupDriver { kCgroupfs, kSystemd };

// Used when neither the caller nor the CRI config names a cgroup parent
// (e.g. crictl without --cgroup-parent): a dedicated tree under the root for
// cgroupfs, and the slice runc/crun themselves default to for systemd.
inline constexpr std::string_view kDefaultCgroupfsParent = "/flint";
inline constexpr std::string_view kDefaultSystemdSlice = "system.slice";
// Prefix of the transient scope units: "<prefix>-<id>.scope".
inline constexpr std::string_view kSystemdScopePrefix = "flint";

// cgroupfs: "<parent>/<id>" (parent made absolute). systemd:
// "<basename(parent)>:flint:<id>", which runc/crun turn into the transient
// unit flint-<id>.scope inside that slice; the parent must name a .slice.
absl::StatusOr<std::string> CgroupsPath(CgroupDriver driver, std::string_view cgroup_parent, std::string_view id);

}  // namespace flint::oci
