#include "cri/cni/plugin_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"

namespace flint::cni {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  int* out() { return &fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

absl::Status Errno(const std::string& what) { return absl::InternalError(absl::StrCat(what, ": ", strerror(errno))); }

// Appends what is readable now; false at EOF or error.
bool ReadAvailable(int fd, std::string* out, size_t limit, bool* truncated) {
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      size_t room = out->size() < limit ? limit - out->size() : 0;
      if (static_cast<size_t>(n) > room) *truncated = true;
      out->append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

// Waits for `pid` until `deadline`; true when reaped.
bool WaitUntil(pid_t pid, Clock::time_point deadline, int* wstatus) {
  while (true) {
    pid_t r = ::waitpid(pid, wstatus, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more; nothing to reap
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

absl::StatusOr<PluginOutput> ExecPlugin(const PluginInvocation& invocation) {
  if (::access(invocation.binary.c_str(), X_OK) != 0)
    return absl::NotFoundError(absl::StrCat("plugin ", invocation.binary, " not executable: ", strerror(errno)));

  // stdin is a socket so that writing to a plugin that already exited gives EPIPE, not SIGPIPE.
  int stdin_pair[2], stdout_pipe[2], stderr_pipe[2], exec_status[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stdin_pair) != 0) return Errno("socketpair");
  Fd stdin_parent(stdin_pair[0]), stdin_child(stdin_pair[1]);
  if (::pipe2(stdout_pipe, O_CLOEXEC) != 0) return Errno("pipe");
  Fd stdout_read(stdout_pipe[0]), stdout_write(stdout_pipe[1]);
  if (::pipe2(stderr_pipe, O_CLOEXEC) != 0) return Errno("pipe");
  Fd stderr_read(stderr_pipe[0]), stderr_write(stderr_pipe[1]);
  if (::pipe2(exec_status, O_CLOEXEC) != 0) return Errno("pipe");
  Fd status_read(exec_status[0]), status_write(exec_status[1]);

  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> argv = {const_cast<char*>(invocation.binary.c_str()), nullptr};
  std::vector<char*> envp;
  for (const std::string& e : invocation.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (::dup2(stdin_child.get(), 0) < 0 || ::dup2(stdout_write.get(), 1) < 0 || ::dup2(stderr_write.get(), 2) < 0) {
      int err = errno;
      (void)!::write(status_write.get(), &err, sizeof(err));
      ::_exit(127);
    }
    ::execve(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!::write(status_write.get(), &err, sizeof(err));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so the group exists before any kill below
  stdin_child.Close();
  stdout_write.Close();
  stderr_write.Close();
  status_write.Close();

  int exec_errno = 0;
  ssize_t status_n;
  do {
    status_n = ::read(status_read.get(), &exec_errno, sizeof(exec_errno));
  } while (status_n < 0 && errno == EINTR);
  if (status_n == sizeof(exec_errno)) {
    int wstatus;
    ::waitpid(pid, &wstatus, 0);
    return absl::InternalError(absl::StrCat("exec plugin ", invocation.binary, ": ", strerror(exec_errno)));
  }

  for (int fd : {stdin_parent.get(), stdout_read.get(), stderr_read.get()})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  PluginOutput out;
  const Clock::time_point deadline = Clock::now() + invocation.timeout;
  size_t written = 0;
  if (invocation.stdin_data.empty()) {
    ::shutdown(stdin_parent.get(), SHUT_WR);
    stdin_parent.Close();
  }
  bool stdout_open = true, stderr_open = true, reaped = false, timed_out = false;
  int wstatus = 0;
  while (stdout_open || stderr_open) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3];
    int nfds = 0;
    int stdout_idx = -1, stderr_idx = -1, stdin_idx = -1;
    if (stdout_open) fds[stdout_idx = nfds++] = {stdout_read.get(), POLLIN, 0};
    if (stderr_open) fds[stderr_idx = nfds++] = {stderr_read.get(), POLLIN, 0};
    if (stdin_parent.get() >= 0) fds[stdin_idx = nfds++] = {stdin_parent.get(), POLLOUT, 0};
    // A short tick so that a plugin whose descendants keep our pipes open is still seen exiting.
    int r = ::poll(fds, nfds, static_cast<int>(std::min<int64_t>(remaining.count(), 100)));
    if (r < 0 && errno != EINTR) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &wstatus, 0);
      return Errno("poll plugin output");
    }
    if (r > 0) {
      if (stdout_idx >= 0 && fds[stdout_idx].revents)
        stdout_open = ReadAvailable(stdout_read.get(), &out.stdout_data, invocation.max_output_bytes,
                                    &out.output_truncated);
      if (stderr_idx >= 0 && fds[stderr_idx].revents)
        stderr_open = ReadAvailable(stderr_read.get(), &out.stderr_data, invocation.max_output_bytes,
                                    &out.output_truncated);
      if (stdin_idx >= 0 && fds[stdin_idx].revents) {
        ssize_t n = ::send(stdin_parent.get(), invocation.stdin_data.data() + written,
                           invocation.stdin_data.size() - written, MSG_NOSIGNAL);
        if (n > 0) written += n;
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == invocation.stdin_data.size()) {
          ::shutdown(stdin_parent.get(), SHUT_WR);
          stdin_parent.Close();
        }
      }
    } else if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      reaped = true;
      ReadAvailable(stdout_read.get(), &out.stdout_data, invocation.max_output_bytes, &out.output_truncated);
      ReadAvailable(stderr_read.get(), &out.stderr_data, invocation.max_output_bytes, &out.output_truncated);
      break;
    }
  }
  if (!timed_out && !reaped) reaped = WaitUntil(pid, deadline, &wstatus);
  if (!reaped) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &wstatus, 0);
    return absl::DeadlineExceededError(absl::StrCat("plugin ", invocation.binary, " did not finish within ",
                                                    invocation.timeout.count(), "ms; killed"));
  }
  if (WIFEXITED(wstatus)) out.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) out.term_signal = WTERMSIG(wstatus);
  return out;
}

}  // namespace flint::cni
