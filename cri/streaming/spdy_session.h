// One SPDY/3.1 connection: a reader thread demultiplexes frames into streams; writers share the
// socket under a lock. Used by the server and (in the client role) by the tests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cri/streaming/cancel.h"
#include "cri/streaming/runtime.h"
#include "cri/streaming/socket.h"
#include "cri/streaming/spdy_framer.h"

namespace flint::streaming::spdy {

class Session;

class Stream : public InputStream, public OutputStream {
 public:
  Stream(Session* session, uint32_t id, Headers headers);
  uint32_t id() const { return id_; }
  const Headers& headers() const { return headers_; }
  std::string Header(std::string_view name) const { return FindHeader(headers_, name); }

  absl::StatusOr<size_t> Read(char* buf, size_t len) override;
  void Abort() override;
  absl::Status Write(std::string_view data) override;
  absl::Status Close() override;  // FIN
  void Reset(uint32_t status = kCancel);
  // Reads everything up to FIN (tests, small streams).
  absl::StatusOr<std::string> ReadAll(size_t limit = 16 << 20);

 private:
  friend class Session;
  Session* session_;
  const uint32_t id_;
  const Headers headers_;
  // Guarded by session_->mu_.
  std::deque<std::string> recv_;
  size_t recv_bytes_ = 0;
  size_t recv_offset_ = 0;  // consumed bytes of recv_.front()
  uint32_t unacked_ = 0;    // consumed but not yet returned via WINDOW_UPDATE
  bool remote_fin_ = false;
  bool local_fin_ = false;
  bool reset_ = false;
  bool aborted_ = false;
  int64_t send_window_;
};

struct SessionOptions {
  bool server = true;
  // Per-stream receive window we grant (and replenish as the consumer reads); a non-default value
  // is announced in SETTINGS and the connection window is grown to match.
  uint32_t receive_window = kInitialWindow;
  // Send SETTINGS even for the default window (compliant-client behaviour in tests).
  bool send_settings = false;
  // Peers that never take part in flow control (Go spdystream does not) are detected: when our
  // send window runs out and the peer never sent SETTINGS/WINDOW_UPDATE, wait this long for a
  // first WINDOW_UPDATE and then stop enforcing send windows (TCP still applies backpressure).
  absl::Duration flow_control_grace = absl::Milliseconds(250);
};

class Session {
 public:
  Session(std::unique_ptr<Socket> sock, SessionOptions options);
  ~Session();  // Closes and joins.
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start();
  // Next stream opened by the peer; nullptr on timeout or when the connection is gone.
  std::shared_ptr<Stream> AcceptStream(absl::Time deadline);
  // Client role: opens a stream (SYN_STREAM). fin = no data from us.
  absl::StatusOr<std::shared_ptr<Stream>> OpenStream(const Headers& headers, bool fin = false);
  // Round trip: sends a PING and waits (up to timeout) for the peer to echo it.
  absl::Status Ping(absl::Duration timeout = absl::Seconds(5));
  // Graceful end: GOAWAY, half-close, wait up to timeout for the peer to close, then close.
  void Finish(absl::Duration timeout = absl::Seconds(5));
  // Fires when the connection is lost before Finish().
  CancelSource& cancel() { return cancel_; }
  bool closed();
  // True once the peer showed it implements flow control.
  bool peer_flow_control();

 private:
  friend class Stream;
  void ReadLoop();
  absl::Status HandleControl(const Frame& f);
  absl::Status HandleData(const Frame& f);
  absl::Status WriteFrame(std::string_view frame);
  absl::Status SendHeaderFrame(uint16_t type, uint32_t stream_id, uint8_t flags, const Headers& headers);
  void MarkClosedLocked();
  void MaybeForgetLocked(const std::shared_ptr<Stream>& s);

  std::unique_ptr<Socket> sock_;
  SessionOptions options_;
  const uint32_t conn_receive_window_;  // connection-level window we grant
  const size_t max_buffered_per_stream_;
  std::thread reader_;

  std::mutex write_mu_;  // socket writes + compressor (compression order == wire order)
  HeaderCompressor compressor_;
  HeaderDecompressor decompressor_;  // reader thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, std::shared_ptr<Stream>> streams_;
  std::deque<std::shared_ptr<Stream>> accept_queue_;
  uint32_t next_stream_id_;
  uint32_t last_peer_stream_id_ = 0;
  int64_t conn_send_window_ = kInitialWindow;
  uint32_t conn_unacked_ = 0;
  int64_t initial_send_window_ = kInitialWindow;
  uint32_t next_ping_id_;
  uint32_t last_ping_echoed_ = 0;
  bool peer_flow_control_ = false;
  bool peer_ignores_flow_control_ = false;
  bool closed_ = false;
  bool finishing_ = false;
  bool reader_done_ = false;
  CancelSource cancel_;
};

}  // namespace flint::streaming::spdy
