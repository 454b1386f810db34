#include "cri/stats/cgroup_v2_reader.h"

#include <sys/stat.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cri/stats/cgroup_files.h"

namespace flint::stats {
namespace {

using internal::FlatKeyedFile;
using internal::ParseUint;
using internal::ReadSmallFile;

std::optional<uint64_t> ReadUint(const std::string& path) {
  absl::StatusOr<std::string> content = ReadSmallFile(path);
  if (!content.ok()) return std::nullopt;
  return ParseUint(*content);
}

std::optional<FlatKeyedFile> ReadFlatKeyed(const std::string& path) {
  absl::StatusOr<std::string> content = ReadSmallFile(path);
  if (!content.ok()) return std::nullopt;
  return FlatKeyedFile(*content);
}

}  // namespace

absl::StatusOr<CgroupStats> CgroupV2Reader::Read(const std::string& cgroup_path) const {
  const std::string dir = internal::JoinCgroupPath(root_, "", cgroup_path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("cgroup v2 ", cgroup_path, ": not found under ", root_));
  }
  CgroupStats stats;
  stats.timestamp_ns = internal::RealtimeNanos();

  if (std::optional<FlatKeyedFile> cpu = ReadFlatKeyed(dir + "/cpu.stat")) {
    if (std::optional<uint64_t> usec = cpu->Get("usage_usec")) stats.cpu_usage_ns = *usec * 1000;
  }

  // memory.current is absent in the root cgroup and when the memory controller is not enabled
  // for this subtree; then every memory field stays unset.
  std::optional<uint64_t> usage = ReadUint(dir + "/memory.current");
  if (usage) {
    stats.memory_usage_bytes = usage;
    std::optional<uint64_t> inactive_file;
    if (std::optional<FlatKeyedFile> stat = ReadFlatKeyed(dir + "/memory.stat")) {
      inactive_file = stat->Get("inactive_file");
      stats.memory_rss_bytes = stat->Get("anon");
      stats.memory_cache_bytes = stat->Get("file");
      stats.page_faults = stat->Get("pgfault");
      stats.major_page_faults = stat->Get("pgmajfault");
    }
    stats.memory_working_set_bytes = internal::WorkingSet(*usage, inactive_file);

    // "max" parses as nullopt = unlimited.
    if (std::optional<uint64_t> limit = ReadUint(dir + "/memory.max")) {
      stats.memory_limit_bytes = limit;
      uint64_t ws = *stats.memory_working_set_bytes;
      stats.memory_available_bytes = *limit > ws ? *limit - ws : 0;
    }
    stats.swap_usage_bytes = ReadUint(dir + "/memory.swap.current");
    if (std::optional<FlatKeyedFile> events = ReadFlatKeyed(dir + "/memory.events")) {
      stats.oom_kills = events->Get("oom_kill");
    }
  }

  stats.pids_current = ReadUint(dir + "/pids.current");
  return stats;
}

}  // namespace flint::stats
