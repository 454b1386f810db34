#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "cri/streaming/runtime.h"

namespace flint::streaming {

// The server side of CancelSignal.
class CancelSource : public CancelSignal {
 public:
  bool Cancelled() const override {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  void OnCancel(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!cancelled_) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  void Cancel() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return;
      cancelled_ = true;
      callbacks.swap(callbacks_);
    }
    for (auto& fn : callbacks) fn();
  }

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace flint::streaming
