#include "cri/oci/seccomp_profile.h"

#include <gtest/gtest.h>

#include "cri/oci/test_util.h"

namespace flint::oci {
namespace {

bool Allows(const nlohmann::json& profile, const std::string& name) {
  for (const auto& rule : profile["syscalls"]) {
    if (rule["action"] != "SCMP_ACT_ALLOW" || rule.contains("args")) continue;
    for (const auto& n : rule["names"])
      if (n == name) return true;
  }
  return false;
}

TEST(SeccompProfileTest, RuntimeDefaultShape) {
  nlohmann::json p = RuntimeDefaultSeccompProfile({"CAP_CHOWN"});
  EXPECT_EQ(p["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(p["defaultErrnoRet"], 1);
  EXPECT_FALSE(p["architectures"].empty());
  EXPECT_TRUE(Allows(p, "read"));
  EXPECT_TRUE(Allows(p, "execve"));
  EXPECT_FALSE(Allows(p, "mount"));
  EXPECT_FALSE(Allows(p, "reboot"));
  EXPECT_FALSE(Allows(p, "clone"));  // only with a namespace-flag filter
  bool clone3_enosys = false;
  for (const auto& rule : p["syscalls"]) {
    if (rule["names"][0] == "clone3") clone3_enosys = rule["action"] == "SCMP_ACT_ERRNO" && rule["errnoRet"] == 38;
  }
  EXPECT_TRUE(clone3_enosys);
}

TEST(SeccompProfileTest, CapabilitiesWidenTheAllowList) {
  nlohmann::json p = RuntimeDefaultSeccompProfile({"CAP_SYS_ADMIN", "CAP_SYS_TIME"});
  EXPECT_TRUE(Allows(p, "mount"));
  EXPECT_TRUE(Allows(p, "clone"));
  EXPECT_TRUE(Allows(p, "clone3"));
  EXPECT_TRUE(Allows(p, "settimeofday"));
  EXPECT_FALSE(Allows(p, "reboot"));
}

TEST(SeccompProfileTest, LoadsDockerFormatLocalhostProfile) {
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("profile.json"), R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "basic"},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["chmod"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
    ]})");
  auto p = LoadLocalhostSeccompProfile(dir.Sub("profile.json"), {"CAP_CHOWN"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ((*p)["architectures"].size(), 2u);
  EXPECT_TRUE(Allows(*p, "read"));
  EXPECT_TRUE(Allows(*p, "chmod"));
  EXPECT_FALSE(Allows(*p, "mount"));
  EXPECT_FALSE((*p)["syscalls"][0].contains("comment"));

  auto admin = LoadLocalhostSeccompProfile(dir.Sub("profile.json"), {"CAP_SYS_ADMIN"});
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(Allows(*admin, "mount"));
  EXPECT_FALSE(Allows(*admin, "chmod"));
}

TEST(SeccompProfileTest, LocalhostErrors) {
  EXPECT_EQ(LoadLocalhostSeccompProfile("relative.json", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadLocalhostSeccompProfile("/nonexistent/profile.json", {}).status().code(), absl::StatusCode::kNotFound);
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("bad.json"), "{\"syscalls\": []}");
  EXPECT_EQ(LoadLocalhostSeccompProfile(dir.Sub("bad.json"), {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flint::oci
