// Writable-layer FilesystemUsage (bytes and inodes of a container's upper dir) with a TTL cache,
// so ListContainerStats never walks 100 trees on the kubelet's hot path.
//
// Get() on a path never seen measures synchronously (a fresh upper dir is tiny). Later calls
// return the cached value at once; when it is older than the TTL a single background refresh is
// queued and the stale value is returned meanwhile (the CRI timestamp says how old it is).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/fs.h"

namespace flint::stats {

struct DiskUsageSample {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
  int64_t timestamp_ns = 0;  // CLOCK_REALTIME of the measurement
};

class DiskUsageCache {
 public:
  using MeasureFn = std::function<absl::StatusOr<fs::DiskUsage>(const std::string&)>;

  explicit DiskUsageCache(std::chrono::milliseconds ttl = std::chrono::seconds(10),
                          MeasureFn measure = &fs::MeasureDiskUsage);
  ~DiskUsageCache();
  DiskUsageCache(const DiskUsageCache&) = delete;
  DiskUsageCache& operator=(const DiskUsageCache&) = delete;

  absl::StatusOr<DiskUsageSample> Get(const std::string& path);
  void Forget(const std::string& path);

 private:
  struct Entry {
    DiskUsageSample sample;
    std::chrono::steady_clock::time_point measured_at;
    bool refreshing = false;
  };
  void RefreshLoop();
  absl::StatusOr<DiskUsageSample> Measure(const std::string& path);

  const std::chrono::milliseconds ttl_;
  const MeasureFn measure_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> refresh_queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace flint::stats
