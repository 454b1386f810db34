#include "cri/stats/redis_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resolve.h"

namespace flint::stats {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

absl::Status WaitFd(int fd, short events, Clock::time_point deadline, const char* what) {
  while (true) {
    struct pollfd pfd = {fd, events, 0};
    int n = ::poll(&pfd, 1, RemainingMs(deadline));
    if (n > 0) return absl::OkStatus();
    if (n == 0) return absl::DeadlineExceededError(absl::StrCat("redis ", what, ": timed out"));
    if (errno != EINTR) return absl::InternalError(absl::StrCat("redis ", what, ": poll: ", std::strerror(errno)));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(const std::string& host, uint16_t port,
                                                                          std::chrono::milliseconds timeout) {
  const std::string target = absl::StrCat(host, ":", port);
  const Clock::time_point deadline = Clock::now() + timeout;
  auto addresses = net::Resolve(host, std::to_string(port), AF_UNSPEC, SOCK_STREAM, timeout);
  if (!addresses.ok()) return absl::Status(addresses.status().code(), absl::StrCat("redis ", target, ": ", addresses.status().message()));
  absl::Status last = absl::UnavailableError(absl::StrCat("redis ", target, ": no address"));
  for (const net::ResolvedAddress& address : *addresses) {
    int fd = ::socket(address.family, address.socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address.protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, address.sockaddr_ptr(), address.addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      absl::Status waited = WaitFd(fd, POLLOUT, deadline, "connect");
      int err = 0;
      socklen_t len = sizeof(err);
      if (waited.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        errno = waited.ok() ? err : ETIMEDOUT;
      }
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return std::unique_ptr<RedisConnection>(new RedisConnection(fd, timeout));
    }
    last = absl::UnavailableError(absl::StrCat("redis ", target, ": connect: ", std::strerror(errno)));
    ::close(fd);
  }
  return last;
}

RedisConnection::~RedisConnection() { ::close(fd_); }

std::string RedisConnection::EncodeCommand(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const std::string& arg : args) absl::StrAppend(&out, "$", arg.size(), "\r\n", arg, "\r\n");
  return out;
}

absl::Status RedisConnection::SendRaw(const std::string& bytes) {
  const Clock::time_point deadline = Clock::now() + send_timeout_;
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status waited = WaitFd(fd_, POLLOUT, deadline, "send");
      if (!waited.ok()) return waited;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("redis send: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status RedisConnection::Fill(Clock::time_point deadline) {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  while (true) {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) return absl::UnavailableError("redis: connection closed by server");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat("redis recv: ", std::strerror(errno)));
    }
    absl::Status waited = WaitFd(fd_, POLLIN, deadline, "recv");
    if (!waited.ok()) return waited;
  }
}

absl::StatusOr<std::string> RedisConnection::ReadLine(Clock::time_point deadline) {
  while (true) {
    size_t crlf = buffer_.find("\r\n", pos_);
    if (crlf != std::string::npos) {
      std::string line = buffer_.substr(pos_, crlf - pos_);
      pos_ = crlf + 2;
      return line;
    }
    absl::Status filled = Fill(deadline);
    if (!filled.ok()) return filled;
  }
}

absl::StatusOr<RespValue> RedisConnection::ReadValue(Clock::time_point deadline, int depth) {
  if (depth > 8) return absl::InternalError("redis: reply nested too deeply");
  absl::StatusOr<std::string> line = ReadLine(deadline);
  if (!line.ok()) return line.status();
  if (line->empty()) return absl::InternalError("redis: empty reply line");
  RespValue value;
  const char kind = (*line)[0];
  const std::string rest = line->substr(1);
  switch (kind) {
    case '+':
      value.type = RespValue::Type::kSimpleString;
      value.str = rest;
      return value;
    case '-':
      value.type = RespValue::Type::kError;
      value.str = rest;
      return value;
    case ':':
      value.type = RespValue::Type::kInteger;
      if (!absl::SimpleAtoi(rest, &value.integer)) return absl::InternalError("redis: bad integer " + rest);
      return value;
    case '$': {
      int64_t len = 0;
      if (!absl::SimpleAtoi(rest, &len) || len < -1 || len > (512 << 20)) {
        return absl::InternalError("redis: bad bulk length " + rest);
      }
      if (len == -1) return value;  // null
      while (buffer_.size() - pos_ < static_cast<size_t>(len) + 2) {
        absl::Status filled = Fill(deadline);
        if (!filled.ok()) return filled;
      }
      value.type = RespValue::Type::kBulkString;
      value.str = buffer_.substr(pos_, static_cast<size_t>(len));
      pos_ += static_cast<size_t>(len) + 2;
      return value;
    }
    case '*': {
      int64_t count = 0;
      if (!absl::SimpleAtoi(rest, &count) || count < -1 || count > 1024 * 1024) {
        return absl::InternalError("redis: bad array length " + rest);
      }
      if (count == -1) return value;
      value.type = RespValue::Type::kArray;
      for (int64_t i = 0; i < count; ++i) {
        absl::StatusOr<RespValue> element = ReadValue(deadline, depth + 1);
        if (!element.ok()) return element.status();
        value.elements.push_back(std::move(*element));
      }
      return value;
    }
    default:
      return absl::InternalError(absl::StrCat("redis: unknown reply type '", std::string(1, kind), "'"));
  }
}

absl::StatusOr<RespValue> RedisConnection::ReadReply(std::chrono::milliseconds timeout) {
  return ReadValue(Clock::now() + timeout, 0);
}

}  // namespace flint::stats
