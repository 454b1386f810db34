#include "flist-snapshotter/block/xxtea.h"

#include <string>

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

const std::string kKey = "0123456789abcdef";

TEST(XxteaTest, RoundTripAllSmallLengths) {
  for (size_t len = 1; len < 40; ++len) {
    std::string plain;
    for (size_t i = 0; i < len; ++i) plain.push_back(static_cast<char>(i * 7 + 1));
    auto enc = XxteaEncrypt(plain, kKey);
    ASSERT_TRUE(enc.ok()) << enc.status();
    EXPECT_EQ(enc->size(), 4 * ((len + 3) / 4 + 1));
    EXPECT_NE(enc->substr(0, len), plain);
    auto dec = XxteaDecrypt(*enc, kKey);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(*dec, plain);
  }
}

TEST(XxteaTest, WrongKeyIsDetectedByLengthWord) {
  auto enc = XxteaEncrypt(std::string(1000, 'x'), kKey);
  ASSERT_TRUE(enc.ok());
  EXPECT_FALSE(XxteaDecrypt(*enc, "fedcba9876543210").ok());
}

TEST(XxteaTest, RejectsBadInputs) {
  EXPECT_FALSE(XxteaEncrypt("abc", "short").ok());
  EXPECT_FALSE(XxteaEncrypt("", kKey).ok());
  EXPECT_FALSE(XxteaDecrypt("abcdefg", kKey).ok());  // not a multiple of 4
  EXPECT_FALSE(XxteaDecrypt("abcd", kKey).ok());     // no room for the length word
}

}  // namespace
}  // namespace flint::flist
