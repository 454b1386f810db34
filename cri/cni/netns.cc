#include "cri/cni/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"

namespace flint::cni {
namespace {

absl::Status Errno(const std::string& what, int err) { return absl::InternalError(absl::StrCat(what, ": ", strerror(err))); }

// Runs in the new namespace's thread: an ioctl on any socket of the namespace reaches its `lo`.
absl::Status BringUpLoopback() {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket", errno);
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  absl::Status status;
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
    status = Errno("get lo flags", errno);
  } else {
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) status = Errno("set lo up", errno);
  }
  ::close(sock);
  return status;
}

// In a throwaway thread, since network namespaces are per thread: enter a fresh one, pin it on `path`,
// and bring `lo` up. The thread's exit drops its reference; the bind mount keeps the namespace alive.
absl::Status PinNewNamespace(const std::string& path) {
  absl::Status status;
  std::thread worker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      status = Errno("unshare(CLONE_NEWNET)", errno);
      return;
    }
    std::string self = absl::StrCat("/proc/self/task/", ::syscall(SYS_gettid), "/ns/net");
    if (::mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      status = Errno(absl::StrCat("bind-mount ", self, " on ", path), errno);
      return;
    }
    status = BringUpLoopback();
  });
  worker.join();
  return status;
}

}  // namespace

bool IsNetnsPinned(const std::string& path) {
  struct statfs st;
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

absl::StatusOr<std::string> CreateNetns(const std::string& dir, const std::string& name) {
  if (name.empty() || absl::StrContains(name, '/') || name == "." || name == "..")
    return absl::InvalidArgumentError(absl::StrCat("invalid netns name \"", name, "\""));
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string what = absl::StrCat("create netns ", path);
  if (IsNetnsPinned(path)) return path;
  if (absl::Status s = fs::MakeDirs(dir, 0755); !s.ok()) return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  // The mount point; an empty file left by an earlier crash is reused.
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return Errno(what, errno);
  ::close(fd);
  if (absl::Status s = PinNewNamespace(path); !s.ok()) {
    (void)RemoveNetns(path);
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  }
  return path;
}

absl::Status RemoveNetns(const std::string& path) {
  // Loop: an earlier double mount on the same file would otherwise leave one behind.
  while (IsNetnsPinned(path)) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0)
      return Errno(absl::StrCat("unmount netns ", path), errno);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno(absl::StrCat("remove netns ", path), errno);
  return absl::OkStatus();
}

}  // namespace flint::cni
