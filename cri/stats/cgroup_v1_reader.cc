#include "cri/stats/cgroup_v1_reader.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cri/stats/cgroup_files.h"

namespace flint::stats {
namespace {

using internal::FlatKeyedFile;
using internal::JoinCgroupPath;
using internal::ParseUint;
using internal::ReadSmallFile;

// The kernel reports "no limit" as PAGE_COUNTER_MAX pages, just under 2^63 (its exact value
// depends on the page size); nobody sets a real limit of 4 EiB.
constexpr uint64_t kUnlimitedThreshold = uint64_t{1} << 62;

std::optional<uint64_t> ReadUint(const std::string& path, bool* found) {
  absl::StatusOr<std::string> content = ReadSmallFile(path);
  if (!content.ok()) return std::nullopt;
  *found = true;
  return ParseUint(*content);
}

}  // namespace

absl::StatusOr<CgroupStats> CgroupV1Reader::Read(const std::string& cgroup_path) const {
  CgroupStats stats;
  stats.timestamp_ns = internal::RealtimeNanos();
  bool found = false;

  stats.cpu_usage_ns = ReadUint(JoinCgroupPath(root_, "cpuacct", cgroup_path) + "/cpuacct.usage", &found);

  const std::string memory_dir = JoinCgroupPath(root_, "memory", cgroup_path);
  std::optional<uint64_t> usage = ReadUint(memory_dir + "/memory.usage_in_bytes", &found);
  if (usage) {
    stats.memory_usage_bytes = usage;
    absl::StatusOr<std::string> stat_content = ReadSmallFile(memory_dir + "/memory.stat");
    std::optional<uint64_t> inactive_file;
    if (stat_content.ok()) {
      // total_* include descendants; a container cgroup normally has none, a pod cgroup does.
      FlatKeyedFile stat(*stat_content);
      inactive_file = stat.Get("total_inactive_file");
      stats.memory_rss_bytes = stat.Get("total_rss");
      stats.memory_cache_bytes = stat.Get("total_cache");
      stats.page_faults = stat.Get("total_pgfault");
      stats.major_page_faults = stat.Get("total_pgmajfault");
    }
    stats.memory_working_set_bytes = internal::WorkingSet(*usage, inactive_file);

    std::optional<uint64_t> limit = ReadUint(memory_dir + "/memory.limit_in_bytes", &found);
    if (limit && *limit < kUnlimitedThreshold) {
      stats.memory_limit_bytes = limit;
      uint64_t ws = *stats.memory_working_set_bytes;
      stats.memory_available_bytes = *limit > ws ? *limit - ws : 0;
    }
    // memsw counts memory+swap; it only exists when swap accounting is enabled.
    std::optional<uint64_t> memsw = ReadUint(memory_dir + "/memory.memsw.usage_in_bytes", &found);
    if (memsw) stats.swap_usage_bytes = *memsw > *usage ? *memsw - *usage : 0;

    absl::StatusOr<std::string> oom_control = ReadSmallFile(memory_dir + "/memory.oom_control");
    if (oom_control.ok()) stats.oom_kills = FlatKeyedFile(*oom_control).Get("oom_kill");
  }

  stats.pids_current = ReadUint(JoinCgroupPath(root_, "pids", cgroup_path) + "/pids.current", &found);

  if (!found) {
    return absl::NotFoundError(absl::StrCat("cgroup v1 ", cgroup_path, ": not found under ", root_));
  }
  return stats;
}

}  // namespace flint::stats
