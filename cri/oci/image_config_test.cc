#include "cri/oci/image_config.h"

#include <gtest/gtest.h>

namespace flint::oci {
namespace {

TEST(ImageConfigTest, ParsesRuntimeFields) {
  auto cfg = ParseImageConfig(R"({"architecture":"amd64","config":{
      "Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],
      "Env":["PATH=/usr/bin","NGINX_VERSION=1.25"],"WorkingDir":"/srv","User":"101:101",
      "StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{}}}})");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->entrypoint, std::vector<std::string>{"/docker-entrypoint.sh"});
  EXPECT_EQ(cfg->cmd, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(cfg->env.size(), 2u);
  EXPECT_EQ(cfg->working_dir, "/srv");
  EXPECT_EQ(cfg->user, "101:101");
  EXPECT_EQ(cfg->stop_signal, "SIGQUIT");
}

TEST(ImageConfigTest, MissingConfigAndNullsAreEmpty) {
  auto cfg = ParseImageConfig(R"({"architecture":"amd64"})");
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->cmd.empty());
  cfg = ParseImageConfig(R"({"config":{"Entrypoint":null,"Cmd":["sh"]}})");
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->entrypoint.empty());
  EXPECT_EQ(cfg->cmd, std::vector<std::string>{"sh"});
}

TEST(ImageConfigTest, RejectsMalformed) {
  EXPECT_FALSE(ParseImageConfig("not json").ok());
  EXPECT_FALSE(ParseImageConfig(R"({"config":{"Cmd":"sh"}})").ok());
  EXPECT_FALSE(ParseImageConfig(R"({"config":{"Env":[1]}})").ok());
}

}  // namespace
}  // namespace flint::oci
