#include "cri/stats/cpu_rate_tracker.h"

namespace flint::stats {

std::optional<uint64_t> CpuRateTracker::Update(const std::string& id, uint64_t usage_core_ns, int64_t timestamp_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = samples_.try_emplace(id);
  Sample& prev = it->second;
  if (inserted) {
    prev.usage_ns = usage_core_ns;
    prev.timestamp_ns = timestamp_ns;
    return std::nullopt;
  }
  if (timestamp_ns <= prev.timestamp_ns) return prev.last_rate;
  if (usage_core_ns < prev.usage_ns) {
    prev = Sample{usage_core_ns, timestamp_ns, std::nullopt};
    return std::nullopt;
  }
  // long double keeps the product exact enough for days of multi-core usage without overflow.
  long double rate = static_cast<long double>(usage_core_ns - prev.usage_ns) * 1e9L /
                     static_cast<long double>(timestamp_ns - prev.timestamp_ns);
  prev.usage_ns = usage_core_ns;
  prev.timestamp_ns = timestamp_ns;
  prev.last_rate = static_cast<uint64_t>(rate + 0.5L);
  return prev.last_rate;
}

void CpuRateTracker::Forget(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.erase(id);
}

void CpuRateTracker::Retain(const std::unordered_set<std::string>& live) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = samples_.begin(); it != samples_.end();) {
    if (live.count(it->first) == 0) {
      it = samples_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t CpuRateTracker::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_.size();
}

}  // namespace flint::stats
