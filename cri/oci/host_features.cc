#include "cri/oci/host_features.h"

#include <sys/vfs.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cri/oci/capabilities.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace flint::oci {

bool AppArmorEnabled() {
  std::ifstream in("/sys/module/apparmor/parameters/enabled");
  char c = 0;
  return in && in.get(c) && c == 'Y';
}

absl::StatusOr<HostFeatures> DetectHostFeatures() {
  HostFeatures f;
  struct statfs fs;
  f.cgroup_v2 = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
  f.apparmor_enabled = AppArmorEnabled();
  auto caps = CurrentProcessCapabilities();
  if (!caps.ok()) return caps.status();
  f.all_capabilities = *caps;
  const bool has_sys_resource =
      std::find(f.all_capabilities.begin(), f.all_capabilities.end(), "CAP_SYS_RESOURCE") != f.all_capabilities.end();
  if (!has_sys_resource) {
    std::ifstream in("/proc/self/oom_score_adj");
    std::string text;
    int64_t current = 0;
    if (in >> text && absl::SimpleAtoi(text, &current)) f.oom_score_adj_floor = current;
  }
  return f;
}

}  // namespace flint::oci
