#include "flist-snapshotter/block/block_codec.h"

#include <random>
#include <string>

#include "flist-snapshotter/block/blake2b.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Known answers from the spec (flist-format.md, sections 1a and 1b), made by
// the original C xxtea + libsnappy and by Python's cryptography module.
TEST(BlockCodecTest, WarmUpRoundTripsBothFormats) { EXPECT_TRUE(WarmUpBlockCodecs().ok()); }

TEST(BlockCodecTest, V1KnownAnswer) {
  auto b = EncodeBlock(BlockFormat::kV1, "hello world\n");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(HexEncode(b->key), "c0cdb4699cdaa9eea4c563a934f1d52b");
  EXPECT_EQ(b->data.size(), 20u);
  EXPECT_EQ(HexEncode(b->data).substr(0, 32), "893f00077aad00982c3024bda3cbe527");
  EXPECT_EQ(HexEncode(b->id), "a5147f6e7cac3a7076f942cb5e00d896");
}

TEST(BlockCodecTest, V2KnownAnswer) {
  auto b = EncodeBlock(BlockFormat::kV2, "hello world\n");
  ASSERT_TRUE(b.ok()) << b.status();
  std::string key = HexEncode(b->key);
  EXPECT_EQ(key, "c71b05fd1d1c7bf7e928ff18e58db5193e9316416cc26ba9cc9094da80d7011e");
  EXPECT_EQ(b->data.size(), 30u);
  std::string id = HexEncode(b->id);
  EXPECT_EQ(id.substr(0, 16), "d139c46e6cc65acf");
  EXPECT_EQ(id.substr(id.size() - 17), "9184671f97301a0db");
}

class BlockCodecRoundTrip : public ::testing::TestWithParam<BlockFormat> {};

TEST_P(BlockCodecRoundTrip, SizesUpToAFullBlock) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{4097}, kBlockSize - 1, kBlockSize}) {
    std::string plain = RandomBytes(n, static_cast<uint32_t>(n));
    auto b = EncodeBlock(GetParam(), plain);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->id.size(), BlockIdSize(GetParam()));
    EXPECT_EQ(b->key.size(), BlockIdSize(GetParam()));
    auto back = DecodeBlock(GetParam(), b->id, b->key, b->data);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, plain);
  }
}

TEST_P(BlockCodecRoundTrip, DetectsCorruptionAndWrongKey) {
  std::string plain(100000, 'a');
  auto b = EncodeBlock(GetParam(), plain);
  ASSERT_TRUE(b.ok());
  std::string corrupt = b->data;
  corrupt[corrupt.size() / 2] ^= 1;
  auto r = DecodeBlock(GetParam(), b->id, b->key, corrupt);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("hash mismatch"), std::string::npos) << r.status();
  EXPECT_FALSE(BlockIdMatches(GetParam(), b->id, corrupt));

  std::string wrong_key = b->key;
  wrong_key[0] ^= 1;
  EXPECT_EQ(DecodeBlock(GetParam(), b->id, wrong_key, b->data).status().code(),
            absl::StatusCode::kDataLoss);
}

// The read path skips the ciphertext hash; corruption anywhere in the stored
// bytes (v1: unauthenticated XXTEA; v2: GCM tag) must still be DataLoss.
TEST_P(BlockCodecRoundTrip, ContentDecodeWithoutIdCheckStillCatchesCorruption) {
  std::string plain = RandomBytes(200000, 9);
  auto b = EncodeBlock(GetParam(), plain);
  ASSERT_TRUE(b.ok());
  auto back = DecodeBlockContent(GetParam(), b->id, b->key, b->data);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, plain);
  for (size_t at : {size_t{0}, b->data.size() / 3, b->data.size() - 1}) {
    std::string corrupt = b->data;
    corrupt[at] ^= 0x40;
    EXPECT_EQ(DecodeBlockContent(GetParam(), b->id, b->key, corrupt).status().code(), absl::StatusCode::kDataLoss)
        << "flipped byte " << at;
  }
  EXPECT_EQ(DecodeBlockContent(GetParam(), b->id, b->key, b->data.substr(0, b->data.size() / 2)).status().code(),
            absl::StatusCode::kDataLoss);
  std::string wrong_key = b->key;
  wrong_key[3] ^= 1;
  EXPECT_EQ(DecodeBlockContent(GetParam(), b->id, wrong_key, b->data).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(BlockCodecRoundTrip, ConvergentEncryptionIsDeterministic) {
  auto a = EncodeBlock(GetParam(), "same content");
  auto b = EncodeBlock(GetParam(), "same content");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(a->data, b->data);
}

INSTANTIATE_TEST_SUITE_P(Formats, BlockCodecRoundTrip,
                         ::testing::Values(BlockFormat::kV1, BlockFormat::kV2));

}  // namespace
}  // namespace flint::flist
