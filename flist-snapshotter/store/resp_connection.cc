#include "flist-snapshotter/store/resp_connection.h"

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
#include "common/resolve.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {
namespace {

// 0-db payloads are at most 8 MiB; leave room but stay bounded.
constexpr int64_t kMaxBulk = 64 * 1024 * 1024;
constexpr int kMaxDepth = 8;

absl::Status IoError(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(Av(what), ": ", std::strerror(errno)));
}

void SetSocketTimeout(int fd, int option, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

absl::StatusOr<int> ConnectOne(const net::ResolvedAddress& address, std::chrono::milliseconds timeout) {
  int fd = socket(address.family, address.socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address.protocol);
  if (fd < 0) return IoError("socket");
  if (connect(fd, address.sockaddr_ptr(), address.addrlen) != 0) {
    if (errno != EINPROGRESS) {
      absl::Status s = IoError("connect");
      close(fd);
      return s;
    }
    pollfd p{fd, POLLOUT, 0};
    int rc = poll(&p, 1, static_cast<int>(timeout.count()));
    int err = 0;
    socklen_t len = sizeof(err);
    if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      close(fd);
      if (rc == 0) return absl::DeadlineExceededError("connect: timed out");
      errno = err != 0 ? err : errno;
      return IoError("connect");
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  SetSocketTimeout(fd, SO_RCVTIMEO, timeout);
  SetSocketTimeout(fd, SO_SNDTIMEO, timeout);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RespConnection>> RespConnection::Connect(
    const std::string& host, int port, std::chrono::milliseconds io_timeout,
    std::chrono::milliseconds reply_timeout) {
  auto addresses = net::Resolve(host, std::to_string(port), AF_UNSPEC, SOCK_STREAM, io_timeout);
  if (!addresses.ok()) return addresses.status();
  absl::Status last = absl::UnavailableError("no addresses");
  for (const net::ResolvedAddress& address : *addresses) {
    auto fd = ConnectOne(address, io_timeout);
    if (fd.ok()) return std::unique_ptr<RespConnection>(new RespConnection(*fd, io_timeout, reply_timeout));
    last = fd.status();
  }
  return absl::Status(last.code(), absl::StrCat(host, ":", port, ": ", last.message()));
}

RespConnection::~RespConnection() { close(fd_); }

absl::StatusOr<RespReply> RespConnection::Command(const std::vector<std::string_view>& args) {
  std::string req = absl::StrCat("*", args.size(), "\r\n");
  for (std::string_view a : args) {
    absl::StrAppend(&req, "$", a.size(), "\r\n");
    req.append(a);
    req.append("\r\n");
  }
  deadline_ = std::chrono::steady_clock::now() + reply_timeout_;
  if (timeouts_shortened_) {
    SetSocketTimeout(fd_, SO_RCVTIMEO, io_timeout_);
    SetSocketTimeout(fd_, SO_SNDTIMEO, io_timeout_);
    timeouts_shortened_ = false;
  }
  size_t sent = 0;
  while (sent < req.size()) {
    if (absl::Status s = BoundNextWait(SO_SNDTIMEO); !s.ok()) return s;
    ssize_t n = send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitError("send");
    sent += static_cast<size_t>(n);
  }
  return ReadReply(0);
}

absl::Status RespConnection::BoundNextWait(int option) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) return ReplyDeadlineError();
  if (left < io_timeout_) {  // 0 would mean "no timeout"
    SetSocketTimeout(fd_, option, std::max(left, std::chrono::milliseconds(1)));
    timeouts_shortened_ = true;
  }
  return absl::OkStatus();
}

absl::Status RespConnection::ReplyDeadlineError() const {
  return absl::DeadlineExceededError(absl::StrCat("reply not complete after ", reply_timeout_.count(), " ms"));
}

absl::Status RespConnection::WaitError(std::string_view what) {
  if (errno != EAGAIN && errno != EWOULDBLOCK) return IoError(what);
  if (std::chrono::steady_clock::now() >= deadline_) return ReplyDeadlineError();
  return absl::DeadlineExceededError(absl::StrCat(Av(what), ": nothing for ", io_timeout_.count(), " ms"));
}

absl::Status RespConnection::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char chunk[64 * 1024];
  while (true) {
    if (absl::Status s = BoundNextWait(SO_RCVTIMEO); !s.ok()) return s;
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitError("recv");
    if (n == 0) return absl::UnavailableError("recv: connection closed by server");
    buf_.append(chunk, static_cast<size_t>(n));
    return absl::OkStatus();
  }
}

absl::Status RespConnection::ReadBulk(size_t len, std::string* out) {
  // Blocks are 512 KiB: take what is buffered, then receive the rest straight
  // into the reply instead of growing buf_ 64 KiB at a time and copying out.
  out->resize(len);
  const size_t buffered = std::min(len, buf_.size() - pos_);
  std::memcpy(out->data(), buf_.data() + pos_, buffered);
  pos_ += buffered;
  size_t done = buffered;
  auto with_progress = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " (", done, " of ", len, " bytes of a bulk reply)"));
  };
  while (done < len) {
    if (absl::Status s = BoundNextWait(SO_RCVTIMEO); !s.ok()) return with_progress(s);
    ssize_t n = recv(fd_, out->data() + done, len - done, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return with_progress(WaitError("recv"));
    if (n == 0) return absl::UnavailableError("recv: connection closed by server");
    done += static_cast<size_t>(n);
  }
  // The CRLF after the payload.
  while (buf_.size() - pos_ < 2) {
    if (auto s = Fill(); !s.ok()) return s;
  }
  if (buf_.compare(pos_, 2, "\r\n") != 0) return absl::DataLossError("resp: bulk string not followed by CRLF");
  pos_ += 2;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RespConnection::ReadLine() {
  while (true) {
    size_t end = buf_.find("\r\n", pos_);
    if (end != std::string::npos) {
      std::string line = buf_.substr(pos_, end - pos_);
      pos_ = end + 2;
      return line;
    }
    if (buf_.size() - pos_ > 64 * 1024) return absl::DataLossError("resp: line too long");
    if (auto s = Fill(); !s.ok()) return s;
  }
}

absl::StatusOr<RespReply> RespConnection::ReadReply(int depth) {
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
      if (auto s = ReadBulk(static_cast<size_t>(len), &r.str); !s.ok()) return s;
      r.type = RespReply::Type::kBulk;
      return r;
    }
    case '*': {
      int64_t count = 0;
      if (!absl::SimpleAtoi(Av(body), &count) || count < -1 || count > 1024 * 1024) {
        return absl::DataLossError("resp: bad array length");
      }
      if (count == -1) return r;
      r.type = RespReply::Type::kArray;
      for (int64_t i = 0; i < count; ++i) {
        auto e = ReadReply(depth + 1);
        if (!e.ok()) return e.status();
        r.elements.push_back(*std::move(e));
      }
      return r;
    }
  }
  return absl::DataLossError(absl::StrCat("resp: unexpected reply type '", std::string(1, kind), "'"));
}

}  // namespace flint::flist
