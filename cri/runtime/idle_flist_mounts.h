// Flist mounts no container uses stay mounted for a while (flist.mount_idle_seconds), so the
// next pod of the same image (a rollout, a Job's next run, a pod rescheduled onto the node) finds
// the mount serving instead of paying for a new flist-mount and a cold page cache. This keeps
// each idle mount's deadline and, on a thread, hands the expired ones to a callback that
// unmounts them; the callback decides again, under its own lock, whether the mount is still idle.
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
  // `expire` runs on this class's thread, without this class's lock held.
  IdleFlistMounts(absl::Duration linger, std::function<void(const std::string& mountpoint)> expire,
                  std::function<absl::Time()> now = absl::Now);
  ~IdleFlistMounts();
  IdleFlistMounts(const IdleFlistMounts&) = delete;
  IdleFlistMounts& operator=(const IdleFlistMounts&) = delete;

  // The mount lost its last user: it expires `linger` from now (an idle mount keeps its deadline).
  // True if it was not idle before.
  bool Idle(const std::string& mountpoint);
  // A container uses it again, or it is gone: it no longer expires. True if it was idle.
  bool Forget(const std::string& mountpoint);
  bool IsIdle(const std::string& mountpoint) const;
  size_t Count() const;
  // The mounts whose time ran out by `now`, forgotten.
  std::vector<std::string> TakeExpired(absl::Time now);

  // Calls `expire` for each expired mount on a thread until destroyed.
  void Start();

 private:
  void Run();

  const absl::Duration linger_;
  const std::function<void(const std::string&)> expire_;
  const std::function<absl::Time()> now_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, absl::Time> deadlines_;  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  std::thread thread_;
};

}  // namespace flint::runtime
