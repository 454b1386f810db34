#include "cri/oci/spec_common.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace flint::oci::internal {

nlohmann::json BaseSpec(const std::string& rootfs, bool readonly_rootfs) {
  nlohmann::json spec = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", rootfs}, {"readonly", readonly_rootfs}}},
      {"process", {{"terminal", false}, {"cwd", "/"}}},
      {"mounts", nlohmann::json::array()},
      {"annotations", nlohmann::json::object()},
      {"linux",
       {{"namespaces", nlohmann::json::array()},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}}}},
  };
  return spec;
}

nlohmann::json Namespace(const char* type, const std::string& path) {
  nlohmann::json ns = {{"type", type}};
  if (!path.empty()) ns["path"] = path;
  return ns;
}

nlohmann::json ProcessUser(const ResolvedUser& user) {
  nlohmann::json u = {{"uid", user.uid}, {"gid", user.gid}};
  if (!user.additional_gids.empty()) u["additionalGids"] = user.additional_gids;
  return u;
}

nlohmann::json Capabilities(const std::vector<std::string>& caps, const std::vector<std::string>& ambient) {
  // Inheritable stays empty (CVE-2022-24769) unless ambient capabilities need it.
  return {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"inheritable", ambient}, {"ambient", ambient}};
}

absl::Status ValidateSysctls(const google::protobuf::Map<std::string, std::string>& sysctls, bool host_network,
                             bool host_ipc) {
  for (const auto& [name, value] : sysctls) {
    if (host_network && absl::StartsWith(name, "net.")) {
      return absl::InvalidArgumentError(
          absl::StrCat("sysctl \"", name, "\" is not allowed with host network (it would change the node)"));
    }
    const bool ipc = absl::StartsWith(name, "fs.mqueue.") || absl::StartsWith(name, "kernel.shm") ||
                     absl::StartsWith(name, "kernel.msg") || name == "kernel.sem";
    if (host_ipc && ipc) {
      return absl::InvalidArgumentError(absl::StrCat("sysctl \"", name, "\" is not allowed with host IPC"));
    }
    if (host_network && (name == "kernel.hostname" || name == "kernel.domainname")) {
      return absl::InvalidArgumentError(absl::StrCat("sysctl \"", name, "\" is not allowed with host UTS"));
    }
  }
  return absl::OkStatus();
}

}  // namespace flint::oci::internal
