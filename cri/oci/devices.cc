#include "cri/oci/devices.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace flint::oci {

absl::StatusOr<DeviceNode> StatDeviceLookup::Lookup(const std::string& host_path) const {
  struct stat st;
  if (stat(host_path.c_str(), &st) != 0) {
    std::string msg = absl::StrCat("stat device ", host_path, ": ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }
  DeviceNode node;
  node.path = host_path;
  if (S_ISCHR(st.st_mode)) node.type = 'c';
  else if (S_ISBLK(st.st_mode)) node.type = 'b';
  else return absl::InvalidArgumentError(absl::StrCat(host_path, " is not a device node"));
  node.major = major(st.st_rdev);
  node.minor = minor(st.st_rdev);
  node.file_mode = st.st_mode & 07777;
  node.uid = st.st_uid;
  node.gid = st.st_gid;
  return node;
}

std::vector<DeviceNode> ScanHostDevices(const std::string& dir) {
  std::vector<DeviceNode> out;
  StatDeviceLookup lookup;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(dir, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    if (it->is_symlink(ec)) continue;
    if (path == dir + "/console" || path == dir + "/ptmx" || path.starts_with(dir + "/pts/")) continue;
    if (it->is_directory(ec)) continue;
    auto node = lookup.Lookup(path);
    if (node.ok()) out.push_back(*node);
  }
  return out;
}

absl::StatusOr<std::string> NormalizeDevicePermissions(const std::string& permissions) {
  if (permissions.empty()) return std::string("rwm");
  std::string out;
  for (char want : {'r', 'w', 'm'}) {
    if (permissions.find(want) != std::string::npos) out.push_back(want);
  }
  for (char c : permissions) {
    if (c != 'r' && c != 'w' && c != 'm') {
      return absl::InvalidArgumentError(absl::StrCat("device permissions \"", permissions, "\" must be a subset of rwm"));
    }
  }
  return out;
}

nlohmann::json OciDevice(const DeviceNode& node, const std::string& container_path) {
  return {{"path", container_path},
          {"type", std::string(1, node.type)},
          {"major", node.major},
          {"minor", node.minor},
          {"fileMode", node.file_mode},
          {"uid", node.uid},
          {"gid", node.gid}};
}

nlohmann::json DeviceCgroupAllowRule(const DeviceNode& node, const std::string& access) {
  return {{"allow", true},
          {"type", std::string(1, node.type)},
          {"major", node.major},
          {"minor", node.minor},
          {"access", access}};
}

}  // namespace flint::oci
