#include "cni/lib/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"

namespace flint::cni {

absl::StatusOr<NetnsHandle> NetnsHandle::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                        absl::StrCat("open netns ", path, ": ", std::strerror(err)));
  }
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0 || (fs.f_type != NSFS_MAGIC && fs.f_type != PROC_SUPER_MAGIC)) {
    close(fd);
    return CniStatus(ErrorCode::kInvalidEnvironment, absl::StrCat(path, " is not a network namespace"));
  }
  return NetnsHandle(fd, path);
}

NetnsHandle::NetnsHandle(NetnsHandle&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

NetnsHandle::~NetnsHandle() {
  if (fd_ >= 0) close(fd_);
}

absl::Status RunInNetns(const NetnsHandle& ns, const std::function<absl::Status()>& fn) {
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) return absl::InternalError(absl::StrCat("open current netns: ", std::strerror(errno)));
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    int err = errno;
    close(original);
    return absl::InternalError(absl::StrCat("enter netns ", ns.path(), ": ", std::strerror(err)));
  }
  absl::Status status = fn();
  if (setns(original, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "fatal: cannot return to the original netns: %s\n", std::strerror(errno));
    std::abort();
  }
  close(original);
  return status;
}

}  // namespace flint::cni
