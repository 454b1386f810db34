#include "shim/client/shim_stream_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace flint::shim {
namespace {

absl::Status ErrnoStatus(const std::string& what) {
  return absl::UnavailableError(what + ": " + std::strerror(errno));
}

absl::Status SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("send to shim");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShimStreamConnection>> ShimStreamConnection::Connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return absl::InvalidArgumentError("shim socket path too long");
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("shim socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat("connect ", socket_path));
    close(fd);
    return status;
  }
  return std::unique_ptr<ShimStreamConnection>(new ShimStreamConnection(fd));
}

ShimStreamConnection::~ShimStreamConnection() {
  close(fd_);
  if (pending_fd_ >= 0) close(pending_fd_);
}

void ShimStreamConnection::Shutdown() { shutdown(fd_, SHUT_RDWR); }

absl::Status ShimStreamConnection::SendRequest(const nlohmann::json& request, const std::vector<int>& fds) {
  std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(send_mu_);
  if (fds.empty()) return SendAll(fd_, line);
  iovec iov{line.data(), line.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("send request to shim");
  return SendAll(fd_, std::string_view(line).substr(static_cast<size_t>(n)));
}

absl::Status ShimStreamConnection::Fill() {
  char buf[65536];
  iovec iov{buf, sizeof(buf)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus("read from shim");
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    if (pending_fd_ >= 0) close(pending_fd_);
    pending_fd_ = fd;
  }
  if (n == 0) return absl::UnavailableError("shim closed the connection");
  buffer_.append(buf, static_cast<size_t>(n));
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ShimStreamConnection::ReadReply(int* received_fd) {
  size_t newline;
  while ((newline = buffer_.find('\n')) == std::string::npos) {
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
  nlohmann::json reply = nlohmann::json::parse(buffer_.substr(0, newline), nullptr, false);
  buffer_.erase(0, newline + 1);
  if (received_fd != nullptr) {
    *received_fd = pending_fd_;
    pending_fd_ = -1;
  }
  if (!reply.is_object()) return absl::InternalError("shim reply is not a JSON object");
  if (!reply.value("ok", false)) {
    if (received_fd != nullptr && *received_fd >= 0) close(*received_fd);
    std::string error = reply.contains("error") && reply["error"].is_string() ? reply["error"].get<std::string>()
                                                                              : "unknown error";
    return absl::FailedPreconditionError(error);
  }
  return reply;
}

absl::Status ShimStreamConnection::SendFrame(AttachFrame kind, std::string_view data) {
  const uint32_t len = static_cast<uint32_t>(data.size());
  std::string frame = {static_cast<char>(kind), static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                       static_cast<char>(len >> 8), static_cast<char>(len)};
  frame.append(data);
  std::lock_guard lock(send_mu_);
  return SendAll(fd_, frame);
}

absl::StatusOr<ShimStreamConnection::Frame> ShimStreamConnection::ReadFrame() {
  while (buffer_.size() < 5) {
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data());
  const size_t len = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
  const uint8_t kind = p[0];
  while (buffer_.size() < 5 + len) {
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
  Frame frame;
  frame.kind = kind;
  frame.data = buffer_.substr(5, len);
  buffer_.erase(0, 5 + len);
  return frame;
}

}  // namespace flint::shim
