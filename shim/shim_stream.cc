// Streaming ops: exec_stream (stdio owned by flintd, process supervised here)
// and attach (container output fanned out to connections, input forwarded).
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shim/shim_server.h"

namespace flint::shim {
namespace {

// An attached client that falls this far behind is disconnected rather than
// slowing the log pump (or growing without bound).
constexpr size_t kMaxAttachBacklogBytes = 4 * 1024 * 1024;
constexpr size_t kMaxAttachStdinBytes = 1024 * 1024;

// Frame: 1 byte kind, 4 bytes big-endian length, payload.
enum FrameKind : uint8_t {
  kFrameStdin = 0,       // client -> shim
  kFrameStdinClose = 1,  // client -> shim: close the container's stdin (stdin_once)
  kFrameResize = 2,      // client -> shim: u16 width, u16 height (big-endian)
  kFrameStdout = 1,      // shim -> client
  kFrameStderr = 2,      // shim -> client
  kFrameEnd = 3,         // shim -> client: the container's output ended
};
constexpr size_t kFrameHeaderBytes = 5;

void AppendFrame(std::string* out, uint8_t kind, std::string_view data) {
  const uint32_t len = static_cast<uint32_t>(data.size());
  const char header[kFrameHeaderBytes] = {static_cast<char>(kind), static_cast<char>(len >> 24),
                                          static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                                          static_cast<char>(len)};
  out->append(header, kFrameHeaderBytes);
  out->append(data);
}

}  // namespace

void ShimServer::SendExecConsole(ExecJob& job, int master) {
  auto it = clients_.find(job.client_id);
  bool sent = false;
  if (it != clients_.end() && it->second.out.empty()) {
    std::string line = R"({"ok":true,"pty":true})"
                       "\n";
    iovec iov{line.data(), line.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
    ssize_t n;
    do {
      n = sendmsg(it->second.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    // A fresh connection has room for one short line; anything else is a broken peer.
    sent = n == static_cast<ssize_t>(line.size());
  }
  close(master);
  if (!sent) {
    job.cancelled = true;
    KillExecProcess(job);
  }
}

bool ShimServer::HasCancelledExecs() const {
  for (const auto& [id, job] : execs_) {
    if (job.cancelled) return true;
  }
  return false;
}

void ShimServer::OnClientClosed(int client_id) {
  for (auto& [id, job] : execs_) {
    if (job.streaming && job.client_id == client_id && !job.cancelled) {
      job.cancelled = true;
      KillExecProcess(job);
    }
  }
}

int ShimServer::AttachStdinFd() const {
  if (!options_.stdin_open) return -1;
  return options_.tty ? stdout_fd_ : stdin_fd_;
}

nlohmann::json ShimServer::StartAttach(int client_id) {
  if (status_.state != ContainerState::kRunning || init_exited_ || (stdout_fd_ < 0 && stderr_fd_ < 0)) {
    return {{"ok", false}, {"error", "container " + options_.id + " is not running"}};
  }
  if (stdin_fd_ >= 0) SetNonBlocking(stdin_fd_);
  clients_[client_id].attached = true;  // frames follow the reply, both ways
  return {{"ok", true}, {"tty", options_.tty}, {"stdin", options_.stdin_open}};
}

void ShimServer::HandleAttachFrames(int client_id) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  std::string& in = it->second.in;
  size_t offset = 0;
  bool bad = false;
  while (in.size() - offset >= kFrameHeaderBytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + offset);
    const uint32_t len = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
    if (len > 1024 * 1024) {
      bad = true;
      break;
    }
    if (in.size() - offset < kFrameHeaderBytes + len) break;
    std::string_view payload(in.data() + offset + kFrameHeaderBytes, len);
    switch (p[0]) {
      case kFrameStdin:
        if (AttachStdinFd() >= 0 && attach_stdin_pending_.size() < kMaxAttachStdinBytes) {
          attach_stdin_pending_.append(payload);
        }
        break;
      case kFrameStdinClose:
        if (!options_.tty && stdin_fd_ >= 0) {
          FlushAttachStdin();
          attach_stdin_pending_.clear();
          CloseFd(&stdin_fd_);
        }
        break;
      case kFrameResize:
        if (options_.tty && stdout_fd_ >= 0 && payload.size() == 4) {
          const auto* q = reinterpret_cast<const unsigned char*>(payload.data());
          winsize ws{};
          ws.ws_col = static_cast<unsigned short>((q[0] << 8) | q[1]);
          ws.ws_row = static_cast<unsigned short>((q[2] << 8) | q[3]);
          ioctl(stdout_fd_, TIOCSWINSZ, &ws);
        }
        break;
      default:
        bad = true;
    }
    if (bad) break;
    offset += kFrameHeaderBytes + len;
  }
  in.erase(0, offset);
  if (bad) {
    CloseClient(client_id);
    return;
  }
  FlushAttachStdin();
}

void ShimServer::FlushAttachStdin() {
  int fd = AttachStdinFd();
  if (fd < 0) {
    attach_stdin_pending_.clear();
    return;
  }
  while (!attach_stdin_pending_.empty()) {
    ssize_t n = write(fd, attach_stdin_pending_.data(), attach_stdin_pending_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {  // the container closed its stdin
      attach_stdin_pending_.clear();
      return;
    }
    attach_stdin_pending_.erase(0, static_cast<size_t>(n));
  }
}

void ShimServer::FanOutToAttached(LogStream stream, std::string_view data) {
  std::vector<int> attached;
  for (const auto& [id, client] : clients_) {
    if (client.attached && !client.close_after_flush) attached.push_back(id);
  }
  for (int id : attached) {
    Client& client = clients_[id];
    if (client.out.size() - client.out_offset + data.size() > kMaxAttachBacklogBytes) {
      // Slow reader: drop it, never the log.
      CloseClient(id);
      continue;
    }
    if (client.out_offset > 1024 * 1024) {
      client.out.erase(0, client.out_offset);
      client.out_offset = 0;
    }
    AppendFrame(&client.out, stream == LogStream::kStderr ? kFrameStderr : kFrameStdout, data);
    FlushClient(id);
  }
}

void ShimServer::EndAttachments() {
  std::vector<int> attached;
  for (const auto& [id, client] : clients_) {
    if (client.attached && !client.close_after_flush) attached.push_back(id);
  }
  for (int id : attached) {
    Client& client = clients_[id];
    AppendFrame(&client.out, kFrameEnd, {});
    client.close_after_flush = true;
    FlushClient(id);
  }
}

}  // namespace flint::shim
