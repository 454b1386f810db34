#include "flist-snapshotter/fuse/mount_spare.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/spawn_attr.h"

namespace flint::flist {
namespace {

constexpr int kSpareFd = 3;  // where the spare finds its end of the socket

// One '\n'-terminated line from `fd` before `deadline`; without the newline. Empty optional on
// EOF, error, timeout (`timed_out` tells which) or once `stop_fd` turns readable.
std::optional<std::string> ReadLine(int fd, absl::Time deadline, bool* timed_out, int stop_fd = -1) {
  *timed_out = false;
  std::string line;
  for (;;) {
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) {
      *timed_out = true;
      return std::nullopt;
    }
    pollfd pfds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int ready = poll(pfds, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(wait_ms, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    if (stop_fd >= 0 && pfds[1].revents != 0) return std::nullopt;
    char c;
    const ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    if (line.size() > 64 * 1024) return std::nullopt;
    line.push_back(c);
  }
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

FlistMountSpare::FlistMountSpare(FlistMountSpareOptions options)
    : options_(std::move(options)),
      stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      refill_([this] { RefillLoop(); }) {}

FlistMountSpare::~FlistMountSpare() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  const uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!write(stop_fd_, &one, sizeof one);  // a spare still starting is not waited for
  refill_.join();
  if (idle_.has_value()) close(idle_->fd);
  if (stop_fd_ >= 0) close(stop_fd_);
}

absl::Status FlistMountSpare::Start(Idle* out) const {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  // dup2 onto itself would keep O_CLOEXEC: move an end that already is the target first.
  if (pair[1] == kSpareFd) {
    const int moved = fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
    close(pair[1]);
    pair[1] = moved;
  }
  std::string binary = options_.binary;
  std::string flag = "--spare";
  std::string fd_arg = std::to_string(kSpareFd);
  char* argv[] = {binary.data(), flag.data(), fd_arg.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pair[1], kSpareFd);
  const UnblockedSpawnAttr attr;
  pid_t launcher = -1;
  const int spawn_error = posix_spawn(&launcher, argv[0], &actions, attr.get(), argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pair[1]);
  if (spawn_error != 0) {
    close(pair[0]);
    return absl::FailedPreconditionError(absl::StrCat("spawn ", binary, " --spare: ", strerror(spawn_error)));
  }
  bool timed_out = false;
  std::optional<std::string> line = ReadLine(pair[0], absl::Now() + options_.ready_timeout, &timed_out, stop_fd_);
  pid_t pid = -1;
  const bool ready =
      line.has_value() && line->starts_with("ready ") && absl::SimpleAtoi(line->substr(6), &pid) && pid > 0;
  // The launcher exits as soon as the spare has detached; one that did not is not a spare.
  if (!ready) kill(launcher, SIGKILL);
  int status = 0;
  while (waitpid(launcher, &status, 0) < 0 && errno == EINTR) {
  }
  if (!ready) {
    close(pair[0]);
    return absl::UnavailableError(absl::StrCat(binary, " --spare: ",
                                               timed_out ? "not ready in time" : "exited before it was ready"));
  }
  *out = Idle{pair[0], pid};
  return absl::OkStatus();
}

void FlistMountSpare::RefillLoop() {
  using Clock = std::chrono::steady_clock;
  // Spares inherit this thread's policy from exec on (posix_spawn's attributes cannot ask
  // for SCHED_IDLE); it only ever starts spares.
  sched_param idle_priority{};
  if (sched_setscheduler(0, SCHED_IDLE, &idle_priority) != 0) {
    FLINT_LOG(WARN) << "spare flist-mounts start at normal priority: SCHED_IDLE: " << strerror(errno);
  }
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return;
    if (idle_.has_value()) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < refill_at_) {
      cv_.wait_until(lock, refill_at_);
      continue;
    }
    lock.unlock();
    Idle started;
    absl::Status s = Start(&started);
    lock.lock();
    if (!s.ok()) {
      FLINT_LOG(WARN) << "no spare flist-mount (mounts start flist-mount instead): " << s.message();
      refill_at_ = Clock::now() + absl::ToChronoNanoseconds(options_.retry_delay);
      continue;
    }
    if (stopping_) {
      close(started.fd);
      return;
    }
    idle_ = started;
    cv_.notify_all();
  }
}

std::optional<pid_t> FlistMountSpare::WaitReady(absl::Duration timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return idle_.has_value(); })) return std::nullopt;
  return idle_->pid;
}

std::optional<absl::Status> FlistMountSpare::Mount(const std::vector<std::string>& args, absl::Duration timeout) {
  // The request is NUL-separated and ends with an empty argument: what it cannot carry goes
  // through a fresh flist-mount.
  for (const std::string& arg : args) {
    if (arg.empty() || arg.find('\0') != std::string::npos) return std::nullopt;
  }
  Idle spare;
  {
    std::lock_guard lock(mu_);
    if (!idle_.has_value()) return std::nullopt;
    spare = *idle_;
    idle_.reset();
    refill_at_ = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(options_.refill_delay);
  }
  cv_.notify_all();
  std::string request;
  for (const std::string& arg : args) {
    request += arg;
    request.push_back('\0');
  }
  request.push_back('\0');
  std::optional<std::string> answer;
  bool timed_out = false;
  if (SendAll(spare.fd, request)) answer = ReadLine(spare.fd, absl::Now() + timeout, &timed_out);
  close(spare.fd);
  if (timed_out) {
    kill(spare.pid, SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat(options_.binary, " (spare): no answer in ",
                                                    absl::FormatDuration(timeout)));
  }
  if (!answer.has_value()) return std::nullopt;  // it died: the caller starts flist-mount itself
  if (*answer == "ok") return absl::OkStatus();
  if (answer->starts_with("error ")) return absl::UnknownError(absl::StrCat(options_.binary, ": ", answer->substr(6)));
  return absl::UnknownError(absl::StrCat(options_.binary, " (spare): unexpected answer \"", *answer, "\""));
}

}  // namespace flint::flist
