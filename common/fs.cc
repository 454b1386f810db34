#include "common/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace flint::fs {
namespace {
absl::Status ErrnoError(const std::string& what, int err) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(msg);
    default: return absl::InternalError(msg);
  }
}
}  // namespace

absl::Status MakeDirs(const std::string& path, unsigned mode) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    size_t next = path.find('/', pos + 1);
    partial = path.substr(0, next);
    pos = next;
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("mkdir " + partial, errno);
  }
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return ErrnoError("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  return absl::OkStatus();
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoError("write " + tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("sync " + tmp, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoError("rename " + tmp + " to " + path, err);
  }
  return absl::OkStatus();
}

absl::Status SyncFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoError("open " + path, errno);
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    return ErrnoError("sync " + path, err);
  }
  close(fd);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
thread_local DiskUsage* t_usage;
thread_local std::set<std::pair<dev_t, ino_t>>* t_seen;
int CountEntry(const char*, const struct stat* st, int type, FTW*) {
  if (type == FTW_NS) return 0;
  if (!t_seen->emplace(st->st_dev, st->st_ino).second) return 0;
  t_usage->bytes += static_cast<uint64_t>(st->st_blocks) * 512;
  t_usage->inodes += 1;
  return 0;
}
}  // namespace

absl::StatusOr<DiskUsage> MeasureDiskUsage(const std::string& path) {
  DiskUsage usage;
  std::set<std::pair<dev_t, ino_t>> seen;
  t_usage = &usage;
  t_seen = &seen;
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return usage;
    return ErrnoError("stat " + path, errno);
  }
  if (nftw(path.c_str(), CountEntry, 64, FTW_PHYS | FTW_MOUNT) != 0) return ErrnoError("walk " + path, errno);
  return usage;
}

namespace {
thread_local int t_remove_errno;
thread_local std::string* t_remove_failed;
int RemoveEntry(const char* path, const struct stat*, int type, FTW*) {
  int rc = (type == FTW_DP || type == FTW_D) ? rmdir(path) : unlink(path);
  if (rc != 0 && errno != ENOENT && t_remove_errno == 0) {
    t_remove_errno = errno;
    *t_remove_failed = path;
  }
  return 0;
}
}  // namespace

namespace {
// Mount points at or below `path`, from /proc/self/mountinfo. Bind mounts from the same
// filesystem share st_dev, so walking with FTW_MOUNT alone cannot see them.
std::vector<std::string> MountsBelow(const std::string& path) {
  std::vector<std::string> found;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) continue;
    std::string unescaped;
    for (size_t i = 0; i < mount_point.size(); ++i) {
      if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
        unescaped += static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        unescaped += mount_point[i];
      }
    }
    if (unescaped == path || (unescaped.size() > path.size() && unescaped.compare(0, path.size(), path) == 0 &&
                              unescaped[path.size()] == '/')) {
      found.push_back(unescaped);
    }
  }
  return found;
}
}  // namespace

absl::Status RemoveAll(const std::string& path) {
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("stat " + path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + path, errno);
    return absl::OkStatus();
  }
  // Never empty a mount: refuse while anything is mounted below, and walk depth first
  // without following symlinks or crossing into other filesystems.
  std::string canonical = path;
  while (canonical.size() > 1 && canonical.back() == '/') canonical.pop_back();
  if (std::vector<std::string> mounts = MountsBelow(canonical); !mounts.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("remove ", path, ": ", mounts.front(), " is still mounted"));
  }
  std::string failed;
  t_remove_errno = 0;
  t_remove_failed = &failed;
  if (nftw(path.c_str(), RemoveEntry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
    return ErrnoError("walk " + path, errno);
  }
  if (t_remove_errno != 0) return ErrnoError("remove " + failed, t_remove_errno);
  return absl::OkStatus();
}

}  // namespace flint::fs
