// Test-only SPDY and WebSocket clients for the streaming server.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/streaming/http.h"
#include "cri/streaming/socket.h"
#include "cri/streaming/spdy_session.h"
#include "cri/streaming/websocket.h"

namespace flint::streaming::testing {

struct HttpResult {
  int status = 0;
  HttpHead head;
  std::string body;              // non-101 responses
  std::unique_ptr<Socket> sock;  // 101 responses: the upgraded connection
};

// Sends `method url` with headers and reads the response (body until close for non-101).
absl::StatusOr<HttpResult> SendHttp(const std::string& url, const std::string& method,
                                    const std::vector<std::pair<std::string, std::string>>& headers);

struct SpdyExecOptions {
  bool stdin = false;
  bool stdout = true;
  bool stderr = false;
  bool tty = false;
  std::vector<std::string> protocols = {"v4.channel.k8s.io"};
  // Per-stream receive window advertised in SETTINGS.
  uint32_t receive_window = 64 * 1024;
  // Tunnel SPDY through WebSocket ("SPDY/3.1+<protocol>") instead of the SPDY upgrade.
  bool websocket_tunnel = false;
};

// The transport of client-go's SPDY-over-WebSocket dialer (`crictl port-forward --transport
// websocket`, kubectl >= 1.30): a WebSocket handshake offering "SPDY/3.1+" + each protocol, then
// SPDY inside binary messages. *chosen receives the SPDY protocol the server picked.
absl::StatusOr<std::unique_ptr<Socket>> DialSpdyOverWebSocket(const std::string& url,
                                                              const std::vector<std::string>& spdy_protocols,
                                                              std::string* chosen);

// A remotecommand client session: upgrade + one SPDY stream per channel, like client-go.
struct SpdyExecSession {
  std::string protocol;
  std::unique_ptr<spdy::Session> session;
  std::shared_ptr<spdy::Stream> error, in, out, err, resize;
  ~SpdyExecSession();
};
absl::StatusOr<std::unique_ptr<SpdyExecSession>> StartSpdyExec(const std::string& url, const SpdyExecOptions& opts);

struct ExecResult {
  std::string stdout_data;
  std::string stderr_data;
  std::string error;  // error-stream content
};
// Runs a whole session: sends stdin_data (then FIN) and collects outputs.
absl::StatusOr<ExecResult> RunSpdyExec(const std::string& url, const SpdyExecOptions& opts,
                                       const std::string& stdin_data = "");

class WsClient {
 public:
  // protocols: offered Sec-WebSocket-Protocol values.
  static absl::StatusOr<std::unique_ptr<WsClient>> Connect(const std::string& url,
                                                           const std::vector<std::string>& protocols,
                                                           HttpResult* failed_response = nullptr);
  const std::string& protocol() const { return protocol_; }
  // Sends a channel message; fragment > 0 splits it into frames of that size.
  absl::Status Send(uint8_t channel, std::string_view data, size_t fragment = 0);
  absl::Status SendFrame(uint8_t opcode, std::string_view payload, bool fin = true);
  // Next complete data or close message (pings are answered, pongs skipped).
  absl::StatusOr<ws::Frame> ReadMessage();
  Socket& socket() { return *sock_; }
  // Hands over the connection (e.g. to carry a SPDY tunnel); the client is unusable afterwards.
  std::unique_ptr<Socket> ReleaseSocket() { return std::move(sock_); }

 private:
  std::unique_ptr<Socket> sock_;
  std::string protocol_;
};

}  // namespace flint::streaming::testing
