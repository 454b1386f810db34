#include "cri/flist_image/startup_toml.h"

#include <gtest/gtest.h>

namespace flint::flist_image {
namespace {

TEST(StartupTomlTest, HubDockerConverterForm) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(R"([startup]

[startup.entry]
name = "core.system"

[startup.entry.args]
name = "/usr/local/bin/redis-server"
args = ["--port", "6379", "--save", ""]
dir = "/data"

[startup.entry.args.env]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REDIS_VERSION = "7.2.4"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->argv, (std::vector<std::string>{"/usr/local/bin/redis-server", "--port", "6379", "--save", ""}));
  EXPECT_EQ(c->dir, "/data");
  EXPECT_EQ(c->env.at("REDIS_VERSION"), "7.2.4");
  EXPECT_EQ(c->env.size(), 2u);
}

TEST(StartupTomlTest, InlineEnvAndEscapes) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml(
      "[startup.entry.args]\nname = \"/bin/sh\"\nargs = [\"-c\", \"echo \\\"hi\\\"\\n\",]\n"
      "env = {A = \"1\", \"B\" = \"two\"}  # comment\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->argv, (std::vector<std::string>{"/bin/sh", "-c", "echo \"hi\"\n"}));
  EXPECT_EQ(c->env.at("B"), "two");
  EXPECT_EQ(c->dir, "");
}

TEST(StartupTomlTest, ErrorsNameTheLine) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml("[startup.entry.args]\nname = \"unterminated\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 2"), std::string::npos) << c.status();
  EXPECT_FALSE(ParseStartupToml("[startup.entry.args]\nargs = [\"a\" \"b\"]\n").ok());
}

TEST(StartupTomlTest, EmptyFileHasNoCommand) {
  absl::StatusOr<StartupConfig> c = ParseStartupToml("");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->argv.empty());
}

}  // namespace
}  // namespace flint::flist_image
