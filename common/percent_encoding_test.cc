#include "common/percent_encoding.h"

#include <gtest/gtest.h>

namespace flint {
namespace {

TEST(PercentEncodingTest, EncodesAllButUnreservedBytes) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a/b@c:d%e f+"), "a%2Fb%40c%3Ad%25e%20f%2B");
  EXPECT_EQ(PercentEncode(std::string("\x00\xff", 2)), "%00%FF");
}

TEST(PercentEncodingTest, DecodesValidEscapesAndKeepsOtherPercents) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc"), "a/b/c");
  EXPECT_EQ(PercentDecode("50%"), "50%");
  EXPECT_EQ(PercentDecode("5%zz%4"), "5%zz%4");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  const std::string all = std::string("\x00 /?#%+\xff", 8);
  EXPECT_EQ(PercentDecode(PercentEncode(all)), all);
}

}  // namespace
}  // namespace flint
