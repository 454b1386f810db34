#include "cni/lib/gc_attachments.h"

#include <gtest/gtest.h>

namespace flint::cni {
namespace {

TEST(GcAttachmentsTest, ReadsEitherSpellingAndRequiresTheList) {
  auto parsed = ParseValidAttachments(nlohmann::json::parse(
      R"({"cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}, {"containerID": "b"}]})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), 2u);
  EXPECT_EQ(parsed->count({"a", "eth0"}), 1u);
  EXPECT_TRUE(ParseValidAttachments(nlohmann::json::parse(R"({"cni.dev/attachments": []})")).ok());
  EXPECT_FALSE(ParseValidAttachments(nlohmann::json::parse(R"({"name": "n"})")).ok());
  EXPECT_FALSE(
      ParseValidAttachments(nlohmann::json::parse(R"({"cni.dev/valid-attachments": [{"ifname": "x"}]})")).ok());
}

}  // namespace
}  // namespace flint::cni
