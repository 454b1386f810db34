#include "flist-snapshotter/store/test_servers.h"

#include "common/testutil/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace flint::flist::testing {

using ::flint::testutil::ListenOnLoopback;

HttpFileServer::HttpFileServer() {
  listen_fd_ = ListenOnLoopback(16, &port_);
  if (listen_fd_ < 0) return;
  thread_ = std::thread([this] { Serve(); });
}

HttpFileServer::~HttpFileServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpFileServer::Set(const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = body;
}

void HttpFileServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void HttpFileServer::Handle(int fd) {
  ++requests_;
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  for (int waited = 0; waited < stall_seconds_ * 10 && !stop_; ++waited) usleep(100 * 1000);
  const size_t sp1 = req.find(' ');
  const size_t sp2 = req.find(' ', sp1 + 1);
  const std::string method = req.substr(0, sp1);
  const std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string body;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(path);
    if (it != files_.end()) {
      found = true;
      body = it->second;
    }
  }
  std::string resp = found ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n";
  if (!found) body = "not found";
  resp += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (method != "HEAD") resp += body;
  const size_t head_bytes = resp.size() - (method != "HEAD" ? body.size() : 0);
  size_t sent = 0;
  while (sent < resp.size() && !stop_) {
    const int trickle = trickle_millis_;
    size_t piece = resp.size() - sent;
    if (trickle > 0) piece = sent < head_bytes ? head_bytes - sent : std::min<size_t>(100, piece);
    ssize_t n = send(fd, resp.data() + sent, piece, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
    if (trickle > 0 && sent > head_bytes) usleep(static_cast<useconds_t>(trickle) * 1000);
  }
}

DelayProxy::DelayProxy(int target_port, std::chrono::milliseconds delay)
    : target_port_(target_port), delay_(delay) {
  listen_fd_ = ListenOnLoopback(64, &port_);
  if (listen_fd_ < 0) return;
  acceptor_ = std::thread([this] { Accept(); });
}

DelayProxy::~DelayProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
  for (auto& t : pumps_) t.join();
  for (int fd : fds_) close(fd);
  if (listen_fd_ >= 0) close(listen_fd_);
}

void DelayProxy::Accept() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(server);
      close(client);
      continue;
    }
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(client);
    fds_.push_back(server);
    auto sent = std::make_shared<std::atomic<int>>(0);
    pumps_.emplace_back([this, client, server, sent] { Pump(client, server, false, sent); });
    pumps_.emplace_back([this, client, server, sent] { Pump(server, client, true, sent); });
  }
}

void DelayProxy::Pump(int from, int to, bool delayed, std::shared_ptr<std::atomic<int>> sent) {
  char buf[65536];
  while (!stop_) {
    pollfd p{from, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0) break;
    if (!delayed) {
      ++*sent;
    } else if (sent->exchange(0) > 0) {
      std::this_thread::sleep_for(delay_);  // the start of a reply: one round trip
    }
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
      if (w <= 0) return;
      done += w;
    }
  }
  shutdown(to, SHUT_WR);
}

}  // namespace flint::flist::testing
