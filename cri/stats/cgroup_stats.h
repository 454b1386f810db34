// Per-cgroup resource usage as the CRI stats RPCs need it, read from cgroup v1 or v2 files.
//
// Field semantics follow kubelet/cAdvisor (and containerd's CRI plugin), so that numbers from
// flintd and from kubelet's embedded cAdvisor agree:
//   working_set = usage - inactive_file (v1: total_inactive_file), clamped at 0
//   available   = limit - working_set, only when a limit is set (clamped at 0)
// Every field is optional: a missing controller or file leaves it unset (CRI distinguishes
// "unset" from 0), a cgroup that exists in no controller is NotFound.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::stats {

struct CgroupStats {
  int64_t timestamp_ns = 0;  // CLOCK_REALTIME when read (CRI timestamps are wall-clock ns)

  std::optional<uint64_t> cpu_usage_ns;  // cumulative, all cores

  std::optional<uint64_t> memory_usage_bytes;
  std::optional<uint64_t> memory_working_set_bytes;
  std::optional<uint64_t> memory_rss_bytes;     // anonymous memory (v1 total_rss, v2 anon)
  std::optional<uint64_t> memory_cache_bytes;   // page cache (v1 total_cache, v2 file)
  std::optional<uint64_t> memory_limit_bytes;   // unset when unlimited
  std::optional<uint64_t> memory_available_bytes;  // set only when limited
  std::optional<uint64_t> page_faults;
  std::optional<uint64_t> major_page_faults;
  std::optional<uint64_t> swap_usage_bytes;
  std::optional<uint64_t> oom_kills;

  std::optional<uint64_t> pids_current;
};

enum class CgroupMode {
  kV1,      // only legacy hierarchies
  kHybrid,  // legacy hierarchies for controllers plus an empty cgroup2 at <root>/unified
  kV2,      // unified hierarchy mounted at the root
};
std::string_view CgroupModeName(CgroupMode mode);

// Looks at the filesystem types under `root` (normally /sys/fs/cgroup). In hybrid mode all
// controllers are on v1, so stats must be read with the v1 reader.
absl::StatusOr<CgroupMode> DetectCgroupMode(const std::string& root = "/sys/fs/cgroup");

// Reads the stats of one cgroup. `cgroup_path` is relative to the hierarchy root (a leading '/'
// is accepted), e.g. "kubepods/besteffort/pod<uid>/<id>", as OCI linux.cgroupsPath for cgroupfs.
class CgroupStatsReader {
 public:
  virtual ~CgroupStatsReader() = default;
  virtual absl::StatusOr<CgroupStats> Read(const std::string& cgroup_path) const = 0;
};

// The reader for the host's mode (v1 reader for kV1/kHybrid).
absl::StatusOr<std::unique_ptr<CgroupStatsReader>> MakeCgroupStatsReader(
    const std::string& root = "/sys/fs/cgroup");

// Maps the systemd driver form "slice:prefix:name" to the cgroupfs path systemd creates:
//   "kubepods-besteffort-pod12.slice:cri-flint:abc"
//     -> "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-flint-abc.scope"
// A name ending in ".slice" is used as the unit itself (as runc does); an empty slice is "system.slice"; "-.slice" is
// the root. Paths that are not in that form are returned unchanged (cgroupfs driver).
absl::StatusOr<std::string> SystemdCgroupPath(const std::string& cgroups_path);

}  // namespace flint::stats
