#include "cri/runtime/streaming_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "shim/client/shim_stream_client.h"

namespace flint::runtime {
namespace {

using shim::AttachFrame;
using shim::ShimStreamConnection;

// After the process exited, output still in the pipes (or held open by its background
// children) is copied for at most this long.
constexpr absl::Duration kOutputDrainAfterExit = absl::Seconds(2);

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() { reset(); }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

absl::Status ErrnoStatus(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Copies fd to out until EOF/EIO, a failed Write (client gone: on_client_gone), or the drain
// deadline set once the process exited.
void PumpOutput(int fd, streaming::OutputStream* out, const std::atomic<int64_t>* drain_until_ms,
                const std::function<void()>& on_client_gone) {
  char buf[32768];
  for (;;) {
    int64_t until = drain_until_ms->load();
    int timeout = 100;
    if (until > 0) {
      int64_t left = until - absl::ToUnixMillis(absl::Now());
      if (left <= 0) return;
      timeout = static_cast<int>(std::min<int64_t>(left, 100));
    }
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;  // EOF, or EIO once the pty slave is gone
    if (out == nullptr) continue;
    if (!out->Write(std::string_view(buf, static_cast<size_t>(n))).ok()) {
      on_client_gone();
      return;
    }
  }
}

absl::Status MakePipe(OwnedFd* read_end, OwnedFd* write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  read_end->reset(p[0]);
  write_end->reset(p[1]);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ShimStreamConnection>> ConnectShim(PodRuntime* pods, const std::string& container_id,
                                                                  records::ContainerRecord* record_out) {
  std::optional<records::ContainerRecord> record = pods->records().GetContainer(container_id);
  if (!record.has_value()) return absl::NotFoundError(absl::StrCat("container ", container_id, " not found"));
  absl::StatusOr<std::unique_ptr<ShimStreamConnection>> conn = ShimStreamConnection::Connect(record->shim_socket());
  if (!conn.ok()) {
    return absl::Status(conn.status().code(), absl::StrCat("container ", container_id, ": shim: ", conn.status().message()));
  }
  if (record_out != nullptr) *record_out = std::move(*record);
  return std::shared_ptr<ShimStreamConnection>(std::move(*conn));
}

}  // namespace

absl::StatusOr<int> PodStreamingRuntime::Exec(const std::string& container_id, const std::vector<std::string>& cmd,
                                              const streaming::ExecStreams& streams) {
  if (cmd.empty()) return absl::InvalidArgumentError("exec: empty command");
  absl::StatusOr<std::shared_ptr<ShimStreamConnection>> conn_or = ConnectShim(pods_, container_id, nullptr);
  if (!conn_or.ok()) return conn_or.status();
  std::shared_ptr<ShimStreamConnection> conn = std::move(*conn_or);
  // Closing the connection is how the shim learns to kill the process.
  streams.cancel->OnCancel([conn] { conn->Shutdown(); });

  nlohmann::json request = {{"op", "exec_stream"}, {"args", cmd}, {"tty", streams.tty}};
  OwnedFd in_write, out_read, err_read, master;
  if (streams.tty) {
    if (absl::Status s = conn->SendRequest(request); !s.ok()) return s;
    int pty = -1;
    absl::StatusOr<nlohmann::json> reply = conn->ReadReply(&pty);
    if (!reply.ok()) return absl::Status(reply.status().code(), absl::StrCat("exec: ", reply.status().message()));
    if (pty < 0) return absl::InternalError("exec: the shim sent no terminal");
    master.reset(pty);
  } else {
    OwnedFd in_read, out_write, err_write;
    if (streams.stdin_stream != nullptr) {
      if (absl::Status s = MakePipe(&in_read, &in_write); !s.ok()) return s;
    } else {
      in_read.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    if (absl::Status s = MakePipe(&out_read, &out_write); !s.ok()) return s;
    if (absl::Status s = MakePipe(&err_read, &err_write); !s.ok()) return s;
    if (in_read.get() < 0) return ErrnoStatus("open /dev/null");
    if (absl::Status s = conn->SendRequest(request, {in_read.get(), out_write.get(), err_write.get()}); !s.ok()) {
      return s;
    }
  }  // the child ends are closed here: only the exec'd process holds them now

  std::atomic<int64_t> drain_until_ms{0};
  auto client_gone = [conn] { conn->Shutdown(); };
  std::thread out_thread, err_thread, in_thread, resize_thread;
  if (streams.tty) {
    out_thread = std::thread(PumpOutput, master.get(), streams.stdout_stream, &drain_until_ms, client_gone);
  } else {
    out_thread = std::thread(PumpOutput, out_read.get(), streams.stdout_stream, &drain_until_ms, client_gone);
    err_thread = std::thread(PumpOutput, err_read.get(), streams.stderr_stream, &drain_until_ms, client_gone);
  }
  if (streams.stdin_stream != nullptr) {
    in_thread = std::thread([&in_write, &master, tty = streams.tty, in = streams.stdin_stream] {
      int fd = tty ? master.get() : in_write.get();
      char buf[32768];
      for (;;) {
        absl::StatusOr<size_t> n = in->Read(buf, sizeof(buf));
        if (!n.ok() || *n == 0) {
          if (tty) {
            if (n.ok()) (void)WriteAll(fd, "\x04", 1);  // the terminal's end-of-file
          } else {
            in_write.reset();  // the process sees EOF
          }
          return;
        }
        if (!WriteAll(fd, buf, *n)) return;
      }
    });
  }
  if (streams.tty && streams.resize != nullptr) {
    resize_thread = std::thread([fd = master.get(), resize = streams.resize] {
      while (std::optional<streaming::TerminalSize> size = resize->Next()) {
        winsize ws{};
        ws.ws_col = size->width;
        ws.ws_row = size->height;
        ioctl(fd, TIOCSWINSZ, &ws);
      }
    });
  }

  // The shim answers once the process exited (or errors when the session was cancelled).
  absl::StatusOr<nlohmann::json> done = conn->ReadReply();
  drain_until_ms = absl::ToUnixMillis(absl::Now() + kOutputDrainAfterExit);
  if (!done.ok()) conn->Shutdown();
  if (out_thread.joinable()) out_thread.join();
  if (err_thread.joinable()) err_thread.join();
  if (streams.stdin_stream != nullptr) streams.stdin_stream->Abort();
  if (in_thread.joinable()) in_thread.join();
  if (streams.resize != nullptr) streams.resize->Close();
  if (resize_thread.joinable()) resize_thread.join();
  conn->Shutdown();
  if (!done.ok()) {
    if (streams.cancel->Cancelled()) return absl::CancelledError("exec: client went away; process killed");
    return absl::Status(done.status().code(), absl::StrCat("exec: ", done.status().message()));
  }
  return done->value("exit_code", -1);
}

absl::Status PodStreamingRuntime::Attach(const std::string& container_id, const streaming::ExecStreams& streams) {
  records::ContainerRecord record;
  absl::StatusOr<std::shared_ptr<ShimStreamConnection>> conn_or = ConnectShim(pods_, container_id, &record);
  if (!conn_or.ok()) return conn_or.status();
  std::shared_ptr<ShimStreamConnection> conn = std::move(*conn_or);
  streams.cancel->OnCancel([conn] { conn->Shutdown(); });
  if (absl::Status s = conn->SendRequest({{"op", "attach"}}); !s.ok()) return s;
  absl::StatusOr<nlohmann::json> reply = conn->ReadReply();
  if (!reply.ok()) return absl::Status(reply.status().code(), absl::StrCat("attach: ", reply.status().message()));
  const bool container_stdin = reply->value("stdin", false);
  const bool stdin_once = record.config().stdin_once();

  std::thread in_thread, resize_thread;
  if (streams.stdin_stream != nullptr && container_stdin) {
    in_thread = std::thread([conn, stdin_once, in = streams.stdin_stream] {
      char buf[32768];
      for (;;) {
        absl::StatusOr<size_t> n = in->Read(buf, sizeof(buf));
        if (!n.ok()) return;
        if (*n == 0) {
          if (stdin_once) (void)conn->SendFrame(AttachFrame::kStdinClose, {});
          return;
        }
        if (!conn->SendFrame(AttachFrame::kStdin, std::string_view(buf, *n)).ok()) return;
      }
    });
  }
  if (streams.resize != nullptr) {
    resize_thread = std::thread([conn, resize = streams.resize] {
      while (std::optional<streaming::TerminalSize> size = resize->Next()) {
        const char payload[4] = {static_cast<char>(size->width >> 8), static_cast<char>(size->width),
                                 static_cast<char>(size->height >> 8), static_cast<char>(size->height)};
        if (!conn->SendFrame(AttachFrame::kResize, std::string_view(payload, 4)).ok()) return;
      }
    });
  }
  absl::Status result = absl::OkStatus();
  for (;;) {
    absl::StatusOr<ShimStreamConnection::Frame> frame = conn->ReadFrame();
    if (!frame.ok()) {
      // The shim drops an attachment that falls too far behind; the container may have exited.
      if (!streams.cancel->Cancelled()) result = absl::UnavailableError(absl::StrCat("attach: ", frame.status().message()));
      break;
    }
    if (frame->kind == static_cast<uint8_t>(AttachFrame::kEnd)) break;
    streaming::OutputStream* out = frame->kind == static_cast<uint8_t>(AttachFrame::kStderr) && !streams.tty
                                       ? streams.stderr_stream
                                       : streams.stdout_stream;
    if (out != nullptr && !out->Write(frame->data).ok()) break;  // client gone
  }
  conn->Shutdown();
  if (streams.stdin_stream != nullptr) streams.stdin_stream->Abort();
  if (in_thread.joinable()) in_thread.join();
  if (streams.resize != nullptr) streams.resize->Close();
  if (resize_thread.joinable()) resize_thread.join();
  return result;
}

absl::StatusOr<int> ConnectInNetns(const std::string& netns_path, int32_t port) {
  if (port <= 0 || port > 65535) return absl::InvalidArgumentError(absl::StrCat("bad port ", port));
  absl::StatusOr<int> result = absl::InternalError("not run");
  // setns affects only the calling thread: do it in a throwaway one. The socket keeps
  // its namespace and works from any thread.
  std::thread worker([&] {
    if (!netns_path.empty()) {
      int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) {
        result = ErrnoStatus(absl::StrCat("open netns ", netns_path));
        return;
      }
      int rc = setns(ns, CLONE_NEWNET);
      close(ns);
      if (rc != 0) {
        result = ErrnoStatus(absl::StrCat("setns ", netns_path));
        return;
      }
    }
    std::string errors;
    for (int family : {AF_INET, AF_INET6}) {
      int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      int rc;
      if (family == AF_INET) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      } else {
        sockaddr_in6 addr{};
        addr.sin6_family = AF_INET6;
        addr.sin6_port = htons(static_cast<uint16_t>(port));
        addr.sin6_addr = in6addr_loopback;
        rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      }
      if (rc == 0) {
        result = fd;
        return;
      }
      absl::StrAppend(&errors, errors.empty() ? "" : "; ", family == AF_INET ? "127.0.0.1" : "[::1]", ": ",
                      std::strerror(errno));
      close(fd);
    }
    result = absl::UnavailableError(absl::StrCat("connect to port ", port, ": ", errors));
  });
  worker.join();
  return result;
}

absl::Status PodStreamingRuntime::PortForward(const std::string& pod_sandbox_id, int32_t port,
                                              const streaming::PortForwardStream& stream) {
  std::optional<records::SandboxRecord> sandbox = pods_->records().GetSandbox(pod_sandbox_id);
  if (!sandbox.has_value()) return absl::NotFoundError(absl::StrCat("sandbox ", pod_sandbox_id, " not found"));
  absl::StatusOr<int> fd_or = ConnectInNetns(sandbox->netns_path(), port);
  if (!fd_or.ok()) {
    return absl::Status(fd_or.status().code(),
                        absl::StrCat("port-forward to sandbox ", pod_sandbox_id, ": ", fd_or.status().message()));
  }
  // The cancel callback may run after we are done: it only shuts down while the fd is ours.
  struct Guard {
    std::mutex mu;
    int fd;
  };
  auto guard = std::make_shared<Guard>();
  guard->fd = *fd_or;
  const int fd = *fd_or;
  stream.cancel->OnCancel([guard] {
    std::lock_guard lock(guard->mu);
    if (guard->fd >= 0) shutdown(guard->fd, SHUT_RDWR);
  });
  std::thread to_pod([fd, in = stream.from_client] {
    char buf[32768];
    for (;;) {
      absl::StatusOr<size_t> n = in->Read(buf, sizeof(buf));
      if (!n.ok()) return;
      if (*n == 0) {
        shutdown(fd, SHUT_WR);
        return;
      }
      size_t sent = 0;
      while (sent < *n) {
        ssize_t w = send(fd, buf + sent, *n - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        sent += static_cast<size_t>(w);
      }
    }
  });
  char buf[32768];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!stream.to_client->Write(std::string_view(buf, static_cast<size_t>(n))).ok()) break;
  }
  shutdown(fd, SHUT_RDWR);
  stream.from_client->Abort();
  to_pod.join();
  std::lock_guard lock(guard->mu);
  close(guard->fd);
  guard->fd = -1;
  return absl::OkStatus();
}

}  // namespace flint::runtime
