#include "cri/oci/pause_rootfs.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace flint::oci {

absl::Status PreparePauseRootfs(const std::string& dir, const std::string& pause_binary) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* sub : {"proc", "dev", "sys", "etc", "tmp"}) {
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) return absl::InternalError(absl::StrCat("pause rootfs: mkdir ", dir, "/", sub, ": ", ec.message()));
  }
  for (const char* file : {"etc/resolv.conf", "etc/hostname", "etc/hosts"}) {
    fs::path p = fs::path(dir) / file;
    if (!fs::exists(p, ec)) std::ofstream(p).close();
  }
  const fs::path target = fs::path(dir) / "flint-pause";
  const fs::path tmp = fs::path(dir) / ".flint-pause.tmp";
  fs::copy_file(pause_binary, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("pause rootfs: copy ", pause_binary, ": ", ec.message()));
  fs::permissions(tmp, fs::perms(0755), ec);
  if (ec) return absl::InternalError(absl::StrCat("pause rootfs: chmod ", tmp.string(), ": ", ec.message()));
  // rename so a sandbox starting concurrently never execs a half-written file
  fs::rename(tmp, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("pause rootfs: rename to ", target.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace flint::oci
