// Flist mounts no container uses stay mounted for a while (flist.mount_idle_seconds), so the
// next pod of the same image (a rollout, a Job's next run, a pod rescheduled onto the node) finds
// the mount serving instead of paying for a new flist-mount and a cold page cache. This keeps
// each idle mount's deadline and, on a thread, hands the expired ones to a callback that
// unmounts them; the callback decides again, under its own lock, whether the mount is still idle.
// At most `max_idle` mounts idle at once (each holds a flist-mount and its keeper): past that,
// the one idle longest expires at once, so a node that drains many flist pods gets its memory
// back without waiting out the linger.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace flint::runtime {

class IdleFlistMounts {
 public:
  enum class End { kTimeUp, kOverLimit };
  struct Expired {
    std::string mountpoint;
    End why;
  };

  // `expire` runs on this class's thread, without this class's lock held.
  IdleFlistMounts(absl::Duration linger, size_t max_idle, std::function<void(const Expired&)> expire,
                  std::function<absl::Time()> now = absl::Now);
  ~IdleFlistMounts();
  IdleFlistMounts(const IdleFlistMounts&) = delete;
  IdleFlistMounts& operator=(const IdleFlistMounts&) = delete;

  // The mount lost its last user: it expires `linger` from now (an idle mount keeps its deadline),
  // or, when that makes more than `max_idle`, the mount idle longest expires now. True if it was
  // not idle before.
  bool Idle(const std::string& mountpoint);
  // A container uses it again, or it is gone: it no longer expires. True if it was idle.
  bool Forget(const std::string& mountpoint);
  bool IsIdle(const std::string& mountpoint) const;
  size_t Count() const;
  // The mounts whose time ran out by `now` or that were over the limit, forgotten.
  std::vector<Expired> TakeExpired(absl::Time now);

  // Calls `expire` for each expired mount on a thread until destroyed.
  void Start();

 private:
  struct Deadline {
    absl::Time when;
    bool over_limit = false;  // then `when` is InfinitePast
  };
  void ExpireOverLimitLocked();
  void Run();

  const absl::Duration linger_;
  const size_t max_idle_;
  const std::function<void(const Expired&)> expire_;
  const std::function<absl::Time()> now_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Deadline> deadlines_;  // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  std::thread thread_;
};

}  // namespace flint::runtime
