#include "cri/stats/cgroup_stats.h"

#include <sys/statfs.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cri/stats/cgroup_v1_reader.h"
#include "cri/stats/cgroup_v2_reader.h"

namespace flint::stats {
namespace {

// From linux/magic.h; spelled out so this builds without kernel headers' exact version.
constexpr long kCgroup2SuperMagic = 0x63677270;

absl::StatusOr<long> FsType(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat("statfs ", path, ": ", std::strerror(errno)));
  }
  return static_cast<long>(st.f_type);
}

// "a-b-c.slice" -> "a.slice/a-b.slice/a-b-c.slice", as systemd nests slices by name.
absl::StatusOr<std::string> ExpandSlice(const std::string& slice) {
  if (slice == "-.slice") return std::string();
  if (!absl::EndsWith(slice, ".slice") || slice.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid systemd slice ", slice));
  }
  std::string name = slice.substr(0, slice.size() - 6);
  if (name.empty() || absl::StartsWith(name, "-") || absl::EndsWith(name, "-") ||
      absl::StrContains(name, "--")) {
    return absl::InvalidArgumentError(absl::StrCat("invalid systemd slice ", slice));
  }
  std::vector<std::string> parts;
  std::string prefix;
  for (absl::string_view component : absl::StrSplit(name, '-')) {
    prefix = prefix.empty() ? std::string(component) : absl::StrCat(prefix, "-", component);
    parts.push_back(prefix + ".slice");
  }
  return absl::StrJoin(parts, "/");
}

}  // namespace

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kV1: return "v1";
    case CgroupMode::kHybrid: return "hybrid";
    case CgroupMode::kV2: return "v2";
  }
  return "unknown";
}

absl::StatusOr<CgroupMode> DetectCgroupMode(const std::string& root) {
  absl::StatusOr<long> root_type = FsType(root);
  if (!root_type.ok()) return root_type.status();
  if (*root_type == kCgroup2SuperMagic) return CgroupMode::kV2;
  absl::StatusOr<long> unified_type = FsType(root + "/unified");
  if (unified_type.ok() && *unified_type == kCgroup2SuperMagic) return CgroupMode::kHybrid;
  return CgroupMode::kV1;
}

absl::StatusOr<std::unique_ptr<CgroupStatsReader>> MakeCgroupStatsReader(const std::string& root) {
  absl::StatusOr<CgroupMode> mode = DetectCgroupMode(root);
  if (!mode.ok()) return mode.status();
  if (*mode == CgroupMode::kV2) return std::unique_ptr<CgroupStatsReader>(new CgroupV2Reader(root));
  return std::unique_ptr<CgroupStatsReader>(new CgroupV1Reader(root));
}

absl::StatusOr<std::string> SystemdCgroupPath(const std::string& cgroups_path) {
  std::vector<std::string> parts = absl::StrSplit(cgroups_path, ':');
  if (parts.size() != 3) return cgroups_path;  // cgroupfs form
  std::string slice = parts[0].empty() ? "system.slice" : parts[0];
  absl::StatusOr<std::string> slice_dir = ExpandSlice(slice);
  if (!slice_dir.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cgroups path ", cgroups_path, ": ", slice_dir.status().message()));
  }
  const std::string& prefix = parts[1];
  const std::string& name = parts[2];
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("cgroups path ", cgroups_path, ": empty name"));
  std::string unit;
  if (absl::EndsWith(name, ".slice")) {
    unit = name;  // the name is itself a slice unit placed directly under the parent slice
  } else {
    unit = prefix.empty() ? absl::StrCat(name, ".scope") : absl::StrCat(prefix, "-", name, ".scope");
  }
  return slice_dir->empty() ? unit : absl::StrCat(*slice_dir, "/", unit);
}

}  // namespace flint::stats
