#include "cri/oci/resources.h"

#include <gtest/gtest.h>

namespace flint::oci {
namespace {

runtime::v1::LinuxContainerResources Full() {
  runtime::v1::LinuxContainerResources r;
  r.set_cpu_period(100000);
  r.set_cpu_quota(50000);
  r.set_cpu_shares(512);
  r.set_memory_limit_in_bytes(256 << 20);
  r.set_oom_score_adj(500);
  r.set_cpuset_cpus("0-1");
  auto* h = r.add_hugepage_limits();
  h->set_page_size("2MB");
  h->set_limit(0);
  (*r.mutable_unified())["memory.oom.group"] = "1";
  return r;
}

TEST(ResourcesTest, ToOciSetsOnlyNonZeroFields) {
  HostFeatures v2;
  v2.cgroup_v2 = true;
  nlohmann::json oci = ResourcesToOci(Full(), v2);
  EXPECT_EQ(oci["cpu"]["shares"], 512);
  EXPECT_EQ(oci["cpu"]["quota"], 50000);
  EXPECT_EQ(oci["cpu"]["period"], 100000);
  EXPECT_EQ(oci["cpu"]["cpus"], "0-1");
  EXPECT_FALSE(oci["cpu"].contains("mems"));
  EXPECT_EQ(oci["memory"]["limit"], 256 << 20);
  EXPECT_FALSE(oci["memory"].contains("swap"));
  EXPECT_EQ(oci["hugepageLimits"][0]["pageSize"], "2MB");
  EXPECT_EQ(oci["unified"]["memory.oom.group"], "1");
  EXPECT_TRUE(ResourcesToOci(runtime::v1::LinuxContainerResources(), v2).empty());
  // cgroup v1: unified would make runc/crun refuse the spec
  EXPECT_FALSE(ResourcesToOci(Full(), HostFeatures()).contains("unified"));
}

TEST(ResourcesTest, MergeKeepsUnsetFields) {
  runtime::v1::LinuxContainerResources update;
  update.set_cpuset_cpus("3");  // what the CPU manager sends
  auto merged = MergeResources(Full(), update);
  EXPECT_EQ(merged.cpuset_cpus(), "3");
  EXPECT_EQ(merged.cpu_quota(), 50000);
  EXPECT_EQ(merged.cpu_shares(), 512);
  EXPECT_EQ(merged.memory_limit_in_bytes(), 256 << 20);
  EXPECT_EQ(merged.oom_score_adj(), 500);
  EXPECT_EQ(merged.hugepage_limits_size(), 1);
  EXPECT_EQ(merged.unified().at("memory.oom.group"), "1");

  runtime::v1::LinuxContainerResources resize;
  resize.set_cpu_quota(200000);
  resize.set_memory_limit_in_bytes(1 << 30);
  (*resize.mutable_unified())["memory.high"] = "max";
  merged = MergeResources(merged, resize);
  EXPECT_EQ(merged.cpu_quota(), 200000);
  EXPECT_EQ(merged.memory_limit_in_bytes(), 1 << 30);
  EXPECT_EQ(merged.cpuset_cpus(), "3");
  EXPECT_EQ(merged.unified().size(), 2u);
}

TEST(ResourcesTest, UpdateSpecInPlaceKeepsDevicesAndOtherFields) {
  HostFeatures host;
  nlohmann::json spec = {{"linux", {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}}}}};
  spec["linux"]["resources"].merge_patch(ResourcesToOci(Full(), host));
  runtime::v1::LinuxContainerResources update;
  update.set_cpuset_cpus("2-3");
  ASSERT_TRUE(UpdateResources(spec, update, host).ok());
  const auto& r = spec["linux"]["resources"];
  EXPECT_EQ(r["cpu"]["cpus"], "2-3");
  EXPECT_EQ(r["cpu"]["quota"], 50000);
  EXPECT_EQ(r["memory"]["limit"], 256 << 20);
  EXPECT_EQ(r["devices"].size(), 1u);
  nlohmann::json bad = "x";
  EXPECT_FALSE(UpdateResources(bad, update, host).ok());
}

TEST(ResourcesTest, OomClamp) {
  EXPECT_EQ(ClampOomScoreAdj(-997, 0), 0);
  EXPECT_EQ(ClampOomScoreAdj(-997, -1000), -997);
  EXPECT_EQ(ClampOomScoreAdj(1000, 0), 1000);
  EXPECT_EQ(ClampOomScoreAdj(5000, -1000), 1000);
}

}  // namespace
}  // namespace flint::oci
