#include "cri/streaming/testing/local_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cri/streaming/socket.h"

namespace flint::streaming::testing {
namespace {

// Kills the process group once, and never after the leader was reaped (pid reuse).
class ProcessKiller {
 public:
  explicit ProcessKiller(pid_t pid) : pid_(pid) {}
  void Kill() {
    std::lock_guard lock(mu_);
    if (reaped_) return;
    kill(-pid_, SIGKILL);  // the group: children of sh -c
    kill(pid_, SIGKILL);   // the leader, even if it has not reached setpgid/setsid yet
  }
  void MarkReaped() {
    std::lock_guard lock(mu_);
    reaped_ = true;
  }

 private:
  std::mutex mu_;
  pid_t pid_;
  bool reaped_ = false;
};

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

void LocalProcessRuntime::SetAttachCommand(const std::string& container_id, std::vector<std::string> cmd) {
  std::lock_guard lock(mu_);
  attach_commands_[container_id] = std::move(cmd);
}

absl::StatusOr<int> LocalProcessRuntime::Exec(const std::string&, const std::vector<std::string>& cmd,
                                              const ExecStreams& streams) {
  return Run(cmd, streams);
}

absl::Status LocalProcessRuntime::Attach(const std::string& container_id, const ExecStreams& streams) {
  std::vector<std::string> cmd;
  {
    std::lock_guard lock(mu_);
    auto it = attach_commands_.find(container_id);
    if (it == attach_commands_.end()) return absl::NotFoundError(absl::StrCat("container ", container_id, " not found"));
    cmd = it->second;
  }
  auto code = Run(cmd, streams);
  return code.ok() ? absl::OkStatus() : code.status();
}

absl::StatusOr<int> LocalProcessRuntime::Run(const std::vector<std::string>& cmd, const ExecStreams& streams) {
  if (cmd.empty()) return absl::InvalidArgumentError("empty command");
  ++exec_count_;
  std::vector<char*> argv;
  for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int in_w = -1, out_r = -1, err_r = -1;  // parent ends
  int child_in = -1, child_out = -1, child_err = -1;
  int master = -1;
  std::string slave_name;
  if (streams.tty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
      CloseFd(master);
      return absl::InternalError(absl::StrCat("openpty: ", strerror(errno)));
    }
    slave_name = ptsname(master);
  } else {
    int p[2];
    if (streams.stdin_stream) {
      if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError("pipe");
      child_in = p[0];
      in_w = p[1];
    }
    if (streams.stdout_stream) {
      if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError("pipe");
      out_r = p[0];
      child_out = p[1];
    }
    if (streams.stderr_stream) {
      if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError("pipe");
      err_r = p[0];
      child_err = p[1];
    }
  }

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    if (streams.tty) {
      setsid();
      int slave = open(slave_name.c_str(), O_RDWR);
      if (slave < 0) _exit(126);
      ioctl(slave, TIOCSCTTY, 0);
      dup2(slave, 0);
      dup2(slave, 1);
      dup2(slave, 2);
      if (slave > 2) close(slave);
    } else {
      setpgid(0, 0);
      int devnull = open("/dev/null", O_RDWR);
      dup2(child_in >= 0 ? child_in : devnull, 0);
      dup2(child_out >= 0 ? child_out : devnull, 1);
      dup2(child_err >= 0 ? child_err : devnull, 2);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  if (!streams.tty) setpgid(pid, pid);  // also in the parent, so an early kill(-pid) cannot miss
  last_pid_ = pid;
  CloseFd(child_in);
  CloseFd(child_out);
  CloseFd(child_err);

  auto killer = std::make_shared<ProcessKiller>(pid);
  streams.cancel->OnCancel([killer] { killer->Kill(); });

  auto pump_out = [this, killer](int fd, OutputStream* out) {
    char buf[32768];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // EOF, or EIO once the pty slave is gone
      if (!out->Write(std::string_view(buf, static_cast<size_t>(n))).ok()) {
        killer->Kill();  // client is gone
        return;
      }
      bytes_forwarded_ += static_cast<uint64_t>(n);
    }
  };
  std::thread out_thread, err_thread, in_thread, resize_thread;
  if (streams.tty) {
    if (streams.stdout_stream) out_thread = std::thread(pump_out, master, streams.stdout_stream);
  } else {
    if (out_r >= 0) out_thread = std::thread(pump_out, out_r, streams.stdout_stream);
    if (err_r >= 0) err_thread = std::thread(pump_out, err_r, streams.stderr_stream);
  }
  if (streams.stdin_stream) {
    int fd = streams.tty ? master : in_w;
    in_thread = std::thread([fd, tty = streams.tty, &in_w, in = streams.stdin_stream] {
      char buf[32768];
      for (;;) {
        auto n = in->Read(buf, sizeof(buf));
        if (!n.ok()) {
          if (!tty) CloseFd(in_w);  // client gone: the process sees EOF
          return;
        }
        if (*n == 0) {
          if (tty) {
            (void)!write(fd, "\x04", 1);  // EOT: the terminal's end-of-file
          } else {
            CloseFd(in_w);
          }
          return;
        }
        size_t done = 0;
        while (done < *n) {
          ssize_t w = write(fd, buf + done, *n - done);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return;
          done += static_cast<size_t>(w);
        }
      }
    });
  }
  if (streams.resize && streams.tty) {
    resize_thread = std::thread([master, resize = streams.resize] {
      while (auto size = resize->Next()) {
        winsize ws{};
        ws.ws_col = size->width;
        ws.ws_row = size->height;
        ioctl(master, TIOCSWINSZ, &ws);
      }
    });
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  killer->MarkReaped();
  if (out_thread.joinable()) out_thread.join();
  if (err_thread.joinable()) err_thread.join();
  if (streams.stdin_stream) streams.stdin_stream->Abort();
  if (in_thread.joinable()) in_thread.join();
  if (streams.resize) streams.resize->Close();
  if (resize_thread.joinable()) resize_thread.join();
  CloseFd(in_w);
  CloseFd(out_r);
  CloseFd(err_r);
  CloseFd(master);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return absl::InternalError("process ended in an unknown state");
}

absl::Status LocalProcessRuntime::PortForward(const std::string&, int32_t port, const PortForwardStream& stream) {
  auto fd_or = ConnectTcp("127.0.0.1", port);
  if (!fd_or.ok()) return fd_or.status();
  int fd = *fd_or;
  // The cancel callback may fire after we closed fd; never touch a reused descriptor.
  struct Guard {
    std::mutex mu;
    bool open = true;
  };
  auto guard = std::make_shared<Guard>();
  stream.cancel->OnCancel([fd, guard] {
    std::lock_guard lock(guard->mu);
    if (guard->open) shutdown(fd, SHUT_RDWR);
  });
  std::thread up([fd, in = stream.from_client] {
    char buf[32768];
    for (;;) {
      auto n = in->Read(buf, sizeof(buf));
      if (!n.ok()) return;
      if (*n == 0) {
        shutdown(fd, SHUT_WR);
        return;
      }
      if (send(fd, buf, *n, MSG_NOSIGNAL) != static_cast<ssize_t>(*n)) return;
    }
  });
  char buf[32768];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!stream.to_client->Write(std::string_view(buf, static_cast<size_t>(n))).ok()) break;
  }
  // The pod side is done: stop reading from the client too.
  shutdown(fd, SHUT_RDWR);
  stream.from_client->Abort();
  up.join();
  std::lock_guard lock(guard->mu);
  guard->open = false;
  close(fd);
  return absl::OkStatus();
}

}  // namespace flint::streaming::testing
