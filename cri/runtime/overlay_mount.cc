#include "cri/runtime/overlay_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"

namespace flint::runtime {

absl::Status MountOverlay(const std::vector<std::string>& lower_bottom_first, const std::string& upper,
                          const std::string& work, const std::string& target) {
  if (lower_bottom_first.empty()) return absl::InvalidArgumentError("overlay mount needs at least one layer");
  for (const std::string& dir : {upper, work, target}) {
    if (absl::Status s = fs::MakeDirs(dir, 0755); !s.ok()) return s;
  }
  std::vector<std::string> lower(lower_bottom_first.rbegin(), lower_bottom_first.rend());
  std::string options = absl::StrCat("lowerdir=", absl::StrJoin(lower, ":"), ",upperdir=", upper, ",workdir=", work);
  // The kernel takes one page of mount data.
  if (options.size() >= static_cast<size_t>(getpagesize())) {
    return absl::ResourceExhaustedError(absl::StrCat("overlay options for ", target, " exceed a page (",
                                                     lower.size(), " layers)"));
  }
  if (mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("mount overlay at ", target, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status MountTmpfs(const std::string& target, const std::string& options) {
  if (absl::Status s = fs::MakeDirs(target, 0755); !s.ok()) return s;
  if (mount("shm", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("mount tmpfs at ", target, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool IsMountPoint(const std::string& path) {
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mounts, line)) {
    // Field 5 is the mount point (octal-escaped spaces are not expected in our paths).
    size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    size_t end = line.find(' ', pos + 1);
    if (line.compare(pos + 1, end - pos - 1, path) == 0) return true;
  }
  return false;
}

absl::Status Unmount(const std::string& target) {
  for (int attempt = 0; attempt < 16 && IsMountPoint(target); ++attempt) {
    if (umount2(target.c_str(), 0) == 0) continue;
    if (errno == EBUSY) {
      if (umount2(target.c_str(), MNT_DETACH) == 0) continue;
    }
    if (errno == EINVAL || errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("unmount ", target, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace flint::runtime
