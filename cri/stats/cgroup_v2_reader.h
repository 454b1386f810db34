// Stats from the unified (v2) hierarchy: <root>/<cgroup_path>/{cpu.stat,memory.*,pids.current}.
#pragma once

#include <string>

#include "cri/stats/cgroup_stats.h"

namespace flint::stats {

class CgroupV2Reader : public CgroupStatsReader {
 public:
  explicit CgroupV2Reader(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}
  absl::StatusOr<CgroupStats> Read(const std::string& cgroup_path) const override;

 private:
  std::string root_;
};

}  // namespace flint::stats
