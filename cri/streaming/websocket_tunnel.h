// SPDY tunnelled through WebSocket: the "SPDY/3.1+<protocol>" subprotocols that client-go's
// SPDY-over-WebSocket dialer offers (kubectl >= 1.30 PortForwardWebsockets,
// `crictl port-forward --transport websocket`). The SPDY byte stream travels in binary
// WebSocket messages whose boundaries carry no meaning; a normal close is the end of stream.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cri/streaming/socket.h"

namespace flint::streaming::ws {

inline constexpr char kSpdyTunnelPrefix[] = "SPDY/3.1+";
inline constexpr size_t kSpdyTunnelPrefixLength = sizeof(kSpdyTunnelPrefix) - 1;

class TunnelSocket : public Socket {
 public:
  enum class Role { kServer, kClient };  // clients mask their frames, servers must not
  TunnelSocket(std::unique_ptr<Socket> inner, Role role);

  // Payload bytes of binary messages; 0 once the peer sent its close frame.
  absl::StatusOr<size_t> ReadSome(char* buf, size_t len) override;
  // Sends data as one binary message (thread-safe against the reader's control replies).
  absl::Status WriteAll(std::string_view data) override;
  void Shutdown() override { inner_->Shutdown(); }
  // Sends a normal close (1000); the peer answers with its own close.
  void ShutdownWrite() override;

 private:
  absl::Status WriteFrameLocked(uint8_t opcode, std::string_view payload);

  std::unique_ptr<Socket> inner_;
  const Role role_;
  // Reader side (one reader thread).
  std::string message_;
  size_t offset_ = 0;
  bool peer_closed_ = false;
  // Writer side.
  std::mutex write_mu_;
  bool close_sent_ = false;
};

}  // namespace flint::streaming::ws
