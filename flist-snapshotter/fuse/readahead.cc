#include "flist-snapshotter/fuse/readahead.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace flint::flist {

absl::Status SetMountReadahead(const std::string& mountpoint, int kib) {
  struct stat st {};
  if (stat(mountpoint.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat("readahead: stat ", mountpoint, ": ", std::strerror(errno)));
  }
  const std::string knob =
      absl::StrCat("/sys/class/bdi/", major(st.st_dev), ":", minor(st.st_dev), "/read_ahead_kb");
  std::ofstream out(knob);
  out << kib << "\n";
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("readahead: write ", knob, " failed"));
  return absl::OkStatus();
}

}  // namespace flint::flist
