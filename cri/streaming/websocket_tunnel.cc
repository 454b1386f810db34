#include "cri/streaming/websocket_tunnel.h"

#include <openssl/rand.h>

#include <cstring>

#include "cri/streaming/websocket.h"

namespace flint::streaming::ws {
namespace {

// SPDY frames are at most 16 MiB + 8 bytes; peers write one frame (or less) per message.
constexpr size_t kMaxTunnelFrame = (16 << 20) + 64;

}  // namespace

TunnelSocket::TunnelSocket(std::unique_ptr<Socket> inner, Role role) : Socket(-1), inner_(std::move(inner)), role_(role) {}

absl::StatusOr<size_t> TunnelSocket::ReadSome(char* buf, size_t len) {
  if (len == 0) return 0;
  while (offset_ == message_.size()) {
    if (peer_closed_) return 0;
    absl::StatusOr<Frame> f = ReadFrame(*inner_, /*require_masked=*/role_ == Role::kServer, kMaxTunnelFrame);
    if (!f.ok()) return f.status();
    switch (f->opcode) {
      case kBinary:
      case kContinuation:
        message_ = std::move(f->payload);
        offset_ = 0;
        break;
      case kPing: {
        std::lock_guard lock(write_mu_);
        if (!close_sent_) (void)WriteFrameLocked(kPong, f->payload);
        break;
      }
      case kPong:
        break;
      case kClose: {
        peer_closed_ = true;
        std::lock_guard lock(write_mu_);
        if (!close_sent_) {
          close_sent_ = true;
          (void)WriteFrameLocked(kClose, f->payload.substr(0, 2));
        }
        return 0;
      }
      default:
        return absl::InvalidArgumentError("websocket tunnel: only binary messages may carry SPDY");
    }
  }
  size_t n = std::min(len, message_.size() - offset_);
  memcpy(buf, message_.data() + offset_, n);
  offset_ += n;
  if (offset_ == message_.size()) {
    message_.clear();
    offset_ = 0;
  }
  return n;
}

absl::Status TunnelSocket::WriteAll(std::string_view data) {
  std::lock_guard lock(write_mu_);
  if (close_sent_) return absl::UnavailableError("websocket tunnel: closed");
  return WriteFrameLocked(kBinary, data);
}

void TunnelSocket::ShutdownWrite() {
  std::lock_guard lock(write_mu_);
  if (close_sent_) return;
  close_sent_ = true;
  (void)WriteFrameLocked(kClose, CloseFramePayload(1000, ""));
}

absl::Status TunnelSocket::WriteFrameLocked(uint8_t opcode, std::string_view payload) {
  if (role_ == Role::kServer) return inner_->WriteAll(EncodeFrame(opcode, payload));
  uint8_t mask[4];
  if (RAND_bytes(mask, sizeof(mask)) != 1) return absl::InternalError("websocket tunnel: RAND_bytes failed");
  return inner_->WriteAll(EncodeFrame(opcode, payload, /*fin=*/true, mask));
}

}  // namespace flint::streaming::ws
