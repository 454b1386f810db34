// seccomp profiles in OCI runtime-spec form (linux.seccomp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace flint::oci {

// Flint's RuntimeDefault profile: deny by default with EPERM, allow the usual
// set of syscalls, plus the ones the given capabilities legitimately need
// (mount/unshare/setns for CAP_SYS_ADMIN, ptrace-likes for CAP_SYS_PTRACE, ...).
// clone3 fails with ENOSYS (not EPERM) without CAP_SYS_ADMIN so that libc falls
// back to clone(2), whose namespace flags the profile can inspect.
nlohmann::json RuntimeDefaultSeccompProfile(const std::vector<std::string>& capabilities);

// Loads a Localhost profile from an absolute path. Accepts OCI form and the
// Docker/containerd form ("archMap", per-syscall "includes"/"excludes" on
// caps and arches), which is converted to OCI form for this host.
absl::StatusOr<nlohmann::json> LoadLocalhostSeccompProfile(const std::string& path,
                                                           const std::vector<std::string>& capabilities);

}  // namespace flint::oci
