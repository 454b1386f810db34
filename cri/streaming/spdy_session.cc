#include "cri/streaming/spdy_session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace flint::streaming::spdy {
namespace {

constexpr size_t kMaxDataChunk = 32 * 1024;
// A peer that ignores our receive window may overrun it; beyond this many buffered bytes on one
// stream (or the window we granted, if larger) the reader stops reading the socket until the
// consumer catches up.
constexpr size_t kMinBufferedPerStreamLimit = 1 << 20;

}  // namespace

Stream::Stream(Session* session, uint32_t id, Headers headers)
    : session_(session), id_(id), headers_(std::move(headers)), send_window_(session->initial_send_window_) {}

absl::StatusOr<size_t> Stream::Read(char* buf, size_t len) {
  if (len == 0) return 0;
  uint32_t window_update = 0;
  size_t n = 0;
  {
    std::unique_lock lock(session_->mu_);
    session_->cv_.wait(lock, [&] {
      return recv_bytes_ > 0 || remote_fin_ || reset_ || aborted_ || session_->closed_;
    });
    if (aborted_) return absl::CancelledError("stream aborted");
    if (recv_bytes_ == 0) {
      if (remote_fin_) return 0;
      if (reset_) return absl::UnavailableError("stream reset by peer");
      return absl::UnavailableError("connection closed");
    }
    while (n < len && !recv_.empty()) {
      std::string& front = recv_.front();
      size_t take = std::min(len - n, front.size() - recv_offset_);
      memcpy(buf + n, front.data() + recv_offset_, take);
      n += take;
      recv_offset_ += take;
      if (recv_offset_ == front.size()) {
        recv_.pop_front();
        recv_offset_ = 0;
      }
    }
    recv_bytes_ -= n;
    unacked_ += static_cast<uint32_t>(n);
    if (!remote_fin_ && !reset_ && unacked_ >= session_->options_.receive_window / 2) {
      window_update = unacked_;
      unacked_ = 0;
    }
  }
  session_->cv_.notify_all();  // the reader may wait for the buffer to drain
  if (window_update > 0) (void)session_->WriteFrame(EncodeWindowUpdate(id_, window_update));
  return n;
}

void Stream::Abort() {
  {
    std::lock_guard lock(session_->mu_);
    aborted_ = true;
    recv_.clear();
    recv_bytes_ = 0;
    recv_offset_ = 0;
  }
  session_->cv_.notify_all();
}

absl::StatusOr<std::string> Stream::ReadAll(size_t limit) {
  std::string out;
  char buf[16384];
  for (;;) {
    auto n = Read(buf, sizeof(buf));
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf, *n);
    if (out.size() > limit) return absl::ResourceExhaustedError("stream: too much data");
  }
}

absl::Status Stream::Write(std::string_view data) {
  Session* s = session_;
  while (!data.empty()) {
    size_t n = 0;
    {
      std::unique_lock lock(s->mu_);
      for (;;) {
        if (reset_) return absl::UnavailableError(absl::StrCat("spdy stream ", id_, " reset by peer"));
        if (s->closed_) return absl::UnavailableError("spdy connection closed");
        if (local_fin_) return absl::FailedPreconditionError("spdy stream already closed for writing");
        if (s->peer_ignores_flow_control_) {
          n = std::min(data.size(), kMaxDataChunk);
          break;
        }
        int64_t avail = std::min(send_window_, s->conn_send_window_);
        if (avail > 0) {
          n = std::min({data.size(), kMaxDataChunk, static_cast<size_t>(avail)});
          send_window_ -= static_cast<int64_t>(n);
          s->conn_send_window_ -= static_cast<int64_t>(n);
          break;
        }
        if (s->peer_flow_control_) {
          s->cv_.wait(lock);
          continue;
        }
        bool woke = s->cv_.wait_for(lock, absl::ToChronoMilliseconds(s->options_.flow_control_grace), [&] {
          return s->peer_flow_control_ || s->closed_ || reset_ ||
                 std::min(send_window_, s->conn_send_window_) > 0;
        });
        if (!woke) {
          FLINT_LOG(DEBUG) << "spdy: peer sends no WINDOW_UPDATE; relying on TCP backpressure";
          s->peer_ignores_flow_control_ = true;
        }
      }
    }
    if (auto st = s->WriteFrame(EncodeData(id_, 0, data.substr(0, n))); !st.ok()) return st;
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status Stream::Close() {
  {
    std::lock_guard lock(session_->mu_);
    if (local_fin_ || reset_ || session_->closed_) return absl::OkStatus();
    local_fin_ = true;
  }
  absl::Status st = session_->WriteFrame(EncodeData(id_, kFlagFin, ""));
  std::lock_guard lock(session_->mu_);
  auto it = session_->streams_.find(id_);
  if (it != session_->streams_.end()) session_->MaybeForgetLocked(it->second);
  return st;
}

void Stream::Reset(uint32_t status) {
  {
    std::lock_guard lock(session_->mu_);
    if (reset_ || session_->closed_) return;
    reset_ = true;
    local_fin_ = true;
  }
  session_->cv_.notify_all();
  (void)session_->WriteFrame(EncodeRstStream(id_, status));
  std::lock_guard lock(session_->mu_);
  session_->streams_.erase(id_);
}

Session::Session(std::unique_ptr<Socket> sock, SessionOptions options)
    : sock_(std::move(sock)),
      options_(options),
      conn_receive_window_(std::max(options.receive_window, kInitialWindow)),
      max_buffered_per_stream_(std::max<size_t>(options.receive_window, kMinBufferedPerStreamLimit)),
      next_stream_id_(options.server ? 2 : 1),
      next_ping_id_(options.server ? 2 : 1) {}

absl::Status Session::Ping(absl::Duration timeout) {
  uint32_t id;
  {
    std::lock_guard lock(mu_);
    if (closed_) return absl::UnavailableError("spdy connection closed");
    id = next_ping_id_;
    next_ping_id_ += 2;
  }
  if (auto st = WriteFrame(EncodePing(id)); !st.ok()) return st;
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return last_ping_echoed_ >= id || closed_; })) {
    return absl::DeadlineExceededError("spdy: no PING reply");
  }
  if (last_ping_echoed_ < id) return absl::UnavailableError("spdy connection closed before the PING reply");
  return absl::OkStatus();
}

Session::~Session() {
  {
    std::lock_guard lock(mu_);
    finishing_ = true;
  }
  sock_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

void Session::Start() {
  // Stream windows are replenished relative to receive_window, so a non-default one must be
  // announced, or the peer keeps assuming 64 KiB and waits for updates that never come.
  if (options_.send_settings || options_.receive_window != kInitialWindow) {
    (void)WriteFrame(EncodeSettings({{kSettingsInitialWindowSize, options_.receive_window}}));
  }
  // SETTINGS does not touch the SPDY/3.1 connection window: it starts at 64 KiB whatever the
  // stream windows are. Grow it to match, or a single stream could never use its larger window
  // (and the connection credit is returned in units of half of it).
  if (conn_receive_window_ > kInitialWindow) {
    (void)WriteFrame(EncodeWindowUpdate(0, conn_receive_window_ - kInitialWindow));
  }
  reader_ = std::thread([this] { ReadLoop(); });
}

bool Session::closed() {
  std::lock_guard lock(mu_);
  return closed_;
}

bool Session::peer_flow_control() {
  std::lock_guard lock(mu_);
  return peer_flow_control_;
}

void Session::MarkClosedLocked() {
  closed_ = true;
  cv_.notify_all();
}

void Session::MaybeForgetLocked(const std::shared_ptr<Stream>& s) {
  if ((s->remote_fin_ && s->local_fin_) || s->reset_) streams_.erase(s->id_);
}

absl::Status Session::WriteFrame(std::string_view frame) {
  absl::Status st;
  {
    std::lock_guard wlock(write_mu_);
    st = sock_->WriteAll(frame);
  }
  if (!st.ok()) {
    bool cancel;
    {
      std::lock_guard lock(mu_);
      cancel = !finishing_;
      MarkClosedLocked();
    }
    sock_->Shutdown();
    if (cancel) cancel_.Cancel();
  }
  return st;
}

absl::Status Session::SendHeaderFrame(uint16_t type, uint32_t stream_id, uint8_t flags, const Headers& headers) {
  std::lock_guard wlock(write_mu_);
  auto block = compressor_.Compress(headers);
  if (!block.ok()) return block.status();
  std::string frame = type == kSynReply ? EncodeSynReply(stream_id, flags, *block)
                                        : EncodeSynStream(stream_id, 0, 0, flags, *block);
  return sock_->WriteAll(frame);
}

absl::StatusOr<std::shared_ptr<Stream>> Session::OpenStream(const Headers& headers, bool fin) {
  std::lock_guard wlock(write_mu_);  // ids must reach the wire in increasing order
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard lock(mu_);
    if (closed_) return absl::UnavailableError("spdy connection closed");
    stream = std::make_shared<Stream>(this, next_stream_id_, headers);
    next_stream_id_ += 2;
    stream->local_fin_ = fin;
    streams_[stream->id_] = stream;
  }
  auto block = compressor_.Compress(headers);
  if (!block.ok()) return block.status();
  if (auto st = sock_->WriteAll(EncodeSynStream(stream->id_, 0, 0, fin ? kFlagFin : 0, *block)); !st.ok()) {
    return st;
  }
  return stream;
}

std::shared_ptr<Stream> Session::AcceptStream(absl::Time deadline) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!accept_queue_.empty()) {
      auto s = accept_queue_.front();
      accept_queue_.pop_front();
      return s;
    }
    if (closed_ || finishing_) return nullptr;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return nullptr;
    cv_.wait_for(lock, absl::ToChronoMilliseconds(std::min(left, absl::Seconds(1))) + std::chrono::milliseconds(1));
  }
}

void Session::Finish(absl::Duration timeout) {
  uint32_t last;
  {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    finishing_ = true;
    last = last_peer_stream_id_;
    cv_.notify_all();
  }
  (void)WriteFrame(EncodeGoAway(last, 0));
  sock_->ShutdownWrite();
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return reader_done_; });
  }
  sock_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

void Session::ReadLoop() {
  absl::Status st;
  for (;;) {
    auto frame = ReadFrame(*sock_);
    if (!frame.ok()) {
      st = frame.status();
      break;
    }
    st = frame->control ? HandleControl(*frame) : HandleData(*frame);
    if (!st.ok()) {
      FLINT_LOG(WARN) << "spdy: protocol error, closing connection: " << st;
      (void)WriteFrame(EncodeGoAway(last_peer_stream_id_, 1));
      break;
    }
  }
  bool cancel;
  {
    std::lock_guard lock(mu_);
    cancel = !finishing_;
    MarkClosedLocked();
    reader_done_ = true;
  }
  if (cancel) {
    FLINT_LOG(DEBUG) << "spdy: connection lost: " << st;
    sock_->Shutdown();
    cancel_.Cancel();
  }
}

absl::Status Session::HandleData(const Frame& f) {
  uint32_t conn_update = 0;
  {
    std::unique_lock lock(mu_);
    conn_unacked_ += static_cast<uint32_t>(f.payload.size());
    if (conn_unacked_ >= conn_receive_window_ / 2) {
      conn_update = conn_unacked_;
      conn_unacked_ = 0;
    }
    auto it = streams_.find(f.stream_id);
    if (it != streams_.end() && !it->second->remote_fin_) {
      std::shared_ptr<Stream> s = it->second;
      if (!s->aborted_ && !f.payload.empty()) {
        s->recv_.push_back(f.payload);
        s->recv_bytes_ += f.payload.size();
      }
      if (f.flags & kFlagFin) {
        s->remote_fin_ = true;
        MaybeForgetLocked(s);
      }
      cv_.notify_all();
      cv_.wait(lock, [&] {
        return s->recv_bytes_ <= max_buffered_per_stream_ || s->aborted_ || s->reset_ || finishing_ || closed_;
      });
    }
  }
  // Connection-level window: per-stream buffers are bounded, so return connection credit at once.
  if (conn_update > 0) return WriteFrame(EncodeWindowUpdate(0, conn_update));
  return absl::OkStatus();
}

absl::Status Session::HandleControl(const Frame& f) {
  if (f.version != kVersion) return absl::InvalidArgumentError(absl::StrCat("unsupported SPDY version ", f.version));
  std::string_view body(f.payload);
  switch (f.type) {
    case kSynStream: {
      if (body.size() < 10) return absl::InvalidArgumentError("short SYN_STREAM");
      uint32_t id = ReadU32(body, 0) & 0x7fffffffu;
      auto headers = decompressor_.Decompress(body.substr(10));
      if (!headers.ok()) return headers.status();
      bool peer_parity_ok = options_.server ? (id % 2 == 1) : (id % 2 == 0);
      std::shared_ptr<Stream> stream;
      {
        std::lock_guard lock(mu_);
        if (!peer_parity_ok || id <= last_peer_stream_id_) {
          return absl::InvalidArgumentError(absl::StrCat("bad SYN_STREAM id ", id));
        }
        last_peer_stream_id_ = id;
        if (!finishing_) {
          stream = std::make_shared<Stream>(this, id, *std::move(headers));
          stream->remote_fin_ = (f.flags & kFlagFin) != 0;
          streams_[id] = stream;
        }
      }
      if (!stream) return WriteFrame(EncodeRstStream(id, kRefusedStream));
      // Reply before anyone can write to the stream: peers drop DATA that precedes SYN_REPLY.
      {
        std::lock_guard wlock(write_mu_);
        auto block = compressor_.Compress({});
        if (!block.ok()) return block.status();
        (void)sock_->WriteAll(EncodeSynReply(id, 0, *block));
      }
      std::lock_guard lock(mu_);
      accept_queue_.push_back(std::move(stream));
      cv_.notify_all();
      return absl::OkStatus();
    }
    case kSynReply:
    case kHeaders: {
      if (body.size() < 4) return absl::InvalidArgumentError("short SYN_REPLY/HEADERS");
      // Decompress to keep the zlib context in step; the content is not needed.
      auto headers = decompressor_.Decompress(body.substr(4));
      if (!headers.ok()) return headers.status();
      return absl::OkStatus();
    }
    case kRstStream: {
      uint32_t id = ReadU32(body, 0) & 0x7fffffffu;
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      if (it != streams_.end()) {
        it->second->reset_ = true;
        streams_.erase(it);
        cv_.notify_all();
      }
      return absl::OkStatus();
    }
    case kSettings: {
      uint32_t count = ReadU32(body, 0);
      if (body.size() < 4 + static_cast<size_t>(count) * 8) return absl::InvalidArgumentError("short SETTINGS");
      std::lock_guard lock(mu_);
      peer_flow_control_ = true;
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t id = ReadU32(body, 4 + i * 8) & 0xffffff;
        uint32_t value = ReadU32(body, 8 + i * 8);
        if (id == kSettingsInitialWindowSize) {
          int64_t delta = static_cast<int64_t>(value) - initial_send_window_;
          initial_send_window_ = value;
          for (auto& [sid, s] : streams_) s->send_window_ += delta;
        }
      }
      cv_.notify_all();
      return absl::OkStatus();
    }
    case kPing: {
      uint32_t id = ReadU32(body, 0);
      bool from_peer = options_.server ? (id % 2 == 1) : (id % 2 == 0);
      if (from_peer) return WriteFrame(EncodePing(id));
      std::lock_guard lock(mu_);
      last_ping_echoed_ = std::max(last_ping_echoed_, id);
      cv_.notify_all();
      return absl::OkStatus();
    }
    case kGoAway: {
      // The peer opens no more streams; existing ones continue.
      return absl::OkStatus();
    }
    case kWindowUpdate: {
      uint32_t id = ReadU32(body, 0) & 0x7fffffffu;
      uint32_t delta = ReadU32(body, 4) & 0x7fffffffu;
      std::lock_guard lock(mu_);
      peer_flow_control_ = true;
      if (id == 0) {
        conn_send_window_ += delta;
      } else if (auto it = streams_.find(id); it != streams_.end()) {
        it->second->send_window_ += delta;
      }
      cv_.notify_all();
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();  // unknown control frames are ignored
  }
}

}  // namespace flint::streaming::spdy
