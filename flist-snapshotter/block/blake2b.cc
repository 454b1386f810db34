#include "flist-snapshotter/block/blake2b.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

namespace flint::flist {
namespace {

constexpr uint64_t kIv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

constexpr uint8_t kSigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

inline uint64_t Rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

inline uint64_t Load64(const uint8_t* p) {
  if constexpr (std::endian::native == std::endian::little) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  } else {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
}

// One round with its message schedule known at compile time, so that after
// inlining every index is a constant and the 16 state words live in registers
// (a loop over rounds with kSigma[r] looked up at run time ran ~1.6x slower).
template <int R>
inline void Round(uint64_t (&v)[16], const uint64_t (&m)[16]) {
  constexpr const uint8_t* s = kSigma[R];
  auto g = [&](int a, int b, int c, int d, uint64_t x, uint64_t y) {
    v[a] = v[a] + v[b] + x;
    v[d] = Rotr(v[d] ^ v[a], 32);
    v[c] = v[c] + v[d];
    v[b] = Rotr(v[b] ^ v[c], 24);
    v[a] = v[a] + v[b] + y;
    v[d] = Rotr(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = Rotr(v[b] ^ v[c], 63);
  };
  g(0, 4, 8, 12, m[s[0]], m[s[1]]);
  g(1, 5, 9, 13, m[s[2]], m[s[3]]);
  g(2, 6, 10, 14, m[s[4]], m[s[5]]);
  g(3, 7, 11, 15, m[s[6]], m[s[7]]);
  g(0, 5, 10, 15, m[s[8]], m[s[9]]);
  g(1, 6, 11, 12, m[s[10]], m[s[11]]);
  g(2, 7, 8, 13, m[s[12]], m[s[13]]);
  g(3, 4, 9, 14, m[s[14]], m[s[15]]);
}

template <int... R>
inline void AllRounds(uint64_t (&v)[16], const uint64_t (&m)[16], std::integer_sequence<int, R...>) {
  (Round<R>(v, m), ...);
}

void CompressBlock(uint64_t h[8], const uint8_t* block, uint64_t t0, uint64_t t1, bool last) {
  uint64_t v[16];
  uint64_t m[16];
  for (int i = 0; i < 8; ++i) {
    v[i] = h[i];
    v[i + 8] = kIv[i];
  }
  v[12] ^= t0;
  v[13] ^= t1;
  if (last) v[14] = ~v[14];
  for (int i = 0; i < 16; ++i) m[i] = Load64(block + 8 * i);
  AllRounds(v, m, std::make_integer_sequence<int, 12>{});
  for (int i = 0; i < 8; ++i) h[i] ^= v[i] ^ v[i + 8];
}

}  // namespace

Blake2b::Blake2b(size_t digest_size) : digest_size_(digest_size) {
  if (digest_size_ < 1) digest_size_ = 1;
  if (digest_size_ > 64) digest_size_ = 64;
  for (int i = 0; i < 8; ++i) h_[i] = kIv[i];
  // Parameter block: digest length, key length 0, fanout 1, depth 1.
  h_[0] ^= 0x01010000ULL ^ static_cast<uint64_t>(digest_size_);
}

void Blake2b::Compress(const uint8_t* block, bool last) { CompressBlock(h_, block, t_[0], t_[1], last); }

void Blake2b::Count(size_t bytes) {
  t_[0] += bytes;
  if (t_[0] < bytes) ++t_[1];
}

void Blake2b::Update(std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  // The last block must be compressed with the final flag, so a full block is
  // only compressed once more input follows it.
  if (buf_len_ > 0 || n <= sizeof(buf_)) {
    const size_t take = std::min(n, sizeof(buf_) - buf_len_);
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take;
    p += take;
    n -= take;
    if (n == 0) return;
    Count(sizeof(buf_));
    Compress(buf_, false);
    buf_len_ = 0;
  }
  // Straight from the input while more than one block remains.
  while (n > sizeof(buf_)) {
    Count(sizeof(buf_));
    Compress(p, false);
    p += sizeof(buf_);
    n -= sizeof(buf_);
  }
  std::memcpy(buf_, p, n);
  buf_len_ = n;
}

std::string Blake2b::Final() {
  Count(buf_len_);
  std::memset(buf_ + buf_len_, 0, sizeof(buf_) - buf_len_);
  Compress(buf_, true);
  std::string out(digest_size_, '\0');
  for (size_t i = 0; i < digest_size_; ++i) {
    out[i] = static_cast<char>((h_[i / 8] >> (8 * (i % 8))) & 0xff);
  }
  return out;
}

std::string Blake2bDigest(std::string_view data, size_t digest_size) {
  Blake2b h(digest_size);
  h.Update(data);
  return h.Final();
}

std::string HexEncode(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(raw.size() * 2, '\0');
  for (size_t i = 0; i < raw.size(); ++i) {
    auto b = static_cast<uint8_t>(raw[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0xf];
  }
  return out;
}

bool HexDecode(std::string_view hex, std::string* raw) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  *raw = std::move(out);
  return true;
}

}  // namespace flint::flist
