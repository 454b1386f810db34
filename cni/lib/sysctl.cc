#include "cni/lib/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace flint::cni {
namespace {

std::string SysctlPath(absl::string_view key) {
  std::string k(key);
  if (k.find('/') == std::string::npos) k = absl::StrReplaceAll(k, {{".", "/"}});
  return absl::StrCat("/proc/sys/", k);
}

}  // namespace

absl::StatusOr<std::string> ReadSysctl(absl::string_view key) {
  std::string path = SysctlPath(key);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("sysctl ", path, ": ", std::strerror(errno)));
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n < 0) return absl::InternalError(absl::StrCat("sysctl ", path, ": ", std::strerror(errno)));
  return std::string(absl::StripTrailingAsciiWhitespace(absl::string_view(buf, static_cast<size_t>(n))));
}

absl::Status WriteSysctl(absl::string_view key, absl::string_view value) {
  std::string path = SysctlPath(key);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::Status(errno == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                        absl::StrCat("sysctl ", path, ": ", std::strerror(errno)));
  }
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::InternalError(absl::StrCat("sysctl ", path, "=", value, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace flint::cni
