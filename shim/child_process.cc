#include "shim/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flint::shim {

std::string ErrnoMessage(const std::string& what) { return what + ": " + std::strerror(errno); }

int64_t MonotonicNowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

bool SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

bool MakePipe(Pipe* p, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = ErrnoMessage("pipe2");
    return false;
  }
  p->read = fds[0];
  p->write = fds[1];
  return true;
}

int ExitCodeFromWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

namespace {

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void ExecInChild(const char* exec_path, char* const* argv, const int (&stdio)[3], int dev_null,
                              int report_fd) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig : {SIGPIPE, SIGCHLD, SIGHUP, SIGTERM, SIGINT}) signal(sig, SIG_DFL);
  // Move the sources above 2 first so that dup2 cannot clobber one of them.
  int high[3];
  for (int i = 0; i < 3; ++i) {
    int src = stdio[i] >= 0 ? stdio[i] : dev_null;
    high[i] = fcntl(src, F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) goto fail;
  }
  for (int i = 0; i < 3; ++i) {
    if (dup2(high[i], i) < 0) goto fail;
  }
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (exec_path != nullptr) {
    execv(exec_path, argv);
  } else if (strchr(argv[0], '/') != nullptr) {
    execv(argv[0], argv);
  } else {
    execvp(argv[0], argv);
  }
fail:
  int err = errno;
  ssize_t ignored = write(report_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

}  // namespace

pid_t SpawnChild(const std::vector<std::string>& argv, const ChildStdio& stdio, std::string* error,
                 const std::string& exec_path) {
  if (argv.empty()) {
    *error = "spawn: empty argv";
    return -1;
  }
  std::vector<char*> c_argv;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  int dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (dev_null < 0) {
    *error = ErrnoMessage("open /dev/null");
    return -1;
  }
  Pipe report;
  if (!MakePipe(&report, error)) {
    close(dev_null);
    return -1;
  }
  const int fds[3] = {stdio.in, stdio.out, stdio.err};
  pid_t pid = fork();
  if (pid == 0) {
    // report.write keeps O_CLOEXEC: a successful exec closes it, which is the "ok" signal.
    ExecInChild(exec_path.empty() ? nullptr : exec_path.c_str(), c_argv.data(), fds, dev_null, report.write);
  }
  close(dev_null);
  close(report.write);
  if (pid < 0) {
    *error = ErrnoMessage("fork");
    close(report.read);
    return -1;
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report.read, &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report.read);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int status;
    waitpid(pid, &status, 0);
    errno = child_errno;
    *error = ErrnoMessage("exec " + argv[0]);
    return -1;
  }
  return pid;
}

void ReapExited(const ReapCallback& on_exit) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    on_exit(pid, status);
  }
}

bool RunCommand(const std::vector<std::string>& argv, int timeout_ms, const ReapCallback& on_other_exit,
                CommandResult* result, std::string* error, const std::string& exec_path) {
  constexpr size_t kMaxOutput = 64 * 1024;
  Pipe out;
  if (!MakePipe(&out, error)) return false;
  pid_t pid = SpawnChild(argv, ChildStdio{-1, out.write, out.write}, error, exec_path);
  close(out.write);
  if (pid < 0) {
    close(out.read);
    return false;
  }
  SetNonBlocking(out.read);
  *result = CommandResult{};
  const int64_t deadline = MonotonicNowMs() + timeout_ms;
  bool exited = false;
  int wait_status = 0;
  auto drain = [&] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(out.read, buf, sizeof(buf));
      if (n <= 0) return;
      size_t room = kMaxOutput - std::min(kMaxOutput, result->output.size());
      result->output.append(buf, std::min(room, static_cast<size_t>(n)));
    }
  };
  while (!exited) {
    pollfd pfd{out.read, POLLIN, 0};
    poll(&pfd, 1, 5);
    drain();
    ReapExited([&](pid_t reaped, int status) {
      if (reaped == pid) {
        exited = true;
        wait_status = status;
      } else {
        on_other_exit(reaped, status);
      }
    });
    if (!exited && MonotonicNowMs() > deadline && !result->timed_out) {
      result->timed_out = true;
      kill(pid, SIGKILL);
    }
  }
  // Descendants of the command may still hold the pipe: take what is there, do not wait.
  drain();
  close(out.read);
  result->exit_code = ExitCodeFromWaitStatus(wait_status);
  return true;
}

std::string DescribeFailure(const std::string& what, const CommandResult& result) {
  std::string text = what;
  text += result.timed_out ? ": timed out" : ": exit status " + std::to_string(result.exit_code);
  std::string output = result.output;
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  if (!output.empty()) text += ": " + output;
  return text;
}

}  // namespace flint::shim
