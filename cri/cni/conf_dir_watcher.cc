#include "cri/cni/conf_dir_watcher.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace flint::cni {
namespace {

constexpr uint32_t kEvents = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB |
                             IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

absl::StatusOr<std::unique_ptr<ConfDirWatcher>> ConfDirWatcher::Start(std::string dir, Callback on_change,
                                                                      std::chrono::milliseconds settle) {
  int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return absl::InternalError(absl::StrCat("inotify_init1: ", strerror(errno)));
  int stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) {
    int err = errno;
    close(inotify_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(err)));
  }
  std::unique_ptr<ConfDirWatcher> watcher(
      new ConfDirWatcher(std::move(dir), std::move(on_change), settle, inotify_fd, stop_fd));
  watcher->TryWatch();
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

ConfDirWatcher::ConfDirWatcher(std::string dir, Callback on_change, std::chrono::milliseconds settle, int inotify_fd,
                               int stop_fd)
    : dir_(std::move(dir)), on_change_(std::move(on_change)), settle_(settle), inotify_fd_(inotify_fd),
      stop_fd_(stop_fd) {}

ConfDirWatcher::~ConfDirWatcher() {
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

bool ConfDirWatcher::TryWatch() {
  if (watch_ >= 0) return true;
  watch_ = inotify_add_watch(inotify_fd_, dir_.c_str(), kEvents);
  return watch_ >= 0;
}

// Reads every queued event; forgets the watch when the dir itself went away.
void ConfDirWatcher::Drain() {
  alignas(inotify_event) char buffer[4096];
  while (true) {
    ssize_t n = read(inotify_fd_, buffer, sizeof buffer);
    if (n <= 0) return;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
      if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (watch_ >= 0) inotify_rm_watch(inotify_fd_, watch_);
        watch_ = -1;
      }
      offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
}

void ConfDirWatcher::Run() {
  while (true) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, watch_ >= 0 ? -1 : 1000);
    if (rc < 0 && errno != EINTR) {
      FLINT_LOG(WARN) << "watch CNI conf dir " << dir_ << ": poll: " << strerror(errno);
      return;
    }
    if (fds[0].revents & POLLIN) return;
    bool changed = false;
    if (fds[1].revents & POLLIN) {
      // Writers often create, write and rename in quick steps: wait for the burst to end.
      do {
        Drain();
      } while (poll(&fds[1], 1, static_cast<int>(settle_.count())) > 0 && !(fds[1].revents & POLLERR));
      changed = true;
    }
    if (watch_ < 0 && TryWatch()) changed = true;  // the dir (re)appeared
    if (changed) {
      changes_.fetch_add(1);
      on_change_();
    }
  }
}

}  // namespace flint::cni
