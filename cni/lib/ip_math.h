// IPv4/IPv6 addresses and prefixes with the arithmetic IPAM needs.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flint::cni {

class IpAddress {
 public:
  IpAddress() = default;
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress FromV4Bytes(const uint8_t bytes[4]);
  static IpAddress FromV6Bytes(const uint8_t bytes[16]);

  bool is_v4() const { return v4_; }
  int bit_length() const { return v4_ ? 32 : 128; }
  int byte_length() const { return v4_ ? 4 : 16; }
  const uint8_t* bytes() const { return bytes_.data(); }
  // Canonical text (IPv6 compressed), as inet_ntop prints it.
  std::string ToString() const;

  // Adds/subtracts one, wrapping around within the family.
  IpAddress Next() const;
  IpAddress Prev() const;
  // Keeps the first `prefix_len` bits, zeroes (or sets) the rest.
  IpAddress Masked(int prefix_len) const;
  IpAddress WithHostBitsSet(int prefix_len) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend std::strong_ordering operator<=>(const IpAddress& a, const IpAddress& b);

 private:
  bool v4_ = true;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length, e.g. "10.1.0.2/24" (host bits may be set).
struct IpPrefix {
  IpAddress address;
  int length = 0;

  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);
  std::string ToString() const;
  IpPrefix Network() const { return {address.Masked(length), length}; }
  IpAddress FirstAddress() const { return address.Masked(length); }
  IpAddress LastAddress() const { return address.WithHostBitsSet(length); }
  bool Contains(const IpAddress& ip) const;
  // True when the two prefixes share any address.
  bool Overlaps(const IpPrefix& other) const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

}  // namespace flint::cni
