#include "cri/stats/disk_usage_cache.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/stats/cgroup_files.h"

namespace flint::stats {

DiskUsageCache::DiskUsageCache(std::chrono::milliseconds ttl, MeasureFn measure)
    : ttl_(ttl), measure_(std::move(measure)), worker_([this] { RefreshLoop(); }) {}

DiskUsageCache::~DiskUsageCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

absl::StatusOr<DiskUsageSample> DiskUsageCache::Measure(const std::string& path) {
  absl::StatusOr<fs::DiskUsage> usage = measure_(path);
  if (!usage.ok()) {
    return absl::Status(usage.status().code(), absl::StrCat("disk usage of ", path, ": ", usage.status().message()));
  }
  return DiskUsageSample{usage->bytes, usage->inodes, internal::RealtimeNanos()};
}

absl::StatusOr<DiskUsageSample> DiskUsageCache::Get(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(path);
    if (it != entries_.end()) {
      Entry& entry = it->second;
      if (!entry.refreshing && std::chrono::steady_clock::now() - entry.measured_at >= ttl_) {
        entry.refreshing = true;
        refresh_queue_.push_back(path);
        cv_.notify_one();
      }
      return entry.sample;
    }
  }
  absl::StatusOr<DiskUsageSample> sample = Measure(path);
  if (!sample.ok()) return sample.status();
  std::lock_guard<std::mutex> lock(mu_);
  Entry& entry = entries_[path];
  entry.sample = *sample;
  entry.measured_at = std::chrono::steady_clock::now();
  return *sample;
}

void DiskUsageCache::Forget(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(path);
}

void DiskUsageCache::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !refresh_queue_.empty(); });
    if (stopping_) return;
    std::string path = std::move(refresh_queue_.front());
    refresh_queue_.pop_front();
    lock.unlock();
    absl::StatusOr<DiskUsageSample> sample = Measure(path);
    lock.lock();
    auto it = entries_.find(path);
    if (it == entries_.end()) continue;  // forgotten meanwhile
    it->second.refreshing = false;
    if (sample.ok()) {
      it->second.sample = *sample;
      it->second.measured_at = std::chrono::steady_clock::now();
    } else {
      // Keep serving the old value; retry after another TTL rather than in a tight loop.
      it->second.measured_at = std::chrono::steady_clock::now();
      FLINT_LOG(WARN) << sample.status().message();
    }
  }
}

}  // namespace flint::stats
