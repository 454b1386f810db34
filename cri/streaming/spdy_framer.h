// SPDY/3.1 frame encoding/decoding and zlib header-block compression.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/streaming/socket.h"

namespace flint::streaming::spdy {

constexpr uint16_t kVersion = 3;
constexpr uint32_t kInitialWindow = 64 * 1024;
constexpr uint32_t kMaxFrameLength = 0xFFFFFF;

enum FrameType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

constexpr uint8_t kFlagFin = 0x01;
constexpr uint8_t kFlagUnidirectional = 0x02;

enum RstStatus : uint32_t {
  kProtocolError = 1,
  kInvalidStream = 2,
  kRefusedStream = 3,
  kCancel = 5,
  kInternalError = 6,
  kFlowControlError = 7,
  kStreamAlreadyClosed = 9,
};

constexpr uint32_t kSettingsInitialWindowSize = 7;

using Headers = std::vector<std::pair<std::string, std::string>>;
// Case-insensitive lookup of the first value.
std::string FindHeader(const Headers& headers, std::string_view name);

// A frame as read from the wire: control frames keep their raw body (header blocks still
// compressed), data frames their payload.
struct Frame {
  bool control = false;
  uint16_t version = 0;
  uint16_t type = 0;       // control only
  uint32_t stream_id = 0;  // data only
  uint8_t flags = 0;
  std::string payload;
};

absl::StatusOr<Frame> ReadFrame(Socket& sock);

// Encoders return complete frames ready to write.
std::string EncodeData(uint32_t stream_id, uint8_t flags, std::string_view data);
std::string EncodeSynStream(uint32_t stream_id, uint32_t assoc_id, uint8_t priority, uint8_t flags,
                            std::string_view header_block);
std::string EncodeSynReply(uint32_t stream_id, uint8_t flags, std::string_view header_block);
std::string EncodeRstStream(uint32_t stream_id, uint32_t status);
std::string EncodeSettings(const std::vector<std::pair<uint32_t, uint32_t>>& id_values);
std::string EncodePing(uint32_t id);
std::string EncodeGoAway(uint32_t last_good_stream_id, uint32_t status);
std::string EncodeWindowUpdate(uint32_t stream_id, uint32_t delta);

// Body field readers (big-endian).
uint32_t ReadU32(std::string_view body, size_t offset);

// One direction's header compression context (one per direction per connection).
class HeaderCompressor {
 public:
  HeaderCompressor();
  ~HeaderCompressor();
  HeaderCompressor(const HeaderCompressor&) = delete;
  HeaderCompressor& operator=(const HeaderCompressor&) = delete;
  absl::StatusOr<std::string> Compress(const Headers& headers);

 private:
  z_stream z_{};
  bool ok_ = false;
};

class HeaderDecompressor {
 public:
  HeaderDecompressor();
  ~HeaderDecompressor();
  HeaderDecompressor(const HeaderDecompressor&) = delete;
  HeaderDecompressor& operator=(const HeaderDecompressor&) = delete;
  absl::StatusOr<Headers> Decompress(std::string_view block);

 private:
  z_stream z_{};
  bool ok_ = false;
};

}  // namespace flint::streaming::spdy
