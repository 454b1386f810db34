#include "flist-snapshotter/fuse/mount_keeper.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace flint::flist {
namespace {

// Blocks until the process behind `pidfd` has exited.
void WaitForExit(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

bool RestartBudget::Spend(Clock::time_point now) {
  while (!recent_.empty() && now - recent_.front() >= window_) recent_.pop_front();
  if (static_cast<int>(recent_.size()) >= max_restarts_) return false;
  recent_.push_back(now);
  return true;
}

bool FuseConnectionAlive(int fuse_fd) {
  // /dev/fuse polls as an error once the connection is gone (unmounted or aborted).
  pollfd p{fuse_fd, 0, 0};
  int n = 0;
  do {
    n = poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n == 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
}

int RunMountKeeper(int fuse_fd, int server_pidfd, const MountKeeperHooks& hooks, RestartBudget budget) {
  pid_t child = -1;  // the first server started us; the later ones are ours to reap
  for (;;) {
    WaitForExit(server_pidfd);
    close(server_pidfd);
    if (child > 0) waitpid(child, nullptr, 0);
    if (!FuseConnectionAlive(fuse_fd)) return 0;
    if (!budget.Spend(RestartBudget::Clock::now())) {
      hooks.give_up("the server died too often");
      return 1;
    }
    child = hooks.start_server();
    server_pidfd = child > 0 ? PidfdOpen(child) : -1;
    if (server_pidfd < 0) {
      if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
      }
      hooks.give_up("could not start a server");
      return 1;
    }
  }
}

}  // namespace flint::flist
