#include "cni/lib/ip_math.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flint::cni {

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return FromV4Bytes(buf);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return FromV6Bytes(buf);
  return absl::InvalidArgumentError(absl::StrCat("invalid IP address \"", text, "\""));
}

IpAddress IpAddress::FromV4Bytes(const uint8_t bytes[4]) {
  IpAddress ip;
  ip.v4_ = true;
  std::memcpy(ip.bytes_.data(), bytes, 4);
  return ip;
}

IpAddress IpAddress::FromV6Bytes(const uint8_t bytes[16]) {
  IpAddress ip;
  ip.v4_ = false;
  std::memcpy(ip.bytes_.data(), bytes, 16);
  return ip;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

IpAddress IpAddress::Next() const {
  IpAddress out = *this;
  for (int i = byte_length() - 1; i >= 0; --i) {
    if (++out.bytes_[i] != 0) break;
  }
  return out;
}

IpAddress IpAddress::Prev() const {
  IpAddress out = *this;
  for (int i = byte_length() - 1; i >= 0; --i) {
    if (out.bytes_[i]-- != 0) break;
  }
  return out;
}

IpAddress IpAddress::Masked(int prefix_len) const {
  IpAddress out = *this;
  for (int i = 0; i < byte_length(); ++i) {
    int bits = std::clamp(prefix_len - i * 8, 0, 8);
    out.bytes_[i] &= static_cast<uint8_t>(0xff00 >> bits);
  }
  return out;
}

IpAddress IpAddress::WithHostBitsSet(int prefix_len) const {
  IpAddress out = *this;
  for (int i = 0; i < byte_length(); ++i) {
    int bits = std::clamp(prefix_len - i * 8, 0, 8);
    out.bytes_[i] |= static_cast<uint8_t>(0xff >> bits);
  }
  return out;
}

std::strong_ordering operator<=>(const IpAddress& a, const IpAddress& b) {
  if (a.v4_ != b.v4_) return a.v4_ ? std::strong_ordering::less : std::strong_ordering::greater;
  int c = std::memcmp(a.bytes_.data(), b.bytes_.data(), a.byte_length());
  return c < 0 ? std::strong_ordering::less
               : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\": missing prefix length"));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text.substr(0, slash));
  if (!ip.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\""));
  int len = -1;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &len) || len < 0 || len > ip->bit_length()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CIDR \"", text, "\": bad prefix length"));
  }
  return IpPrefix{*ip, len};
}

std::string IpPrefix::ToString() const { return absl::StrCat(address.ToString(), "/", length); }

bool IpPrefix::Contains(const IpAddress& ip) const {
  return ip.is_v4() == address.is_v4() && ip.Masked(length) == address.Masked(length);
}

bool IpPrefix::Overlaps(const IpPrefix& other) const {
  return Contains(other.address) || other.Contains(address);
}

}  // namespace flint::cni
