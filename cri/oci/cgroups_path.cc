#include "cri/oci/cgroups_path.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace flint::oci {

absl::StatusOr<std::string> CgroupsPath(CgroupDriver driver, std::string_view cgroup_parent_in, std::string_view id_in) {
  const absl::string_view cgroup_parent(cgroup_parent_in.data(), cgroup_parent_in.size());
  const absl::string_view id(id_in.data(), id_in.size());
  if (id.empty() || id.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid container id \"", id, "\" for a cgroup path"));
  }
  if (driver == CgroupDriver::kCgroupfs) {
    absl::string_view parent = cgroup_parent.empty() ? absl::string_view(kDefaultCgroupfsParent.data(), kDefaultCgroupfsParent.size()) : cgroup_parent;
    while (parent.size() > 1 && parent.back() == '/') parent.remove_suffix(1);
    std::string out = parent.front() == '/' ? std::string(parent) : absl::StrCat("/", parent);
    if (out != "/") out += "/";
    return absl::StrCat(out, id);
  }
  absl::string_view parent = cgroup_parent;
  while (!parent.empty() && parent.back() == '/') parent.remove_suffix(1);
  if (size_t slash = parent.rfind('/'); slash != absl::string_view::npos) parent = parent.substr(slash + 1);
  if (parent.empty()) parent = absl::string_view(kDefaultSystemdSlice.data(), kDefaultSystemdSlice.size());
  if (!absl::EndsWith(parent, ".slice")) {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup parent \"", cgroup_parent, "\" is not a systemd slice (systemd cgroup driver)"));
  }
  return absl::StrCat(parent, ":", std::string(kSystemdScopePrefix), ":", id);
}

}  // namespace flint::oci
