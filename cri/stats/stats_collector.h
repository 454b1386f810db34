// What the CRI stats handlers call: one place that combines the cgroup reader, the CPU rate
// tracker, the writable-layer usage cache and the pod network reader into plain samples that
// the handlers map onto ContainerStats / PodSandboxStats (leaving unset fields unset).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/stats/cgroup_stats.h"
#include "cri/stats/cpu_rate_tracker.h"
#include "cri/stats/disk_usage_cache.h"
#include "cri/stats/network_stats.h"

namespace flint::stats {

struct ContainerStatsSample {
  CgroupStats cgroup;
  std::optional<uint64_t> usage_nano_cores;        // unset on the first sample
  std::optional<DiskUsageSample> writable_layer;   // unset without a writable dir or on error
};

struct PodStatsSample {
  CgroupStats cgroup;  // the pod cgroup (includes all its containers)
  std::optional<uint64_t> usage_nano_cores;
  int64_t network_timestamp_ns = 0;
  std::string default_interface;             // "eth0" when present
  std::vector<InterfaceStats> interfaces;    // without "lo"; empty for host-network pods
  std::optional<uint64_t> process_count;     // pids.current of the pod cgroup
};

class StatsCollector {
 public:
  explicit StatsCollector(std::unique_ptr<CgroupStatsReader> reader,
                          std::chrono::milliseconds disk_usage_ttl = std::chrono::seconds(10));

  // `cgroup_path` as given to the OCI runtime (cgroupfs path or systemd "slice:prefix:name");
  // `writable_dir` is the container's upper dir ("" = none).
  absl::StatusOr<ContainerStatsSample> Container(const std::string& container_id, const std::string& cgroup_path,
                                                 const std::string& writable_dir);
  // `netns_path` "" = host network (no interface stats). Network read errors leave interfaces empty.
  absl::StatusOr<PodStatsSample> Pod(const std::string& sandbox_id, const std::string& pod_cgroup_path,
                                     const std::string& netns_path);

  // Forget rate/disk state of containers and pods that no longer exist.
  void Retain(const std::unordered_set<std::string>& live_ids);
  void ForgetWritableDir(const std::string& writable_dir) { disk_.Forget(writable_dir); }

 private:
  std::unique_ptr<CgroupStatsReader> reader_;
  CpuRateTracker rates_;
  DiskUsageCache disk_;
};

}  // namespace flint::stats
