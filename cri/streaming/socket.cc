#include "cri/streaming/socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace flint::streaming {

Socket::~Socket() {
  // shutdown() first: the server keeps a dup of accepted sockets, and the peer must see EOF now.
  if (fd_ >= 0) {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
  }
}

absl::StatusOr<size_t> Socket::ReadSome(char* buf, size_t len) {
  if (!pending_.empty()) {
    size_t n = std::min(len, pending_.size());
    memcpy(buf, pending_.data(), n);
    pending_.erase(0, n);
    return n;
  }
  for (;;) {
    ssize_t n = recv(fd_, buf, len, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    return absl::UnavailableError(absl::StrCat("recv: ", strerror(errno)));
  }
}

absl::Status Socket::ReadFull(char* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    auto n = ReadSome(buf + done, len - done);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return done == 0 ? absl::UnavailableError("connection closed")
                       : absl::OutOfRangeError("connection closed mid-message");
    }
    done += *n;
  }
  return absl::OkStatus();
}

absl::Status Socket::WriteAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

void Socket::Shutdown() { shutdown(fd_, SHUT_RDWR); }
void Socket::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

static absl::StatusOr<addrinfo*> Resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res);
  if (rc != 0) return absl::InvalidArgumentError(absl::StrCat("resolve ", host, ": ", gai_strerror(rc)));
  return res;
}

absl::StatusOr<int> ListenTcp(const std::string& host, int port, int* bound_port) {
  auto res = Resolve(host, port, true);
  if (!res.ok()) return res.status();
  int fd = socket((*res)->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(*res);
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (*res)->ai_addr, (*res)->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    int err = errno;
    freeaddrinfo(*res);
    close(fd);
    return absl::UnavailableError(absl::StrCat("listen on ", host, ":", port, ": ", strerror(err)));
  }
  freeaddrinfo(*res);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (bound_port) {
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                             : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  return fd;
}

absl::StatusOr<int> ConnectTcp(const std::string& host, int port) {
  auto res = Resolve(host, port, false);
  if (!res.ok()) return res.status();
  int fd = socket((*res)->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(*res);
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  if (connect(fd, (*res)->ai_addr, (*res)->ai_addrlen) != 0) {
    int err = errno;
    freeaddrinfo(*res);
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", host, ":", port, ": ", strerror(err)));
  }
  freeaddrinfo(*res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace flint::streaming
