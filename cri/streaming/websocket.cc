#include "cri/streaming/websocket.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace flint::streaming::ws {
namespace {

constexpr size_t kMaxMessage = 16 << 20;
constexpr size_t kMaxChunk = 32 * 1024;
constexpr size_t kMaxBufferedPerChannel = 1 << 20;

}  // namespace

std::string AcceptKey(std::string_view client_key) {
  std::string in = absl::StrCat(std::string(client_key), "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string EncodeFrame(uint8_t opcode, std::string_view payload, bool fin, const uint8_t* mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f)));
  uint8_t mask_bit = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xffff) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size()));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(uint64_t{payload.size()} >> shift));
  }
  if (mask) {
    out.append(reinterpret_cast<const char*>(mask), 4);
    size_t start = out.size();
    out.append(payload);
    for (size_t i = 0; i < payload.size(); ++i) out[start + i] = static_cast<char>(out[start + i] ^ mask[i % 4]);
  } else {
    out.append(payload);
  }
  return out;
}

std::string CloseFramePayload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code));
  out.append(reason.substr(0, 123));
  return out;
}

absl::StatusOr<Frame> ReadFrame(Socket& sock, bool require_masked, size_t max_payload) {
  unsigned char head[2];
  if (auto st = sock.ReadFull(reinterpret_cast<char*>(head), 2); !st.ok()) return st;
  Frame f;
  f.fin = (head[0] & 0x80) != 0;
  if (head[0] & 0x70) return absl::InvalidArgumentError("websocket: reserved bits set");
  f.opcode = head[0] & 0x0f;
  bool masked = (head[1] & 0x80) != 0;
  if (masked != require_masked) {
    return absl::InvalidArgumentError(require_masked ? "websocket: unmasked client frame"
                                                     : "websocket: masked server frame");
  }
  uint64_t len = head[1] & 0x7f;
  if (len >= 126) {
    unsigned char ext[8];
    size_t n = len == 126 ? 2 : 8;
    if (auto st = sock.ReadFull(reinterpret_cast<char*>(ext), n); !st.ok()) return st;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | ext[i];
  }
  bool control = f.opcode >= 8;
  if (control && (len > 125 || !f.fin)) return absl::InvalidArgumentError("websocket: bad control frame");
  if (len > max_payload) return absl::ResourceExhaustedError("websocket: frame too large");
  unsigned char mask[4] = {0, 0, 0, 0};
  if (masked) {
    if (auto st = sock.ReadFull(reinterpret_cast<char*>(mask), 4); !st.ok()) return st;
  }
  f.payload.resize(len);
  if (len > 0) {
    if (auto st = sock.ReadFull(f.payload.data(), len); !st.ok()) return st;
  }
  if (masked) {
    for (size_t i = 0; i < len; ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ mask[i % 4]);
  }
  return f;
}

absl::StatusOr<size_t> ChannelInput::Read(char* buf, size_t len) {
  if (len == 0) return 0;
  size_t n = 0;
  {
    std::unique_lock lock(conn_->mu_);
    conn_->cv_.wait(lock, [&] { return bytes_ > 0 || eof_ || aborted_ || conn_->closed_; });
    if (aborted_) return absl::CancelledError("channel aborted");
    if (bytes_ == 0) {
      if (eof_) return 0;
      return absl::UnavailableError("websocket connection closed");
    }
    while (n < len && !buf_.empty()) {
      std::string& front = buf_.front();
      size_t take = std::min(len - n, front.size());
      memcpy(buf + n, front.data(), take);
      n += take;
      if (take == front.size()) {
        buf_.pop_front();
      } else {
        front.erase(0, take);
      }
    }
    bytes_ -= n;
  }
  conn_->cv_.notify_all();
  return n;
}

void ChannelInput::Abort() {
  {
    std::lock_guard lock(conn_->mu_);
    aborted_ = true;
    buf_.clear();
    bytes_ = 0;
  }
  conn_->cv_.notify_all();
}

absl::Status ChannelOutput::Write(std::string_view data) {
  if (data.empty()) return absl::OkStatus();
  return conn_->WriteMessage(channel_, data);
}

ChannelConn::ChannelConn(std::unique_ptr<Socket> sock, bool base64) : sock_(std::move(sock)), base64_(base64) {}

ChannelConn::~ChannelConn() {
  {
    std::lock_guard lock(mu_);
    finishing_ = true;
  }
  sock_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

ChannelInput* ChannelConn::AddInput(uint8_t channel) {
  auto& slot = inputs_[channel];
  slot = std::make_unique<ChannelInput>(this);
  return slot.get();
}

ChannelOutput* ChannelConn::AddOutput(uint8_t channel) {
  auto& slot = outputs_[channel];
  slot = std::make_unique<ChannelOutput>(this, channel);
  return slot.get();
}

void ChannelConn::Start() {
  reader_ = std::thread([this] { ReadLoop(); });
}

absl::Status ChannelConn::WriteRaw(std::string_view frame) {
  absl::Status st;
  {
    std::lock_guard wlock(write_mu_);
    {
      std::lock_guard lock(mu_);
      if (closed_) return absl::UnavailableError("websocket connection closed");
    }
    st = sock_->WriteAll(frame);
  }
  if (!st.ok()) {
    bool cancel;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      cancel = !finishing_;
    }
    cv_.notify_all();
    sock_->Shutdown();
    if (cancel) cancel_.Cancel();
  }
  return st;
}

absl::Status ChannelConn::WriteMessage(uint8_t channel, std::string_view data) {
  do {
    std::string_view chunk = data.substr(0, kMaxChunk);
    data.remove_prefix(chunk.size());
    std::string payload;
    if (base64_) {
      payload.push_back(static_cast<char>('0' + channel));
      payload += absl::Base64Escape(absl::string_view(chunk.data(), chunk.size()));
    } else {
      payload.push_back(static_cast<char>(channel));
      payload.append(chunk);
    }
    if (auto st = WriteRaw(EncodeFrame(base64_ ? kText : kBinary, payload)); !st.ok()) return st;
  } while (!data.empty());
  return absl::OkStatus();
}

void ChannelConn::Deliver(std::string message) {
  if (message.empty()) return;
  uint8_t channel;
  std::string data;
  if (base64_) {
    if (message[0] < '0' || message[0] > '9') return;
    channel = static_cast<uint8_t>(message[0] - '0');
    std::string decoded;
    if (!absl::Base64Unescape(absl::string_view(message).substr(1), &decoded)) return;
    data = std::move(decoded);
  } else {
    channel = static_cast<uint8_t>(message[0]);
    data = message.substr(1);
  }
  std::unique_lock lock(mu_);
  if (channel == kCloseChannel) {
    if (data.empty()) return;
    auto it = inputs_.find(static_cast<uint8_t>(data[0]));
    if (it != inputs_.end()) it->second->eof_ = true;
    cv_.notify_all();
    return;
  }
  if (resize_ && channel == resize_channel_) {
    for (const TerminalSize& size : resize_parser_.Feed(data)) resize_->Push(size);
    return;
  }
  auto it = inputs_.find(channel);
  if (it == inputs_.end() || data.empty()) return;
  ChannelInput* in = it->second.get();
  if (in->aborted_ || in->eof_) return;
  in->bytes_ += data.size();
  in->buf_.push_back(std::move(data));
  cv_.notify_all();
  cv_.wait(lock, [&] { return in->bytes_ <= kMaxBufferedPerChannel || in->aborted_ || finishing_ || closed_; });
}

void ChannelConn::ReadLoop() {
  absl::Status st;
  std::string message;
  bool in_message = false;
  bool peer_closed = false;
  for (;;) {
    auto f = ReadFrame(*sock_, /*require_masked=*/true, kMaxMessage);
    if (!f.ok()) {
      st = f.status();
      break;
    }
    if (f->opcode == kPing) {
      (void)WriteRaw(EncodeFrame(kPong, f->payload));
      continue;
    }
    if (f->opcode == kPong) continue;
    if (f->opcode == kClose) {
      peer_closed = true;
      bool reply;
      {
        std::lock_guard lock(mu_);
        reply = !close_sent_;
        close_sent_ = true;
      }
      if (reply) (void)WriteRaw(EncodeFrame(kClose, f->payload.substr(0, 2)));
      break;
    }
    if (f->opcode == kContinuation) {
      if (!in_message) {
        st = absl::InvalidArgumentError("websocket: continuation without start");
        break;
      }
      message += f->payload;
    } else if (f->opcode == kText || f->opcode == kBinary) {
      if (in_message) {
        st = absl::InvalidArgumentError("websocket: new message inside fragmented message");
        break;
      }
      message = std::move(f->payload);
      in_message = true;
    } else {
      st = absl::InvalidArgumentError(absl::StrCat("websocket: unknown opcode ", f->opcode));
      break;
    }
    if (message.size() > kMaxMessage) {
      st = absl::ResourceExhaustedError("websocket: message too large");
      break;
    }
    if (f->fin) {
      in_message = false;
      Deliver(std::move(message));
      message.clear();
    }
  }
  if (!st.ok() && !peer_closed) {
    uint16_t code = absl::IsInvalidArgument(st) ? 1002 : 1009;
    if (!absl::IsUnavailable(st) && !absl::IsOutOfRange(st)) {
      (void)WriteRaw(EncodeFrame(kClose, CloseFramePayload(code, std::string(st.message()))));
    }
  }
  bool cancel;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    reader_done_ = true;
    cancel = !finishing_;
  }
  cv_.notify_all();
  if (cancel) {
    FLINT_LOG(DEBUG) << "websocket: connection ended by client: " << (peer_closed ? "close frame" : st.ToString());
    sock_->Shutdown();
    cancel_.Cancel();
  }
}

void ChannelConn::Finish(uint16_t code) {
  bool send_close;
  {
    std::lock_guard lock(mu_);
    finishing_ = true;
    send_close = !close_sent_;
    close_sent_ = true;
  }
  cv_.notify_all();
  if (send_close) (void)WriteRaw(EncodeFrame(kClose, CloseFramePayload(code, "")));
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [&] { return reader_done_; });
  }
  sock_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

}  // namespace flint::streaming::ws
