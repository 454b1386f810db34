// flintd's loop behind the flint.io/stats-redis pod annotation (format in redis_sink.h).
//
// Every interval (2 s) it asks for the running pods, keeps one RedisPublisher per pod that
// carries the annotation (created when the pod shows up, dropped when it is stopped or gone, so
// pods that survived a flintd restart resume on the first tick), and PUBLISHes one Zero-OS JSON
// object per container whose cgroup can be read:
//   {"timestamp","memory_usage","memory_limit","memory_cache","cpu_usage","pids_current",
//    "container_id","container_name","pod_id","pod_name","pod_namespace"}
// Publishing only queues (RedisPublisher): a down or slow Redis never delays the loop beyond
// reading cgroup files; what cannot be queued is dropped and counted.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/stats/cgroup_stats.h"
#include "cri/stats/redis_sink.h"

namespace flint::stats {

struct StatsSinkContainer {
  std::string id;
  std::string name;
  std::string cgroup_path;  // as given to the OCI runtime (cgroupfs or systemd form)
};

struct StatsSinkPod {
  std::string id;
  std::string name;
  std::string namespace_;
  std::string target;  // the flint.io/stats-redis annotation value
  std::vector<StatsSinkContainer> containers;
};

// {Zero-OS fields} plus the container's and pod's identity (see the header comment).
std::string FormatContainerStatsMessage(const CgroupStats& stats, const StatsSinkPod& pod,
                                        const StatsSinkContainer& container);

class RedisStatsSinks {
 public:
  // Ready pods with the annotation set (others are ignored); called on the loop's thread.
  using PodLister = std::function<std::vector<StatsSinkPod>()>;
  // Reads a container cgroup by its OCI cgroupsPath.
  using CgroupReader = std::function<absl::StatusOr<CgroupStats>(const std::string& cgroup_path)>;

  RedisStatsSinks(PodLister pods, CgroupReader read, std::chrono::milliseconds interval = std::chrono::seconds(2),
                  RedisPublisher::Options options = {});
  ~RedisStatsSinks();
  RedisStatsSinks(const RedisStatsSinks&) = delete;
  RedisStatsSinks& operator=(const RedisStatsSinks&) = delete;

  // Totals over every publisher this object ever had.
  uint64_t published() const;
  uint64_t dropped() const;
  size_t active_pods() const;


 private:
  // One pass: reconcile the publishers with the pods, publish one message per container.
  void Tick();
  struct PodSink {
    std::string target;
    std::string channel;
    std::unique_ptr<RedisPublisher> publisher;
  };
  void Loop();
  void Retire(std::unique_ptr<RedisPublisher> publisher);

  const PodLister pods_;
  const CgroupReader read_;
  const std::chrono::milliseconds interval_;
  const RedisPublisher::Options options_;

  mutable std::mutex sinks_mu_;  // guards sinks_, closing_ and the retired totals
  std::map<std::string, PodSink> sinks_;  // by pod id
  // Publishers taken out of sinks_ and not yet retired: their counts stay in the totals while they
  // flush, so published() never dips between a pod leaving and its publisher closing.
  std::vector<const RedisPublisher*> closing_;
  uint64_t retired_published_ = 0;
  uint64_t retired_dropped_ = 0;
  std::map<std::string, std::string> rejected_;  // pod id -> bad annotation already logged

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  std::thread loop_;
};

}  // namespace flint::stats
