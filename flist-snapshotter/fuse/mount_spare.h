// flintd's side of `flist-mount --spare` (see flist_mount_main.cc): one flist-mount started
// ahead of need, which has already paid for what every mount repeats (program start, OpenSSL
// set-up, faulting in block buffers), receives the next mount's arguments over a socket.
// A mount through it serves in about half the time of starting flist-mount then.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace flint::flist {

struct FlistMountSpareOptions {
  std::string binary;  // flist-mount
  // After a spare is used, the next one starts this much later, under SCHED_IDLE (it switches
  // to normal scheduling when it gets a mount). SCHED_IDLE alone is not enough: starting one
  // (exec, page faults, its 8 MiB of buffers) slowed the container start that had just taken
  // the last spare by ~10 ms on a 2-core VM, so it waits until that start is over. A second
  // mount within the delay runs flist-mount itself, as it would without a spare.
  absl::Duration refill_delay = absl::Seconds(1);
  absl::Duration ready_timeout = absl::Seconds(60);  // SCHED_IDLE: a busy node starts it slowly
  absl::Duration retry_delay = absl::Seconds(30);  // after a spare failed to start
};

class FlistMountSpare {
 public:
  // Starts the first spare in the background.
  explicit FlistMountSpare(FlistMountSpareOptions options);
  // An idle spare exits when its socket closes.
  ~FlistMountSpare();
  FlistMountSpare(const FlistMountSpare&) = delete;
  FlistMountSpare& operator=(const FlistMountSpare&) = delete;

  // `flist-mount args...` through the idle spare: its answer (OK once the mount serves, or
  // the mount's error), or nullopt when no spare is ready, it died before answering, or an
  // argument is empty or holds a NUL (the request cannot carry it); the caller then runs the
  // binary itself. A spare that does not answer within `timeout` is
  // killed (DeadlineExceeded).
  std::optional<absl::Status> Mount(const std::vector<std::string>& args, absl::Duration timeout);

  // Tests: the pid of the idle spare once there is one; empty if none is within `timeout`.
  std::optional<pid_t> WaitReady(absl::Duration timeout);

 private:
  struct Idle {
    int fd = -1;
    pid_t pid = -1;
  };
  // Spawns one spare and waits for its "ready" line.
  absl::Status Start(Idle* out) const;
  void RefillLoop();

  const FlistMountSpareOptions options_;
  const int stop_fd_;  // eventfd: readable once the destructor runs (ends a wait for "ready")
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Idle> idle_;
  std::chrono::steady_clock::time_point refill_at_{};  // no spare is started before this
  bool stopping_ = false;
  std::thread refill_;
};

}  // namespace flint::flist
