// RFC 6455 framing plus the Kubernetes channel protocol (one leading channel byte per message).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cri/streaming/cancel.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/runtime.h"
#include "cri/streaming/socket.h"

namespace flint::streaming::ws {

enum Opcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

struct Frame {
  bool fin = true;
  uint8_t opcode = 0;
  std::string payload;  // unmasked
};

// Reads one frame. Server side requires masked frames (RFC 6455 5.1), client side unmasked ones.
absl::StatusOr<Frame> ReadFrame(Socket& sock, bool require_masked, size_t max_payload);
// mask: 4-byte masking key for client frames, nullptr for server frames.
std::string EncodeFrame(uint8_t opcode, std::string_view payload, bool fin = true, const uint8_t* mask = nullptr);
std::string CloseFramePayload(uint16_t code, std::string_view reason);
// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string AcceptKey(std::string_view client_key);

inline constexpr uint8_t kStdinChannel = 0;
inline constexpr uint8_t kStdoutChannel = 1;
inline constexpr uint8_t kStderrChannel = 2;
inline constexpr uint8_t kErrorChannel = 3;
inline constexpr uint8_t kResizeChannel = 4;
inline constexpr uint8_t kCloseChannel = 255;  // v5: payload = channel to half-close

class ChannelConn;

class ChannelInput : public InputStream {
 public:
  ChannelInput(ChannelConn* conn) : conn_(conn) {}
  absl::StatusOr<size_t> Read(char* buf, size_t len) override;
  void Abort() override;

 private:
  friend class ChannelConn;
  ChannelConn* conn_;
  std::deque<std::string> buf_;  // guarded by conn_->mu_
  size_t bytes_ = 0;
  bool eof_ = false;
  bool aborted_ = false;
};

class ChannelOutput : public OutputStream {
 public:
  ChannelOutput(ChannelConn* conn, uint8_t channel) : conn_(conn), channel_(channel) {}
  absl::Status Write(std::string_view data) override;
  absl::Status Close() override { return absl::OkStatus(); }  // channels end with the connection

 private:
  ChannelConn* conn_;
  uint8_t channel_;
};

// Server side of a channel-protocol WebSocket connection (handshake already done).
class ChannelConn {
 public:
  ChannelConn(std::unique_ptr<Socket> sock, bool base64);
  ~ChannelConn();

  // Set up channels before Start().
  ChannelInput* AddInput(uint8_t channel);
  ChannelOutput* AddOutput(uint8_t channel);
  void SetResize(uint8_t channel, ResizeChannel* resize) { resize_channel_ = channel, resize_ = resize; }
  void Start();

  absl::Status WriteMessage(uint8_t channel, std::string_view data);
  // Sends a close frame, waits briefly for the peer's, closes the socket, joins the reader.
  void Finish(uint16_t code = 1000);
  CancelSource& cancel() { return cancel_; }

 private:
  friend class ChannelInput;
  void ReadLoop();
  void Deliver(std::string message);
  absl::Status WriteRaw(std::string_view frame);

  std::unique_ptr<Socket> sock_;
  const bool base64_;
  std::thread reader_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint8_t, std::unique_ptr<ChannelInput>> inputs_;
  std::map<uint8_t, std::unique_ptr<ChannelOutput>> outputs_;
  uint8_t resize_channel_ = 0;
  ResizeChannel* resize_ = nullptr;
  TerminalSizeParser resize_parser_;
  bool closed_ = false;      // connection unusable
  bool finishing_ = false;   // we are ending the session normally
  bool close_sent_ = false;
  bool reader_done_ = false;
  CancelSource cancel_;
};

}  // namespace flint::streaming::ws
