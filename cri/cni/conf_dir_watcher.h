// Watches the CNI conf dir with inotify and calls back (from its own thread) after files in it
// are created, written, renamed or removed, coalescing bursts into one call. A conf dir that does
// not exist yet is looked for once a second, and its appearance counts as a change.
//
// flintd uses it to reload and log the network config the moment an operator (or a CNI
// DaemonSet like Calico or Flannel) installs one, so NetworkReady flips without a pod being run.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace flint::cni {

class ConfDirWatcher {
 public:
  using Callback = std::function<void()>;

  static absl::StatusOr<std::unique_ptr<ConfDirWatcher>> Start(
      std::string dir, Callback on_change, std::chrono::milliseconds settle = std::chrono::milliseconds(100));
  ~ConfDirWatcher();

  ConfDirWatcher(const ConfDirWatcher&) = delete;
  ConfDirWatcher& operator=(const ConfDirWatcher&) = delete;

  // Number of callbacks made so far (for tests and logs).
  int changes() const { return changes_.load(); }

 private:
  ConfDirWatcher(std::string dir, Callback on_change, std::chrono::milliseconds settle, int inotify_fd, int stop_fd);
  void Run();
  bool TryWatch();  // adds the watch if the dir exists now
  void Drain();

  const std::string dir_;
  const Callback on_change_;
  const std::chrono::milliseconds settle_;
  int inotify_fd_;
  int stop_fd_;
  int watch_ = -1;
  std::atomic<int> changes_{0};
  std::thread thread_;
};

}  // namespace flint::cni
