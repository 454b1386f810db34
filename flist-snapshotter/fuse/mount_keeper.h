// Keeps a flist mount alive when its server dies.
//
// A FUSE mount lives as long as some process holds its /dev/fuse connection
// open. flist-mount starts a small keeper beside itself that holds a copy of
// that descriptor and waits for the server to exit. When the server dies
// while the mount is still there (OOM-killed, crashed, killed by hand), the
// keeper starts a new server on the same connection ("takeover"): the kernel
// queues what containers ask meanwhile, the new server asks it to resend the
// requests the dead one had taken (before Linux 6.9 the kernel fails those
// instead: FlistMountOptions::resend_on_takeover), and readers see a pause
// instead of ENOTCONN for every container of the image. When the mount goes away the
// keeper exits; after too many deaths in a row it gives up and closes the
// connection, which ends the mount as before.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>

namespace flint::flist {

// At most `max_restarts` restarts within any `window`.
class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;
  RestartBudget(int max_restarts, Clock::duration window) : max_restarts_(max_restarts), window_(window) {}
  // Spends one restart at `now`; false once the budget is used up.
  bool Spend(Clock::time_point now);

 private:
  int max_restarts_;
  Clock::duration window_;
  std::deque<Clock::time_point> recent_;
};

struct MountKeeperHooks {
  // Starts a server on the connection; its pid, or -1.
  std::function<pid_t()> start_server;
  // Called with why the keeper stops restarting (not on a plain unmount).
  std::function<void(const char* why)> give_up;
};

// Waits for the server behind `server_pidfd` (not necessarily a child) to
// exit, then returns if the connection `fuse_fd` has ended (the mount is
// gone), or starts another server and waits for that one. Returns 0 after an
// unmount, 1 after giving up. Takes ownership of `server_pidfd`.
int RunMountKeeper(int fuse_fd, int server_pidfd, const MountKeeperHooks& hooks, RestartBudget budget);

// True while the FUSE connection behind `fuse_fd` is up.
bool FuseConnectionAlive(int fuse_fd);

}  // namespace flint::flist
