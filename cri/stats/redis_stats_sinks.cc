#include "cri/stats/redis_stats_sinks.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "nlohmann/json.hpp"

namespace flint::stats {

std::string FormatContainerStatsMessage(const CgroupStats& stats, const StatsSinkPod& pod,
                                        const StatsSinkContainer& container) {
  nlohmann::json j = nlohmann::json::parse(FormatZeroOsStats(stats));
  j["container_id"] = container.id;
  j["container_name"] = container.name;
  j["pod_id"] = pod.id;
  j["pod_name"] = pod.name;
  j["pod_namespace"] = pod.namespace_;
  return j.dump();
}

RedisStatsSinks::RedisStatsSinks(PodLister pods, CgroupReader read, std::chrono::milliseconds interval,
                                 RedisPublisher::Options options)
    : pods_(std::move(pods)),
      read_(std::move(read)),
      interval_(interval),
      options_(options),
      loop_([this] { Loop(); }) {}

RedisStatsSinks::~RedisStatsSinks() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  loop_.join();
  std::map<std::string, PodSink> sinks;
  {
    std::lock_guard<std::mutex> lock(sinks_mu_);
    sinks.swap(sinks_);
  }
  for (auto& [id, sink] : sinks) Retire(std::move(sink.publisher));
}

void RedisStatsSinks::Retire(std::unique_ptr<RedisPublisher> publisher) {
  // Outside sinks_mu_: Close() may flush for up to io_timeout.
  publisher->Close();
  std::lock_guard<std::mutex> lock(sinks_mu_);
  retired_published_ += publisher->published();
  retired_dropped_ += publisher->dropped();
  std::erase(closing_, publisher.get());
}

uint64_t RedisStatsSinks::published() const {
  std::lock_guard<std::mutex> lock(sinks_mu_);
  uint64_t total = retired_published_;
  for (const auto& [id, sink] : sinks_) total += sink.publisher->published();
  for (const RedisPublisher* publisher : closing_) total += publisher->published();
  return total;
}

uint64_t RedisStatsSinks::dropped() const {
  std::lock_guard<std::mutex> lock(sinks_mu_);
  uint64_t total = retired_dropped_;
  for (const auto& [id, sink] : sinks_) total += sink.publisher->dropped();
  for (const RedisPublisher* publisher : closing_) total += publisher->dropped();
  return total;
}

size_t RedisStatsSinks::active_pods() const {
  std::lock_guard<std::mutex> lock(sinks_mu_);
  return sinks_.size();
}

void RedisStatsSinks::Tick() {
  std::vector<StatsSinkPod> pods = pods_();
  std::set<std::string> live;
  std::vector<std::unique_ptr<RedisPublisher>> to_close;
  struct Pending {
    RedisPublisher* publisher;
    std::string channel;
    const StatsSinkPod* pod;
  };
  std::vector<Pending> to_publish;
  {
    std::lock_guard<std::mutex> lock(sinks_mu_);
    for (const StatsSinkPod& pod : pods) {
      auto it = sinks_.find(pod.id);
      if (it != sinks_.end() && it->second.target != pod.target) {
        closing_.push_back(it->second.publisher.get());
        to_close.push_back(std::move(it->second.publisher));
        sinks_.erase(it);
        it = sinks_.end();
      }
      if (it == sinks_.end()) {
        absl::StatusOr<RedisTarget> target = ParseRedisTarget(pod.target);
        if (target.ok() && target->channels.size() != 1) {
          target = absl::InvalidArgumentError("want exactly one channel");
        }
        if (!target.ok()) {
          auto [seen, inserted] = rejected_.emplace(pod.id, pod.target);
          if (inserted || seen->second != pod.target) {
            seen->second = pod.target;
            FLINT_LOG(WARN) << "pod " << pod.id << ": " << kStatsRedisAnnotation << ": " << target.status().message()
                            << "; not publishing its stats";
          }
          continue;
        }
        PodSink sink;
        sink.target = pod.target;
        sink.channel = target->channels[0];
        sink.publisher = std::make_unique<RedisPublisher>(target->host, target->port, options_);
        FLINT_LOG(INFO) << "pod " << pod.id << ": publishing stats to " << pod.target;
        it = sinks_.emplace(pod.id, std::move(sink)).first;
      }
      live.insert(pod.id);
      to_publish.push_back(Pending{it->second.publisher.get(), it->second.channel, &pod});
    }
    for (auto it = sinks_.begin(); it != sinks_.end();) {
      if (live.contains(it->first)) {
        ++it;
        continue;
      }
      FLINT_LOG(INFO) << "pod " << it->first << ": stopped publishing stats";
      closing_.push_back(it->second.publisher.get());
      to_close.push_back(std::move(it->second.publisher));
      it = sinks_.erase(it);
    }
    for (auto it = rejected_.begin(); it != rejected_.end();) {
      it = std::any_of(pods.begin(), pods.end(), [&](const StatsSinkPod& p) { return p.id == it->first; })
               ? std::next(it)
               : rejected_.erase(it);
    }
  }
  // Publishers in to_publish stay alive: only this thread erases sinks.
  for (const Pending& pending : to_publish) {
    for (const StatsSinkContainer& container : pending.pod->containers) {
      absl::StatusOr<CgroupStats> stats = read_(container.cgroup_path);
      if (!stats.ok()) continue;  // not started yet, or exited and its cgroup is gone
      pending.publisher->Publish(pending.channel, FormatContainerStatsMessage(*stats, *pending.pod, container));
    }
  }
  for (std::unique_ptr<RedisPublisher>& publisher : to_close) Retire(std::move(publisher));
}

void RedisStatsSinks::Loop() {
  auto next = std::chrono::steady_clock::now() + interval_;
  std::unique_lock<std::mutex> lock(loop_mu_);
  while (!loop_cv_.wait_until(lock, next, [this] { return stopping_; })) {
    next += interval_;
    lock.unlock();
    Tick();
    lock.lock();
    // After a long stall (suspended host, slow cgroup reads) do not burst to catch up.
    next = std::max(next, std::chrono::steady_clock::now());
  }
}

}  // namespace flint::stats
