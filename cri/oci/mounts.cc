#include "cri/oci/mounts.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace flint::oci {
namespace {

nlohmann::json Mount(const char* destination, const char* type, const char* source,
                     std::vector<std::string> options) {
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", std::move(options)}};
}

size_t PathDepth(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  size_t depth = 0;
  for (const auto& part : p) {
    if (part != "/" && !part.empty()) ++depth;
  }
  return depth;
}

}  // namespace

std::vector<nlohmann::json> DefaultMounts(bool privileged, bool with_cgroup_mount) {
  const char* sys_mode = privileged ? "rw" : "ro";
  std::vector<nlohmann::json> out = {
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", sys_mode}),
  };
  if (with_cgroup_mount) {
    out.push_back(Mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", sys_mode}));
  }
  return out;
}

nlohmann::json PrivateShmMount() {
  return Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});
}

nlohmann::json BindMount(const std::string& source, const std::string& destination, bool readonly,
                         const std::vector<std::string>& extra_options) {
  std::vector<std::string> options = {"rbind"};
  options.insert(options.end(), extra_options.begin(), extra_options.end());
  options.push_back(readonly ? "ro" : "rw");
  return {{"destination", destination}, {"type", "bind"}, {"source", source}, {"options", options}};
}

absl::StatusOr<nlohmann::json> CriMountToOci(const runtime::v1::Mount& mount, bool create_missing) {
  const std::string& dst = mount.container_path();
  const std::string context = absl::StrCat("mount ", mount.host_path(), " -> ", dst);
  if (dst.empty() || dst[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(context, ": container path must be absolute"));
  }
  if (mount.has_image() && !mount.image().image().empty()) {
    return absl::UnimplementedError(absl::StrCat(context, ": image volumes are not supported"));
  }
  if (mount.uidmappings_size() > 0 || mount.gidmappings_size() > 0) {
    return absl::UnimplementedError(absl::StrCat(context, ": id-mapped mounts are not supported"));
  }
  if (mount.host_path().empty()) return absl::InvalidArgumentError(absl::StrCat(context, ": empty host path"));

  std::string propagation;
  switch (mount.propagation()) {
    case runtime::v1::PROPAGATION_PRIVATE: propagation = "rprivate"; break;
    case runtime::v1::PROPAGATION_HOST_TO_CONTAINER: propagation = "rslave"; break;
    case runtime::v1::PROPAGATION_BIDIRECTIONAL: propagation = "rshared"; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(context, ": unknown propagation ", mount.propagation()));
  }
  if (mount.recursive_read_only()) {
    if (!mount.readonly()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": recursive_read_only requires readonly"));
    }
    if (mount.propagation() != runtime::v1::PROPAGATION_PRIVATE) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": recursive_read_only requires propagation PRIVATE, got ", propagation));
    }
  }

  std::error_code ec;
  if (!std::filesystem::exists(mount.host_path(), ec)) {
    if (!create_missing) return absl::NotFoundError(absl::StrCat(context, ": host path does not exist"));
    std::filesystem::create_directories(mount.host_path(), ec);
    if (ec) return absl::InternalError(absl::StrCat(context, ": create host path: ", ec.message()));
  }
  char resolved[PATH_MAX];
  if (realpath(mount.host_path().c_str(), resolved) == nullptr) {
    return absl::InternalError(absl::StrCat(context, ": resolve host path: ", std::strerror(errno)));
  }

  std::vector<std::string> extra = {propagation};
  for (const auto& opt : mount.mount_options()) extra.push_back(opt);
  nlohmann::json out = BindMount(resolved, std::filesystem::path(dst).lexically_normal().string(), mount.readonly(), extra);
  if (mount.recursive_read_only()) out["options"].push_back("rro");
  return out;
}

void MergeMounts(std::vector<nlohmann::json>& mounts, std::vector<nlohmann::json> overrides) {
  std::erase_if(mounts, [&](const nlohmann::json& m) {
    return std::any_of(overrides.begin(), overrides.end(),
                       [&](const nlohmann::json& o) { return o["destination"] == m["destination"]; });
  });
  std::stable_sort(overrides.begin(), overrides.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return PathDepth(a["destination"].get<std::string>()) < PathDepth(b["destination"].get<std::string>());
  });
  for (auto& o : overrides) mounts.push_back(std::move(o));
}

const std::vector<std::string>& DefaultMaskedPaths() {
  static const std::vector<std::string> kPaths = {
      "/proc/acpi",        "/proc/asound",      "/proc/kcore",   "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
      "/proc/scsi",        "/sys/firmware",     "/sys/devices/virtual/powercap",
  };
  return kPaths;
}

const std::vector<std::string>& DefaultReadonlyPaths() {
  static const std::vector<std::string> kPaths = {
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };
  return kPaths;
}

}  // namespace flint::oci
