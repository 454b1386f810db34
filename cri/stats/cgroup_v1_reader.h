// Stats from the legacy (v1) hierarchies: <root>/{cpuacct,memory,pids}/<cgroup_path>.
#pragma once

#include <string>

#include "cri/stats/cgroup_stats.h"

namespace flint::stats {

class CgroupV1Reader : public CgroupStatsReader {
 public:
  explicit CgroupV1Reader(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}
  absl::StatusOr<CgroupStats> Read(const std::string& cgroup_path) const override;

 private:
  std::string root_;
};

}  // namespace flint::stats
