#include "shim/redis_log_publisher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "shim/child_process.h"

namespace flint::shim {
namespace {

constexpr size_t kStackBytes = 256 * 1024;

bool Fail(std::string* error, std::string_view url, const char* why) {
  *error = "logs-redis \"" + std::string(url) + "\": " + why;
  return false;
}

// Waits for `events` on fd until deadline (monotonic ms); false on timeout or error.
bool WaitFd(int fd, short events, int64_t deadline_ms) {
  while (true) {
    int64_t left = deadline_ms - MonotonicNowMs();
    if (left <= 0) return false;
    pollfd pfd{fd, events, 0};
    int n = poll(&pfd, 1, static_cast<int>(left));
    if (n > 0) return (pfd.revents & (POLLERR | POLLNVAL)) == 0 || (pfd.revents & POLLIN);
    if (n < 0 && errno != EINTR) return false;
  }
}

void AppendBulk(std::string* out, std::string_view s) {
  out->append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
}

}  // namespace

bool ParseIpLiteral(std::string_view text, uint16_t port, sockaddr_storage* addr, socklen_t* len) {
  const std::string ip(text);
  *addr = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(*v6);
    return true;
  }
  return false;
}

bool ParseRedisLogTarget(std::string_view url, RedisLogTarget* target, std::string* error) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return Fail(error, url, "want redis://ip:port/stdout-channel[,stderr-channel]");
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return Fail(error, url, "missing /channel");
  std::string_view authority = rest.substr(0, slash);
  std::string_view channels = rest.substr(slash + 1);
  RedisLogTarget t;
  std::string_view port_text;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Fail(error, url, "unterminated [");
    t.ip = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Fail(error, url, "junk after ]");
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    t.ip = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  sockaddr_storage scratch;
  socklen_t scratch_len = 0;
  if (!ParseIpLiteral(t.ip, 0, &scratch, &scratch_len)) return Fail(error, url, "host must be an IP address");
  if (!port_text.empty()) {
    unsigned port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return Fail(error, url, "bad port");
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return Fail(error, url, "bad port");
    t.port = static_cast<uint16_t>(port);
  }
  size_t comma = channels.find(',');
  t.stdout_channel = std::string(channels.substr(0, comma));
  t.stderr_channel = comma == std::string_view::npos ? t.stdout_channel : std::string(channels.substr(comma + 1));
  if (t.stdout_channel.empty() || t.stderr_channel.empty() || t.stderr_channel.find(',') != std::string::npos) {
    return Fail(error, url, "want one or two non-empty channels");
  }
  *target = std::move(t);
  return true;
}

RedisLogPublisher::RedisLogPublisher(RedisLogTarget target, Limits limits, std::string counters_path)
    : target_(std::move(target)), limits_(limits), counters_path_(std::move(counters_path)) {}

RedisLogPublisher::~RedisLogPublisher() {
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  pthread_join(thread_, nullptr);
}

bool RedisLogPublisher::Start(std::string* error) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  // The thread inherits this mask: signals (SIGCHLD into the shim's signalfd) must only ever be
  // pending on the main thread.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int rc = pthread_create(&thread_, &attr, &RedisLogPublisher::ThreadMain, this);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    *error = std::string("logs-redis: start publisher thread: ") + std::strerror(rc);
    return false;
  }
  started_ = true;
  return true;
}

void* RedisLogPublisher::ThreadMain(void* self) {
  static_cast<RedisLogPublisher*>(self)->SenderLoop();
  return nullptr;
}

void RedisLogPublisher::OnRecord(LogStream stream, bool, std::string_view content) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= limits_.max_queued_messages ||
        queued_bytes_ + content.size() > limits_.max_queued_bytes) {
      dropped_.fetch_add(1);
      return;
    }
    const std::string* channel = stream == LogStream::kStdout ? &target_.stdout_channel : &target_.stderr_channel;
    queue_.push_back(Message{channel, std::string(content)});
    queued_bytes_ += content.size();
  }
  cv_.notify_one();
}

int RedisLogPublisher::Connect() const {
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!ParseIpLiteral(target_.ip, target_.port, &addr, &len)) return -1;
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  if (rc != 0 && errno == EINPROGRESS) {
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (WaitFd(fd, POLLOUT, MonotonicNowMs() + limits_.connect_timeout_ms) &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0) {
      rc = 0;
    }
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool RedisLogPublisher::SendBatch(int fd, const std::deque<Message>& batch) {
  std::string wire;
  for (const Message& m : batch) {
    wire.append("*3\r\n");
    AppendBulk(&wire, "PUBLISH");
    AppendBulk(&wire, *m.channel);
    AppendBulk(&wire, m.payload);
  }
  const int64_t deadline = MonotonicNowMs() + limits_.io_timeout_ms;
  size_t sent = 0;
  while (sent < wire.size()) {
    ssize_t n = send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  // PUBLISH answers one line each (":<subscribers>" or "-ERR ..."); the sender only needs the count.
  size_t replies = 0;
  while (replies < batch.size()) {
    size_t crlf = reply_buffer_.find("\r\n");
    if (crlf != std::string::npos) {
      if (reply_buffer_[0] != ':') return false;
      reply_buffer_.erase(0, crlf + 2);
      ++replies;
      continue;
    }
    char chunk[512];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      reply_buffer_.append(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd, POLLIN, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

void RedisLogPublisher::MaybeWriteCounters(bool force) {
  if (counters_path_.empty()) return;
  const uint64_t published = published_.load(), dropped = dropped_.load();
  const bool connected = connected_.load();
  // A cheap fingerprint of the three values: rewrite only when one moved.
  const uint64_t fingerprint = published * 3 + dropped * 7 + (connected ? 1 : 0);
  const int64_t now = MonotonicNowMs();
  if (fingerprint == counters_written_sum_ || (!force && now - counters_written_ms_ < 1000)) return;
  std::string body = "{\"published\":" + std::to_string(published) + ",\"dropped\":" + std::to_string(dropped) +
                     ",\"connected\":" + (connected ? "true" : "false") + "}\n";
  std::string tmp = counters_path_ + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return;
  bool ok = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
  close(fd);
  if (ok && rename(tmp.c_str(), counters_path_.c_str()) == 0) {
    counters_written_sum_ = fingerprint;
    counters_written_ms_ = now;
  } else {
    unlink(tmp.c_str());
  }
}

void RedisLogPublisher::SenderLoop() {
  int fd = -1;
  int backoff_ms = limits_.min_backoff_ms;
  int64_t next_attempt_ms = 0;
  std::deque<Message> batch;
  MaybeWriteCounters(true);

  int64_t flush_deadline_ms = -1;  // set once stopping: the final flush gets io_timeout_ms in all
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // Wakes at least once a second so the counters file follows drops made while idle.
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || !queue_.empty(); });
    if (stopping_ && flush_deadline_ms < 0) flush_deadline_ms = MonotonicNowMs() + limits_.io_timeout_ms;
    if (stopping_ && (queue_.empty() || fd < 0 || MonotonicNowMs() >= flush_deadline_ms)) break;
    if (queue_.empty()) {
      lock.unlock();
      MaybeWriteCounters(false);
      lock.lock();
      continue;
    }
    if (fd < 0) {
      int64_t now = MonotonicNowMs();
      if (now < next_attempt_ms) {
        cv_.wait_for(lock, std::chrono::milliseconds(next_attempt_ms - now), [this] { return stopping_; });
        lock.unlock();
        MaybeWriteCounters(false);
        lock.lock();
        continue;
      }
      lock.unlock();
      fd = Connect();
      lock.lock();
      if (fd < 0) {
        next_attempt_ms = MonotonicNowMs() + backoff_ms;
        backoff_ms = std::min(backoff_ms * 2, limits_.max_backoff_ms);
        continue;
      }
      connected_ = true;
      backoff_ms = limits_.min_backoff_ms;
      reply_buffer_.clear();
    }
    batch.clear();
    while (!queue_.empty() && batch.size() < limits_.max_batch) {
      queued_bytes_ -= queue_.front().payload.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    bool ok = SendBatch(fd, batch);
    if (ok) {
      published_.fetch_add(batch.size());
    } else {
      dropped_.fetch_add(batch.size());
      close(fd);
      fd = -1;
      connected_ = false;
      next_attempt_ms = MonotonicNowMs() + backoff_ms;
      backoff_ms = std::min(backoff_ms * 2, limits_.max_backoff_ms);
    }
    MaybeWriteCounters(false);
    lock.lock();
  }
  dropped_.fetch_add(queue_.size());
  queue_.clear();
  queued_bytes_ = 0;
  lock.unlock();
  if (fd >= 0) close(fd);
  connected_ = false;
  MaybeWriteCounters(true);
}

}  // namespace flint::shim
