// Real servers for store tests: a private redis-server child process and a
// minimal threaded HTTP file server. Both bind to loopback on a free port and
// are torn down in their destructors.
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

// Returns a port that was free a moment ago.
int PickFreePort();

class RedisServer {
 public:
  // Starts redis-server (with `requirepass` when non-empty) and waits until it
  // answers PING. ok() is false when it could not be started.
  explicit RedisServer(const std::string& password = "");
  ~RedisServer();
  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

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

// A RESP server that answers each command with the next canned reply, written
// in `piece_bytes` pieces so that replies straddle recv() calls, with `pause`
// after each piece (a server trickling its reply when non-zero). It serves one
// connection at a time, each from the first reply.
class ScriptedRespServer {
 public:
  explicit ScriptedRespServer(std::vector<std::string> replies, size_t piece_bytes = 1000,
                              std::chrono::milliseconds pause = std::chrono::milliseconds(0));
  ~ScriptedRespServer();
  int port() const { return port_; }  // 0 when it could not listen
  // Connections accepted and commands received so far.
  int connections() const { return connections_; }
  int commands() const { return commands_; }

 private:
  void Serve();
  void ServeConnection(int fd);

  std::vector<std::string> replies_;
  size_t piece_bytes_;
  std::chrono::milliseconds pause_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> commands_{0};
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace flint::flist::testing
