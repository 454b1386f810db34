// Test helper shared by the store, sink and e2e tests: a real redis-server child process on a
// loopback port, with no persistence, in a private directory; stopped and removed on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/testutil/loopback.h"  // PickFreeLoopbackPort, for tests that need a dead port

namespace flint::testutil {

class RedisServer {
 public:
  // Starts redis-server (with `requirepass` when `password` is not empty) and waits until it
  // answers PING. `port` 0 picks a free one (and another if that one was taken meanwhile).
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(uint16_t port = 0, const std::string& password = "");
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  // SIGKILL and reap, as a crash would; the port is free afterwards.
  void Kill();

 private:
  RedisServer(std::string dir, uint16_t port) : dir_(std::move(dir)), port_(port) {}
  // Spawns the server and waits for its PONG; on failure nothing is left running.
  absl::Status Run(const std::string& password);

  std::string dir_;
  uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace flint::testutil
