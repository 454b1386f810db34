#include "flist-snapshotter/block/blake2b.h"

#include <openssl/evp.h>

#include <string>

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

TEST(Blake2bTest, KnownAnswers) {
  // RFC 7693 appendix A.
  EXPECT_EQ(HexEncode(Blake2bDigest("abc", 64)),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
  // The v1 flist root directory key is blake2b-128 of the empty path.
  EXPECT_EQ(HexEncode(Blake2bDigest("", 16)), "cae66941d9efbd404e4d88758ea67670");
  EXPECT_EQ(HexEncode(Blake2bDigest("hello world\n", 32)),
            "c71b05fd1d1c7bf7e928ff18e58db5193e9316416cc26ba9cc9094da80d7011e");
  // Exactly one full block: the final flag must go on it, not on an empty one.
  EXPECT_EQ(HexEncode(Blake2bDigest(std::string(128, '\0'), 20)),
            "8d26f158f564e3293b42f5e3d34263cb173aa9c9");
}

TEST(Blake2bTest, IncrementalEqualsOneShot) {
  std::string data;
  for (int r = 0; r < 5; ++r)
    for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
  Blake2b h(32);
  for (size_t off = 0; off < data.size(); off += 77) h.Update(std::string_view(data).substr(off, 77));
  std::string incremental = h.Final();
  EXPECT_EQ(incremental, Blake2bDigest(data, 32));
  EXPECT_EQ(HexEncode(incremental), "82628cbfc9689e234b0923a531f4578fe2e7138a03e2f81ed6cde97517336650");
}

// Against OpenSSL's independent BLAKE2b-512 (the only digest length its EVP
// offers) on every length around the block boundaries and on the 512 KiB
// blocks flists use.
TEST(Blake2bTest, MatchesOpenSslOnBlockBoundaries) {
  std::string data(512 * 1024 + 300, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (char& c : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  for (size_t n : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{129}, size_t{255}, size_t{256},
                   size_t{257}, size_t{1000}, size_t{512 * 1024}, data.size()}) {
    std::string_view part = std::string_view(data).substr(0, n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASSERT_EQ(EVP_Digest(part.data(), part.size(), md, &md_len, EVP_blake2b512(), nullptr), 1);
    ASSERT_EQ(md_len, 64u);
    EXPECT_EQ(HexEncode(Blake2bDigest(part, 64)), HexEncode(std::string_view(reinterpret_cast<char*>(md), md_len)))
        << n << " bytes";
  }
}

TEST(HexTest, RoundTripAndRejects) {
  std::string raw;
  ASSERT_TRUE(HexDecode("00ffA1", &raw));
  EXPECT_EQ(raw, std::string("\x00\xff\xa1", 3));
  EXPECT_EQ(HexEncode(raw), "00ffa1");
  EXPECT_FALSE(HexDecode("abc", &raw));
  EXPECT_FALSE(HexDecode("zz", &raw));
}

}  // namespace
}  // namespace flint::flist
