#include "common/resp_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/resolve.h"

namespace flint {
namespace {

using Clock = std::chrono::steady_clock;

// 0-db payloads are at most 8 MiB; leave room but stay bounded.
constexpr int64_t kMaxBulk = 64 * 1024 * 1024;
constexpr int64_t kMaxArray = 1024 * 1024;
constexpr size_t kMaxLine = 64 * 1024;
constexpr int kMaxDepth = 8;

// Debian's Abseil has its own string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status IoError(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(Av(what), ": ", std::strerror(errno)));
}

void SetSocketTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// A blocking socket connected to `address` within `timeout`, its send and receive timeouts set to it.
absl::StatusOr<int> ConnectOne(const net::ResolvedAddress& address, std::chrono::milliseconds timeout) {
  int fd = socket(address.family, address.socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address.protocol);
  if (fd < 0) return IoError("socket");
  if (connect(fd, address.sockaddr_ptr(), address.addrlen) != 0) {
    if (errno != EINPROGRESS) {
      absl::Status s = IoError("connect");
      close(fd);
      return s;
    }
    const Clock::time_point deadline = Clock::now() + timeout;
    int rc = 0;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    } while (rc < 0 && errno == EINTR);
    int err = 0;
    socklen_t len = sizeof(err);
    if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      const int saved = err != 0 ? err : errno;
      close(fd);
      if (rc == 0) return absl::DeadlineExceededError(absl::StrCat("connect: timed out after ", timeout.count(), " ms"));
      errno = saved;
      return IoError("connect");
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  SetSocketTimeouts(fd, timeout);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RespConnection>> RespConnection::Connect(const std::string& host, int port,
                                                                        std::chrono::milliseconds io_timeout,
                                                                        std::chrono::milliseconds reply_timeout) {
  const std::string target = absl::StrCat(host, ":", port);
  auto addresses = net::Resolve(host, std::to_string(port), AF_UNSPEC, SOCK_STREAM, io_timeout);
  if (!addresses.ok()) {
    return absl::Status(addresses.status().code(), absl::StrCat(target, ": ", addresses.status().message()));
  }
  absl::Status last = absl::UnavailableError("no addresses");
  for (const net::ResolvedAddress& address : *addresses) {
    auto fd = ConnectOne(address, io_timeout);
    if (fd.ok()) return std::unique_ptr<RespConnection>(new RespConnection(*fd, io_timeout, reply_timeout));
    last = fd.status();
  }
  return absl::Status(last.code(), absl::StrCat(target, ": ", last.message()));
}

RespConnection::~RespConnection() { close(fd_); }

std::string RespConnection::EncodeCommand(const std::vector<std::string_view>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (std::string_view a : args) {
    absl::StrAppend(&out, "$", a.size(), "\r\n");
    out.append(a);
    out.append("\r\n");
  }
  return out;
}

absl::StatusOr<RespReply> RespConnection::Command(const std::vector<std::string_view>& args) {
  StartBudget("reply", reply_timeout_, io_timeout_);
  if (absl::Status sent = SendAll(EncodeCommand(args)); !sent.ok()) return sent;
  return ReadValue(0);
}

absl::Status RespConnection::Send(std::string_view bytes) {
  StartBudget("send", reply_timeout_, io_timeout_);
  return SendAll(bytes);
}

absl::StatusOr<RespReply> RespConnection::ReadReply(std::chrono::milliseconds timeout) {
  StartBudget("reply", timeout, timeout);
  return ReadValue(0);
}

void RespConnection::StartBudget(const char* what, std::chrono::milliseconds total,
                                 std::chrono::milliseconds per_wait) {
  budget_what_ = what;
  deadline_ = Clock::now() + total;
  budget_ = total;
  per_wait_ = per_wait;
}

absl::Status RespConnection::BoundNextWait() {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
  if (left.count() <= 0) return BudgetSpentError();
  // At least 1 ms: a zero socket timeout means none.
  const auto wait = std::max(std::min(left, per_wait_), std::chrono::milliseconds(1));
  if (wait != socket_timeout_) {
    SetSocketTimeouts(fd_, wait);
    socket_timeout_ = wait;
  }
  return absl::OkStatus();
}

absl::Status RespConnection::BudgetSpentError() const {
  return absl::DeadlineExceededError(absl::StrCat(budget_what_, " not complete after ", budget_.count(), " ms"));
}

absl::Status RespConnection::WaitError(std::string_view what) const {
  if (errno != EAGAIN && errno != EWOULDBLOCK) return IoError(what);
  if (Clock::now() >= deadline_) return BudgetSpentError();
  return absl::DeadlineExceededError(absl::StrCat(Av(what), ": nothing for ", socket_timeout_.count(), " ms"));
}

absl::Status RespConnection::SendAll(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (absl::Status s = BoundNextWait(); !s.ok()) return s;
    ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitError("send");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status RespConnection::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char chunk[64 * 1024];
  while (true) {
    if (absl::Status s = BoundNextWait(); !s.ok()) return s;
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitError("recv");
    if (n == 0) return absl::UnavailableError("recv: connection closed by server");
    buf_.append(chunk, static_cast<size_t>(n));
    return absl::OkStatus();
  }
}

absl::Status RespConnection::ReadBulk(size_t len, std::string* out) {
  // Blocks are 512 KiB: take what is buffered, then receive the rest straight into the reply
  // instead of growing buf_ 64 KiB at a time and copying out.
  out->resize(len);
  const size_t buffered = std::min(len, buf_.size() - pos_);
  std::memcpy(out->data(), buf_.data() + pos_, buffered);
  pos_ += buffered;
  size_t done = buffered;
  auto with_progress = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " (", done, " of ", len, " bytes of a bulk reply)"));
  };
  while (done < len) {
    if (absl::Status s = BoundNextWait(); !s.ok()) return with_progress(s);
    ssize_t n = recv(fd_, out->data() + done, len - done, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return with_progress(WaitError("recv"));
    if (n == 0) return with_progress(absl::UnavailableError("recv: connection closed by server"));
    done += static_cast<size_t>(n);
  }
  // The CRLF after the payload.
  while (buf_.size() - pos_ < 2) {
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
  if (buf_.compare(pos_, 2, "\r\n") != 0) return absl::DataLossError("resp: bulk string not followed by CRLF");
  pos_ += 2;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RespConnection::ReadLine() {
  while (true) {
    const size_t end = buf_.find("\r\n", pos_);
    if (end != std::string::npos) {
      std::string line = buf_.substr(pos_, end - pos_);
      pos_ = end + 2;
      return line;
    }
    if (buf_.size() - pos_ > kMaxLine) return absl::DataLossError("resp: line too long");
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
}

absl::StatusOr<RespReply> RespConnection::ReadValue(int depth) {
  if (depth > kMaxDepth) return absl::DataLossError("resp: reply nested too deeply");
  auto line = ReadLine();
  if (!line.ok()) return line.status();
  if (line->empty()) return absl::DataLossError("resp: empty reply line");
  RespReply r;
  const char kind = (*line)[0];
  const std::string_view body = std::string_view(*line).substr(1);
  switch (kind) {
    case '+':
      r.type = RespReply::Type::kSimple;
      r.str = std::string(body);
      return r;
    case '-':
      r.type = RespReply::Type::kError;
      r.str = std::string(body);
      return r;
    case ':':
      r.type = RespReply::Type::kInteger;
      if (!absl::SimpleAtoi(Av(body), &r.integer)) return absl::DataLossError("resp: bad integer");
      return r;
    case '$': {
      int64_t len = 0;
      if (!absl::SimpleAtoi(Av(body), &len) || len < -1 || len > kMaxBulk) {
        return absl::DataLossError("resp: bad bulk length");
      }
      if (len == -1) return r;  // nil
      if (absl::Status s = ReadBulk(static_cast<size_t>(len), &r.str); !s.ok()) return s;
      r.type = RespReply::Type::kBulk;
      return r;
    }
    case '*': {
      int64_t count = 0;
      if (!absl::SimpleAtoi(Av(body), &count) || count < -1 || count > kMaxArray) {
        return absl::DataLossError("resp: bad array length");
      }
      if (count == -1) return r;  // nil
      r.type = RespReply::Type::kArray;
      for (int64_t i = 0; i < count; ++i) {
        auto e = ReadValue(depth + 1);
        if (!e.ok()) return e.status();
        r.elements.push_back(*std::move(e));
      }
      return r;
    }
  }
  return absl::DataLossError(absl::StrCat("resp: unexpected reply type '", std::string(1, kind), "'"));
}

}  // namespace flint
