// Percent-encoding of URL parts (RFC 3986): store URLs (user, password, zdb namespace), registry
// token requests, the streaming server's request targets.
#pragma once

#include <string>
#include <string_view>

namespace flint {

// Every byte outside RFC 3986 "unreserved" (ALPHA DIGIT - . _ ~) becomes %XX.
inline std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '.' ||
        b == '_' || b == '~') {
      out.push_back(c);
    } else {
      out.append({'%', kHex[b >> 4], kHex[b & 0xf]});
    }
  }
  return out;
}

// Decodes each %XX; a '%' not followed by two hex digits is kept as it is, so text written before
// it was encoded (a password "50%") reads the same.
inline std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace flint
