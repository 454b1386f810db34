// usage_nano_cores for CRI: the CPU rate over the interval since the previous sample of the same
// container, computed from cumulative usage_core_nano_seconds samples (as containerd does; kubelet
// only computes it itself when the runtime leaves it unset).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace flint::stats {

class CpuRateTracker {
 public:
  // Records a sample and returns the rate in nanocores (1e9 = one full core) since the previous
  // sample for `id`. Returns nullopt for the first sample and after a counter reset (usage went
  // down: the cgroup was recreated). A sample with the same or an older timestamp than the stored
  // one returns the last computed rate and does not replace the stored sample, so concurrent
  // callers reading the same instant do not see a zero rate.
  std::optional<uint64_t> Update(const std::string& id, uint64_t usage_core_ns, int64_t timestamp_ns);

  void Forget(const std::string& id);
  // Drops every id not in `live` (call after listing containers, so removed ones don't pile up).
  void Retain(const std::unordered_set<std::string>& live);
  size_t size() const;

 private:
  struct Sample {
    uint64_t usage_ns = 0;
    int64_t timestamp_ns = 0;
    std::optional<uint64_t> last_rate;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Sample> samples_;
};

}  // namespace flint::stats
