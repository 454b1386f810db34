// Keeps a failure that repeats (every read of a block a store lost, say) from flooding a log:
// one message per key per interval, with a count of the ones held back in between.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace flint::flist {

class RepeatLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RepeatLimiter(Clock::duration interval, size_t max_keys = 4096)
      : interval_(interval), max_keys_(max_keys) {}

  // True when a message about `key` may be logged at `now`; then *held_back is the number of
  // messages about it refused since the last one allowed.
  bool Allow(const std::string& key, Clock::time_point now, uint64_t* held_back) {
    std::lock_guard lock(mu_);
    auto it = keys_.find(key);
    if (it != keys_.end() && now - it->second.last_allowed < interval_) {
      ++it->second.held_back;
      return false;
    }
    if (it == keys_.end()) {
      if (keys_.size() >= max_keys_) keys_.clear();  // forgetting only lets more through
      it = keys_.emplace(key, State{}).first;
    }
    *held_back = it->second.held_back;
    it->second = State{now, 0};
    return true;
  }

 private:
  struct State {
    Clock::time_point last_allowed;
    uint64_t held_back = 0;
  };
  const Clock::duration interval_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, State> keys_;
};

}  // namespace flint::flist
