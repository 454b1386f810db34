#include "cri/runtime/stats_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/fs.h"

namespace flint::runtime {
namespace {

class StatsSourceTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-stats-source-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::RemoveAll(dir_); }

  std::string Bundle(const std::string& name, const std::string& config) {
    std::string bundle = dir_ + "/" + name;
    EXPECT_TRUE(fs::MakeDirs(bundle).ok());
    EXPECT_TRUE(fs::WriteFileAtomic(bundle + "/config.json", config).ok());
    return bundle;
  }

  std::string dir_;
};

TEST_F(StatsSourceTest, ReadsCgroupsPathOfBothDrivers) {
  auto cgroupfs = ReadBundleCgroupsPath(Bundle("a", R"({"linux":{"cgroupsPath":"/kubepods/poduid/abc"}})"));
  ASSERT_TRUE(cgroupfs.ok()) << cgroupfs.status();
  EXPECT_EQ(*cgroupfs, "/kubepods/poduid/abc");
  auto systemd = ReadBundleCgroupsPath(Bundle("b", R"({"linux":{"cgroupsPath":"kubepods-pod1.slice:flint:abc"}})"));
  ASSERT_TRUE(systemd.ok()) << systemd.status();
  EXPECT_EQ(*systemd, "kubepods-pod1.slice:flint:abc");
}

TEST_F(StatsSourceTest, ExplainsMissingOrBrokenSpecs) {
  EXPECT_EQ(ReadBundleCgroupsPath(dir_ + "/none").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadBundleCgroupsPath(Bundle("c", R"({"linux":{}})")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadBundleCgroupsPath(Bundle("d", R"({"process":{}})")).status().code(), absl::StatusCode::kNotFound);
  absl::Status broken = ReadBundleCgroupsPath(Bundle("e", "{not json")).status();
  EXPECT_EQ(broken.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(broken.message().find("config.json"), absl::string_view::npos) << broken;
}

TEST_F(StatsSourceTest, CacheKeepsPathsUntilRetainDropsThem) {
  std::string bundle = Bundle("f", R"({"linux":{"cgroupsPath":"/flint/f"}})");
  CgroupsPathCache cache;
  ASSERT_EQ(cache.Get("f", bundle).value_or(""), "/flint/f");
  // Cached: the bundle may be gone (container removed mid-list) and the answer stays.
  ASSERT_TRUE(fs::RemoveAll(bundle).ok());
  EXPECT_EQ(cache.Get("f", bundle).value_or(""), "/flint/f");
  cache.Retain({"other"});
  EXPECT_FALSE(cache.Get("f", bundle).ok()) << "forgotten after Retain, and the bundle is gone";
}

}  // namespace
}  // namespace flint::runtime
