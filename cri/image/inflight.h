// Deduplicates concurrent work by key: the first caller runs the job, callers arriving while it
// runs wait for and share its result.
#pragma once

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace flint::image {

class InFlight {
 public:
  // Runs `job` unless a job for `key` is already running; `*shared` (if given) tells whether the
  // result came from another caller's job.
  absl::Status Do(const std::string& key, const std::function<absl::Status()>& job, bool* shared = nullptr) {
    std::shared_future<absl::Status> future;
    std::promise<absl::Status> promise;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = running_.find(key);
      if (it != running_.end()) {
        future = it->second;
      } else {
        future = promise.get_future().share();
        running_.emplace(key, future);
        owner = true;
      }
    }
    if (shared != nullptr) *shared = !owner;
    if (!owner) return future.get();
    absl::Status status = job();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(key);
    }
    promise.set_value(status);
    return status;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_future<absl::Status>> running_;
};

}  // namespace flint::image
