// Device nodes for linux.devices and the device cgroup allow-list.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace flint::oci {

struct DeviceNode {
  std::string path;  // host path
  char type = 'c';   // 'c' or 'b'
  int64_t major = 0;
  int64_t minor = 0;
  uint32_t file_mode = 0666;  // permission bits only
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// Looks up a host device node. Tests substitute a fake; production uses stat(2).
class DeviceLookup {
 public:
  virtual ~DeviceLookup() = default;
  // InvalidArgument if the path is not a character or block device,
  // NotFound if it does not exist.
  virtual absl::StatusOr<DeviceNode> Lookup(const std::string& host_path) const = 0;
};

class StatDeviceLookup : public DeviceLookup {
 public:
  absl::StatusOr<DeviceNode> Lookup(const std::string& host_path) const override;
};

// Every character/block device below `dir` (recursively, without following
// symlinks), for privileged containers. /dev/console and the pty master are
// skipped: the runtime provides its own.
std::vector<DeviceNode> ScanHostDevices(const std::string& dir);

// Validates an "rwm" subset; empty means "rwm".
absl::StatusOr<std::string> NormalizeDevicePermissions(const std::string& permissions);

// linux.devices entry for `node` appearing at `container_path`.
nlohmann::json OciDevice(const DeviceNode& node, const std::string& container_path);

// linux.resources.devices allow rule for `node` with `access` ("rwm" subset).
nlohmann::json DeviceCgroupAllowRule(const DeviceNode& node, const std::string& access);

}  // namespace flint::oci
