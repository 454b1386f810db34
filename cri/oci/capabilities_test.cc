#include "cri/oci/capabilities.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace flint::oci {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

TEST(CapabilitiesTest, NormalizesNames) {
  EXPECT_EQ(*NormalizeCapability("net_admin"), "CAP_NET_ADMIN");
  EXPECT_EQ(*NormalizeCapability("CAP_SYS_ADMIN"), "CAP_SYS_ADMIN");
  EXPECT_EQ(*NormalizeCapability("all"), "ALL");
  EXPECT_FALSE(NormalizeCapability("FLY").ok());
}

TEST(CapabilitiesTest, AddAndDropIndividual) {
  auto caps = ApplyCapabilityChanges(DefaultCapabilities(), KnownCapabilities(), {"NET_ADMIN"}, {"CHOWN", "cap_kill"});
  ASSERT_TRUE(caps.ok());
  EXPECT_THAT(*caps, Contains("CAP_NET_ADMIN"));
  EXPECT_THAT(*caps, Not(Contains("CAP_CHOWN")));
  EXPECT_THAT(*caps, Not(Contains("CAP_KILL")));
  EXPECT_EQ(caps->size(), DefaultCapabilities().size() - 1);
}

TEST(CapabilitiesTest, AllKeywords) {
  auto all_but_chown = ApplyCapabilityChanges(DefaultCapabilities(), KnownCapabilities(), {"ALL"}, {"CHOWN"});
  ASSERT_TRUE(all_but_chown.ok());
  EXPECT_EQ(all_but_chown->size(), KnownCapabilities().size() - 1);
  EXPECT_THAT(*all_but_chown, Not(Contains("CAP_CHOWN")));

  auto only_net_bind = ApplyCapabilityChanges(DefaultCapabilities(), KnownCapabilities(), {"NET_BIND_SERVICE"}, {"ALL"});
  ASSERT_TRUE(only_net_bind.ok());
  EXPECT_THAT(*only_net_bind, ElementsAre("CAP_NET_BIND_SERVICE"));

  auto none = ApplyCapabilityChanges(DefaultCapabilities(), KnownCapabilities(), {}, {"all"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // add ALL uses the host's set, which may lack capabilities the VM withholds
  std::vector<std::string> host = {"CAP_CHOWN", "CAP_SYS_ADMIN"};
  auto limited = ApplyCapabilityChanges(DefaultCapabilities(), host, {"ALL"}, {});
  ASSERT_TRUE(limited.ok());
  EXPECT_THAT(*limited, UnorderedElementsAreArray(host));
}

TEST(CapabilitiesTest, UnknownNameIsAnError) {
  auto caps = ApplyCapabilityChanges(DefaultCapabilities(), KnownCapabilities(), {"NOT_A_CAP"}, {});
  EXPECT_EQ(caps.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CapabilitiesTest, MaskConversion) {
  EXPECT_THAT(CapabilitiesFromMask(0b101), ElementsAre("CAP_CHOWN", "CAP_DAC_READ_SEARCH"));
  auto current = CurrentProcessCapabilities();
  ASSERT_TRUE(current.ok()) << current.status();
}

}  // namespace
}  // namespace flint::oci
