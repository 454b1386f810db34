// Servers for store tests (a real redis-server is common/testutil/redis_server.h): a minimal
// threaded HTTP file server, and a delaying proxy (a scripted RESP server is in common/testutil). Both bind to loopback on
// a free port and are torn down in their destructors.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace flint::flist::testing {

class HttpFileServer {
 public:
  HttpFileServer();
  ~HttpFileServer();
  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Serves `body` at `path` (e.g. "/ab/abcd").
  void Set(const std::string& path, const std::string& body);
  // When set, every request waits this long before answering.
  void SetStallSeconds(int seconds) { stall_seconds_ = seconds; }
  // When set, response bodies are sent 100 bytes at a time with this pause
  // between pieces (headers at once).
  void SetTrickleMillis(int millis) { trickle_millis_ = millis; }
  int requests() const { return requests_; }

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> stall_seconds_{0};
  std::atomic<int> trickle_millis_{0};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::thread thread_;
};

// Forwards connections on a loopback port to 127.0.0.1:target_port, holding
// the first server->client chunk after each client send for `delay`: a
// round trip to a store across a slow network.
class DelayProxy {
 public:
  DelayProxy(int target_port, std::chrono::milliseconds delay);
  ~DelayProxy();
  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  // Client connections accepted so far.
  int connections() const { return connections_; }

 private:
  void Accept();
  // `sent` counts client sends not yet answered (shared by a connection's two pumps).
  void Pump(int from, int to, bool delayed, std::shared_ptr<std::atomic<int>> sent);

  int listen_fd_ = -1;
  int port_ = 0;
  int target_port_;
  std::chrono::milliseconds delay_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace flint::flist::testing
