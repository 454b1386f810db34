// Pieces shared by the sandbox and container spec builders (internal).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "api.pb.h"
#include "cri/oci/user_resolver.h"

namespace flint::oci::internal {

inline constexpr char kDefaultPathEnv[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ociVersion, root, empty process/linux objects and the device cgroup deny-all rule.
nlohmann::json BaseSpec(const std::string& rootfs, bool readonly_rootfs);

// A namespace entry; an empty path asks for a new namespace.
nlohmann::json Namespace(const char* type, const std::string& path = "");

nlohmann::json ProcessUser(const ResolvedUser& user);

nlohmann::json Capabilities(const std::vector<std::string>& caps, const std::vector<std::string>& ambient);

// Rejects sysctls that would change host state: net.* with host network,
// IPC sysctls with host IPC, kernel.hostname/domainname with host UTS.
absl::Status ValidateSysctls(const google::protobuf::Map<std::string, std::string>& sysctls, bool host_network,
                             bool host_ipc);

}  // namespace flint::oci::internal
