#include "flist-snapshotter/block/xxtea.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

constexpr uint32_t kDelta = 0x9e3779b9;

std::vector<uint32_t> ToWords(std::string_view bytes, size_t words) {
  std::vector<uint32_t> v(words, 0);
  for (size_t i = 0; i < bytes.size(); ++i) {
    v[i / 4] |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << (8 * (i % 4));
  }
  return v;
}

std::string FromWords(const std::vector<uint32_t>& v, size_t bytes) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    out[i] = static_cast<char>((v[i / 4] >> (8 * (i % 4))) & 0xff);
  }
  return out;
}

inline uint32_t Mx(uint32_t y, uint32_t z, uint32_t sum, uint32_t p, uint32_t e,
                   const uint32_t* k) {
  return (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((sum ^ y) + (k[(p & 3) ^ e] ^ z));
}

void EncryptWords(std::vector<uint32_t>& v, const uint32_t* k) {
  const uint32_t n = static_cast<uint32_t>(v.size());
  uint32_t rounds = 6 + 52 / n;
  uint32_t sum = 0;
  uint32_t z = v[n - 1];
  uint32_t y;
  do {
    sum += kDelta;
    uint32_t e = (sum >> 2) & 3;
    uint32_t p;
    for (p = 0; p < n - 1; ++p) {
      y = v[p + 1];
      z = v[p] += Mx(y, z, sum, p, e, k);
    }
    y = v[0];
    z = v[n - 1] += Mx(y, z, sum, p, e, k);
  } while (--rounds);
}

void DecryptWords(std::vector<uint32_t>& v, const uint32_t* k) {
  const uint32_t n = static_cast<uint32_t>(v.size());
  uint32_t rounds = 6 + 52 / n;
  uint32_t sum = rounds * kDelta;
  uint32_t y = v[0];
  uint32_t z;
  do {
    uint32_t e = (sum >> 2) & 3;
    uint32_t p;
    for (p = n - 1; p > 0; --p) {
      z = v[p - 1];
      y = v[p] -= Mx(y, z, sum, p, e, k);
    }
    z = v[n - 1];
    y = v[0] -= Mx(y, z, sum, p, e, k);
    sum -= kDelta;
  } while (--rounds);
}

absl::Status CheckKey(std::string_view key, uint32_t* k) {
  if (key.size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat("xxtea: key must be 16 bytes, got ", key.size()));
  }
  auto words = ToWords(key, 4);
  for (int i = 0; i < 4; ++i) k[i] = words[i];
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> XxteaEncrypt(std::string_view plain, std::string_view key) {
  uint32_t k[4];
  if (auto s = CheckKey(key, k); !s.ok()) return s;
  // XXTEA needs at least two words; the reference implementation refuses
  // empty input too (block payloads are snappy output, never empty).
  if (plain.empty()) return absl::InvalidArgumentError("xxtea: empty input");
  if (plain.size() > 0xffffffffu - 4) return absl::InvalidArgumentError("xxtea: input too large");
  size_t data_words = (plain.size() + 3) / 4;
  auto v = ToWords(plain, data_words + 1);
  v[data_words] = static_cast<uint32_t>(plain.size());
  EncryptWords(v, k);
  return FromWords(v, v.size() * 4);
}

absl::StatusOr<std::string> XxteaDecrypt(std::string_view cipher, std::string_view key) {
  uint32_t k[4];
  if (auto s = CheckKey(key, k); !s.ok()) return s;
  if (cipher.size() % 4 != 0 || cipher.size() < 8) {
    return absl::DataLossError(absl::StrCat("xxtea: bad ciphertext length ", cipher.size()));
  }
  auto v = ToWords(cipher, cipher.size() / 4);
  DecryptWords(v, k);
  const uint64_t data_bytes = 4 * (v.size() - 1);
  const uint64_t m = v.back();
  if (m + 3 < data_bytes || m > data_bytes) {
    return absl::DataLossError("xxtea: bad length word (wrong key or corrupt block)");
  }
  return FromWords(v, m);
}

}  // namespace flint::flist
