#include "cri/runtime/idle_flist_mounts.h"

#include <algorithm>

namespace flint::runtime {

IdleFlistMounts::IdleFlistMounts(absl::Duration linger, std::function<void(const std::string&)> expire,
                                 std::function<absl::Time()> now)
    : linger_(linger), expire_(std::move(expire)), now_(std::move(now)) {}

IdleFlistMounts::~IdleFlistMounts() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool IdleFlistMounts::Idle(const std::string& mountpoint) {
  {
    std::lock_guard lock(mu_);
    if (!deadlines_.try_emplace(mountpoint, now_() + linger_).second) return false;
  }
  changed_.notify_all();
  return true;
}

bool IdleFlistMounts::Forget(const std::string& mountpoint) {
  std::lock_guard lock(mu_);
  return deadlines_.erase(mountpoint) > 0;
}

bool IdleFlistMounts::IsIdle(const std::string& mountpoint) const {
  std::lock_guard lock(mu_);
  return deadlines_.contains(mountpoint);
}

size_t IdleFlistMounts::Count() const {
  std::lock_guard lock(mu_);
  return deadlines_.size();
}

std::vector<std::string> IdleFlistMounts::TakeExpired(absl::Time now) {
  std::lock_guard lock(mu_);
  std::vector<std::string> expired;
  for (auto it = deadlines_.begin(); it != deadlines_.end();) {
    if (it->second <= now) {
      expired.push_back(it->first);
      it = deadlines_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

void IdleFlistMounts::Start() {
  thread_ = std::thread([this] { Run(); });
}

void IdleFlistMounts::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [mountpoint, deadline] : deadlines_) next = std::min(next, deadline);
    if (next == absl::InfiniteFuture()) {
      changed_.wait(lock);
      continue;
    }
    const absl::Duration wait = next - now_();
    if (wait > absl::ZeroDuration()) {
      // Woken early by a new idle mount (its deadline may come first) or by the destructor.
      changed_.wait_for(lock, absl::ToChronoMilliseconds(wait) + std::chrono::milliseconds(1));
      continue;
    }
    lock.unlock();
    for (const std::string& mountpoint : TakeExpired(now_())) expire_(mountpoint);
    lock.lock();
  }
}

}  // namespace flint::runtime
