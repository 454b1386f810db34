// Best-effort detection of cgroup OOM kills for one container.
// cgroup v1: an eventfd registered on memory.oom_control (survives the cgroup
// being removed) plus the oom_kill counter; cgroup v2: memory.events oom_kill.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace flint::shim {

class OomWatcher {
 public:
  OomWatcher() = default;
  ~OomWatcher();
  OomWatcher(const OomWatcher&) = delete;
  OomWatcher& operator=(const OomWatcher&) = delete;

  // Locates the memory cgroup of `pid` via /proc/<pid>/cgroup. Failures are
  // silent: OOM reporting is best-effort.
  void Attach(pid_t pid);
  // -1 when there is nothing to poll.
  int event_fd() const { return event_fd_; }
  void OnEvent();
  bool OomKilled();
  const std::string& cgroup_dir() const { return dir_; }

 private:
  uint64_t ReadOomKillCount() const;

  std::string dir_;
  bool v2_ = false;
  uint64_t baseline_ = 0;
  bool event_seen_ = false;
  int event_fd_ = -1;
  int control_fd_ = -1;
};

}  // namespace flint::shim
