// A connected stream socket with an optional buffer of already-received bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flint::streaming {

// Byte-stream transport. Subclasses (the SPDY-over-WebSocket tunnel) carry the stream inside
// another protocol; they override the virtual operations and pass fd -1.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  virtual ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  // Bytes read past the HTTP headers are handed back here and returned by the next reads.
  void Unread(std::string bytes) { pending_ = std::move(bytes) + pending_; }

  // Reads up to len bytes (at least 1); 0 at EOF.
  virtual absl::StatusOr<size_t> ReadSome(char* buf, size_t len);
  // Reads exactly len bytes; OutOfRange on EOF before that (Unavailable if EOF at offset 0).
  absl::Status ReadFull(char* buf, size_t len);
  // Not thread-safe: callers serialize writes.
  virtual absl::Status WriteAll(std::string_view data);
  // Wakes up blocked readers/writers (shutdown(2)); the fd stays open until destruction.
  virtual void Shutdown();
  virtual void ShutdownWrite();

 private:
  int fd_;
  std::string pending_;
};

// Listens on host:port (port 0 = ephemeral). Returns the fd; *bound_port receives the port.
absl::StatusOr<int> ListenTcp(const std::string& host, int port, int* bound_port);
// Connects to host:port (tests, fake runtime).
absl::StatusOr<int> ConnectTcp(const std::string& host, int port);

}  // namespace flint::streaming
