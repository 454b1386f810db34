#include "cni/lib/ip_masq.h"

#include <gtest/gtest.h>

namespace flint::cni {
namespace {

// Value observed from the reference bridge plugin for network "fltrefnet", container "abc".
TEST(IpMasqTest, ChainNameMatchesReferenceScheme) {
  EXPECT_EQ(MasqChainName("fltrefnet", "abc"), "CNI-39726e76203df7246040016d");
  EXPECT_LE(MasqChainName("a-very-long-network-name", std::string(64, 'f')).size(), 28u);
  EXPECT_NE(MasqChainName("net", "a"), MasqChainName("net", "b"));
}

TEST(IpMasqTest, CommentNamesNetworkAndContainer) {
  EXPECT_EQ(MasqComment("mynet", "c1"), "name: \"mynet\" id: \"c1\"");
}

}  // namespace
}  // namespace flint::cni
