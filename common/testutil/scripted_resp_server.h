// Test helper: a RESP server on loopback that answers with canned replies, for the client's
// framing, pacing and timeout paths that a real redis-server cannot be made to show.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace flint::testutil {

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

}  // namespace flint::testutil
