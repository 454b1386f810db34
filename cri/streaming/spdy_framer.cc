#include "cri/streaming/spdy_framer.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/streaming/spdy_dictionary.h"

namespace flint::streaming::spdy {
namespace {

void PutU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

// flags(8) + length(24)
void PutFlagsLength(std::string& out, uint8_t flags, size_t length) {
  PutU32(out, (static_cast<uint32_t>(flags) << 24) | static_cast<uint32_t>(length & kMaxFrameLength));
}

std::string ControlFrame(uint16_t type, uint8_t flags, std::string_view body) {
  std::string out;
  out.reserve(8 + body.size());
  PutU32(out, 0x80000000u | (static_cast<uint32_t>(kVersion) << 16) | type);
  PutFlagsLength(out, flags, body.size());
  out.append(body);
  return out;
}

// Upper bound on a decompressed header block; protects against zlib bombs.
constexpr size_t kMaxHeaderBlock = 1 << 20;

}  // namespace

std::string FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) return v;
  }
  return "";
}

uint32_t ReadU32(std::string_view body, size_t offset) {
  if (offset + 4 > body.size()) return 0;
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(body[offset + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

absl::StatusOr<Frame> ReadFrame(Socket& sock) {
  char head[8];
  if (auto st = sock.ReadFull(head, sizeof(head)); !st.ok()) return st;
  std::string_view hv(head, sizeof(head));
  uint32_t word0 = ReadU32(hv, 0);
  uint32_t word1 = ReadU32(hv, 4);
  Frame f;
  f.control = (word0 & 0x80000000u) != 0;
  if (f.control) {
    f.version = static_cast<uint16_t>((word0 >> 16) & 0x7fff);
    f.type = static_cast<uint16_t>(word0 & 0xffff);
  } else {
    f.stream_id = word0 & 0x7fffffffu;
  }
  f.flags = static_cast<uint8_t>(word1 >> 24);
  size_t length = word1 & kMaxFrameLength;
  f.payload.resize(length);
  if (length > 0) {
    if (auto st = sock.ReadFull(f.payload.data(), length); !st.ok()) {
      return absl::DataLossError(absl::StrCat("spdy: truncated frame: ", st.message()));
    }
  }
  return f;
}

std::string EncodeData(uint32_t stream_id, uint8_t flags, std::string_view data) {
  std::string out;
  out.reserve(8 + data.size());
  PutU32(out, stream_id & 0x7fffffffu);
  PutFlagsLength(out, flags, data.size());
  out.append(data);
  return out;
}

std::string EncodeSynStream(uint32_t stream_id, uint32_t assoc_id, uint8_t priority, uint8_t flags,
                            std::string_view header_block) {
  std::string body;
  PutU32(body, stream_id & 0x7fffffffu);
  PutU32(body, assoc_id & 0x7fffffffu);
  body.push_back(static_cast<char>((priority & 0x7) << 5));
  body.push_back(0);  // credential slot
  body.append(header_block);
  return ControlFrame(kSynStream, flags, body);
}

std::string EncodeSynReply(uint32_t stream_id, uint8_t flags, std::string_view header_block) {
  std::string body;
  PutU32(body, stream_id & 0x7fffffffu);
  body.append(header_block);
  return ControlFrame(kSynReply, flags, body);
}

std::string EncodeRstStream(uint32_t stream_id, uint32_t status) {
  std::string body;
  PutU32(body, stream_id & 0x7fffffffu);
  PutU32(body, status);
  return ControlFrame(kRstStream, 0, body);
}

std::string EncodeSettings(const std::vector<std::pair<uint32_t, uint32_t>>& id_values) {
  std::string body;
  PutU32(body, static_cast<uint32_t>(id_values.size()));
  for (const auto& [id, value] : id_values) {
    PutU32(body, id & 0xffffff);  // flags 0
    PutU32(body, value);
  }
  return ControlFrame(kSettings, 0, body);
}

std::string EncodePing(uint32_t id) {
  std::string body;
  PutU32(body, id);
  return ControlFrame(kPing, 0, body);
}

std::string EncodeGoAway(uint32_t last_good_stream_id, uint32_t status) {
  std::string body;
  PutU32(body, last_good_stream_id & 0x7fffffffu);
  PutU32(body, status);
  return ControlFrame(kGoAway, 0, body);
}

std::string EncodeWindowUpdate(uint32_t stream_id, uint32_t delta) {
  std::string body;
  PutU32(body, stream_id & 0x7fffffffu);
  PutU32(body, delta & 0x7fffffffu);
  return ControlFrame(kWindowUpdate, 0, body);
}

HeaderCompressor::HeaderCompressor() {
  ok_ = deflateInit(&z_, Z_DEFAULT_COMPRESSION) == Z_OK &&
        deflateSetDictionary(&z_, kSpdy3HeaderDictionary, static_cast<uInt>(kSpdy3HeaderDictionarySize)) == Z_OK;
}

HeaderCompressor::~HeaderCompressor() { deflateEnd(&z_); }

absl::StatusOr<std::string> HeaderCompressor::Compress(const Headers& headers) {
  if (!ok_) return absl::InternalError("spdy: zlib deflate init failed");
  std::string raw;
  PutU32(raw, static_cast<uint32_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    std::string name = absl::AsciiStrToLower(k);  // SPDY/3 header names are lowercase
    PutU32(raw, static_cast<uint32_t>(name.size()));
    raw.append(name);
    PutU32(raw, static_cast<uint32_t>(v.size()));
    raw.append(v);
  }
  std::string out;
  z_.next_in = reinterpret_cast<Bytef*>(raw.data());
  z_.avail_in = static_cast<uInt>(raw.size());
  char buf[4096];
  do {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof(buf);
    int rc = deflate(&z_, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return absl::InternalError("spdy: deflate failed");
    out.append(buf, sizeof(buf) - z_.avail_out);
  } while (z_.avail_out == 0);
  return out;
}

HeaderDecompressor::HeaderDecompressor() { ok_ = inflateInit(&z_) == Z_OK; }

HeaderDecompressor::~HeaderDecompressor() { inflateEnd(&z_); }

absl::StatusOr<Headers> HeaderDecompressor::Decompress(std::string_view block) {
  if (!ok_) return absl::InternalError("spdy: zlib inflate init failed");
  std::string raw;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z_.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  for (;;) {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof(buf);
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(&z_, kSpdy3HeaderDictionary, static_cast<uInt>(kSpdy3HeaderDictionarySize)) !=
          Z_OK) {
        return absl::DataLossError("spdy: header dictionary rejected");
      }
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return absl::DataLossError("spdy: corrupt header block");
    size_t produced = sizeof(buf) - z_.avail_out;
    raw.append(buf, produced);
    if (raw.size() > kMaxHeaderBlock) return absl::ResourceExhaustedError("spdy: header block too large");
    if (z_.avail_in == 0 && z_.avail_out != 0) break;
    if (rc == Z_BUF_ERROR && produced == 0) break;
  }
  std::string_view in(raw);
  auto take_u32 = [&](uint32_t* v) {
    if (in.size() < 4) return false;
    *v = ReadU32(in, 0);
    in.remove_prefix(4);
    return true;
  };
  auto take_str = [&](std::string* s) {
    uint32_t len;
    if (!take_u32(&len) || in.size() < len) return false;
    s->assign(in.substr(0, len));
    in.remove_prefix(len);
    return true;
  };
  uint32_t count;
  if (!take_u32(&count)) return absl::DataLossError("spdy: header block too short");
  Headers headers;
  for (uint32_t i = 0; i < count; ++i) {
    std::string name, value;
    if (!take_str(&name) || !take_str(&value)) return absl::DataLossError("spdy: truncated header block");
    // Multiple values are NUL-separated.
    size_t start = 0;
    for (;;) {
      size_t nul = value.find('\0', start);
      headers.emplace_back(name, value.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
      if (nul == std::string::npos) break;
      start = nul + 1;
    }
  }
  return headers;
}

}  // namespace flint::streaming::spdy
