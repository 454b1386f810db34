// A tiny HTTP/1.x listener that serves GET /metrics (Prometheus text) and nothing else.
// One thread; each connection is handled to completion with 2 s socket timeouts, then closed.
// Opt-in: flintd starts it only when a metrics address is configured.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace flint::stats {

class MetricsHttpServer {
 public:
  using BodyFn = std::function<std::string()>;
  // `address` is "host:port" ("127.0.0.1:9090", "[::1]:0", ":9090" = all interfaces); port 0 picks one.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address, BodyFn body);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int wake_fd, uint16_t port, BodyFn body);
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_;
  int wake_fd_;
  uint16_t port_;
  BodyFn body_;
  std::thread thread_;
};

}  // namespace flint::stats
