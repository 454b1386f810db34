#include "cri/stats/stats_collector.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/stats/cgroup_files.h"

namespace flint::stats {
namespace {

absl::StatusOr<CgroupStats> ReadCgroup(const CgroupStatsReader& reader, const std::string& cgroup_path) {
  absl::StatusOr<std::string> path = SystemdCgroupPath(cgroup_path);
  if (!path.ok()) return path.status();
  return reader.Read(*path);
}

}  // namespace

StatsCollector::StatsCollector(std::unique_ptr<CgroupStatsReader> reader, std::chrono::milliseconds disk_usage_ttl)
    : reader_(std::move(reader)), disk_(disk_usage_ttl) {}

absl::StatusOr<ContainerStatsSample> StatsCollector::Container(const std::string& container_id,
                                                               const std::string& cgroup_path,
                                                               const std::string& writable_dir) {
  absl::StatusOr<CgroupStats> cgroup = ReadCgroup(*reader_, cgroup_path);
  if (!cgroup.ok()) {
    return absl::Status(cgroup.status().code(),
                        absl::StrCat("stats of container ", container_id, ": ", cgroup.status().message()));
  }
  ContainerStatsSample sample;
  sample.cgroup = *cgroup;
  if (cgroup->cpu_usage_ns) sample.usage_nano_cores = rates_.Update(container_id, *cgroup->cpu_usage_ns, cgroup->timestamp_ns);
  if (!writable_dir.empty()) {
    absl::StatusOr<DiskUsageSample> usage = disk_.Get(writable_dir);
    if (usage.ok()) {
      sample.writable_layer = *usage;
    } else {
      FLINT_LOG(DEBUG) << "container " << container_id << ": " << usage.status().message();
    }
  }
  return sample;
}

absl::StatusOr<PodStatsSample> StatsCollector::Pod(const std::string& sandbox_id, const std::string& pod_cgroup_path,
                                                   const std::string& netns_path) {
  absl::StatusOr<CgroupStats> cgroup = ReadCgroup(*reader_, pod_cgroup_path);
  if (!cgroup.ok()) {
    return absl::Status(cgroup.status().code(),
                        absl::StrCat("stats of pod ", sandbox_id, ": ", cgroup.status().message()));
  }
  PodStatsSample sample;
  sample.cgroup = *cgroup;
  if (cgroup->cpu_usage_ns) sample.usage_nano_cores = rates_.Update(sandbox_id, *cgroup->cpu_usage_ns, cgroup->timestamp_ns);
  sample.process_count = cgroup->pids_current;
  if (!netns_path.empty()) {
    absl::StatusOr<std::vector<InterfaceStats>> ifaces = ReadNetnsInterfaceStats(netns_path);
    sample.network_timestamp_ns = internal::RealtimeNanos();
    if (ifaces.ok()) {
      for (InterfaceStats& iface : *ifaces) {
        if (iface.name == "lo") continue;
        if (iface.name == "eth0") sample.default_interface = "eth0";
        sample.interfaces.push_back(std::move(iface));
      }
    } else {
      FLINT_LOG(DEBUG) << "pod " << sandbox_id << ": " << ifaces.status().message();
    }
  }
  return sample;
}

void StatsCollector::Retain(const std::unordered_set<std::string>& live_ids) { rates_.Retain(live_ids); }

}  // namespace flint::stats
