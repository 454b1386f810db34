// BLAKE2b (RFC 7693) with a selectable digest length. OpenSSL 3.0's EVP only
// offers the fixed 64-byte variant, and flists need 16- and 32-byte digests,
// which are not truncations of the 64-byte one (the length is hashed in).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flint::flist {

class Blake2b {
 public:
  // digest_size in [1, 64].
  explicit Blake2b(size_t digest_size);
  void Update(std::string_view data);
  // Returns the raw digest; the object must not be used afterwards.
  std::string Final();

 private:
  void Compress(const uint8_t* block, bool last);
  void Count(size_t bytes);

  uint64_t h_[8];
  uint64_t t_[2] = {0, 0};
  uint8_t buf_[128];
  size_t buf_len_ = 0;
  size_t digest_size_;
};

// One-shot raw digest.
std::string Blake2bDigest(std::string_view data, size_t digest_size);

std::string HexEncode(std::string_view raw);
// Returns false on odd length or non-hex characters.
bool HexDecode(std::string_view hex, std::string* raw);

}  // namespace flint::flist
