#include "cri/cni/network_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace flint::cni {
namespace {

class NetworkConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-cni-conf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/" + name, content).ok());
  }
  std::string dir_;
};

TEST_F(NetworkConfigTest, EmptyDirIsNotFoundNamingTheDir) {
  absl::StatusOr<NetworkConfig> c = LoadFirstNetworkConfig(dir_);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find(dir_), std::string::npos);
  EXPECT_EQ(LoadFirstNetworkConfig(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NetworkConfigTest, PicksLexicographicallyFirstValidFile) {
  Write("20-b.conflist", R"({"cniVersion":"1.0.0","name":"second","plugins":[{"type":"bridge"}]})");
  Write("10-a.conflist", R"({"cniVersion":"1.0.0","name":"first","plugins":[{"type":"flint-bridge"},{"type":"portmap"}]})");
  Write("05-broken.conflist", "{not json");
  Write("00-ignored.txt", R"({"name":"nope"})");
  absl::StatusOr<NetworkConfig> c = LoadFirstNetworkConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "first");
  EXPECT_EQ(c->plugin_types, (std::vector<std::string>{"flint-bridge", "portmap"}));
}

TEST_F(NetworkConfigTest, SingleConfBecomesList) {
  Write("10.conf", R"({"cniVersion":"0.4.0","name":"net","type":"bridge","bridge":"cni0"})");
  absl::StatusOr<NetworkConfig> c = LoadFirstNetworkConfig(dir_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cni_version, "0.4.0");
  nlohmann::json list = nlohmann::json::parse(c->conflist_json);
  ASSERT_EQ(list["plugins"].size(), 1u);
  EXPECT_EQ(list["plugins"][0]["bridge"], "cni0");
}

TEST_F(NetworkConfigTest, RejectsConfigsWithoutNameOrType) {
  EXPECT_FALSE(ParseNetworkConfig("x", R"({"plugins":[{"type":"a"}]})", true).ok());
  EXPECT_FALSE(ParseNetworkConfig("x", R"({"name":"n","plugins":[{}]})", true).ok());
  EXPECT_FALSE(ParseNetworkConfig("x", R"({"name":"n","plugins":[]})", true).ok());
}

}  // namespace
}  // namespace flint::cni
