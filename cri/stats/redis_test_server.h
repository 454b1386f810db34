// Test helper: a real redis-server child on a free loopback port, killed on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace flint::stats::testing {

class RedisTestServer {
 public:
  // Starts redis-server (no persistence) and waits until it answers PING. `port` 0 picks one.
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> Start(uint16_t port = 0);
  ~RedisTestServer();
  uint16_t port() const { return port_; }
  // SIGKILL + reap; the port is free afterwards.
  void Kill();

 private:
  RedisTestServer(pid_t pid, uint16_t port) : pid_(pid), port_(port) {}
  pid_t pid_;
  uint16_t port_;
};

uint16_t PickFreeLoopbackPort();

}  // namespace flint::stats::testing
