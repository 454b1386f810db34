#include "cni/lib/plugin_main.h"

#include <gtest/gtest.h>

#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

PluginHandlers EchoHandlers(int* calls) {
  auto add = [calls](const PluginRequest& req) -> absl::StatusOr<std::optional<json>> {
    ++*calls;
    return json{{"cniVersion", req.cni_version}, {"network", req.network_name}};
  };
  auto fail = [calls](const PluginRequest&) -> absl::StatusOr<std::optional<json>> {
    ++*calls;
    return WithContext(CniStatus(ErrorCode::kTryAgainLater, "busy", "lock held"), "del");
  };
  PluginHandlers handlers;
  handlers.add = add;
  handlers.check = add;
  handlers.del = fail;
  return handlers;
}

PluginEnv Env(const char* command) {
  PluginEnv env;
  env.command = command;
  env.container_id = "c1";
  env.netns = "/var/run/netns/x";
  env.ifname = "eth0";
  env.path = {"/opt/cni/bin"};
  return env;
}

constexpr char kGood[] = R"({"cniVersion": "1.0.0", "name": "net1", "type": "x"})";

TEST(PluginMainTest, AddRunsHandlerAndPrintsResult) {
  int calls = 0;
  std::string out;
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("ADD"), kGood, &out), 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(json::parse(out)["network"], "net1");
}

TEST(PluginMainTest, HandlerErrorsBecomeErrorJsonWithCodeAndContext) {
  int calls = 0;
  std::string out;
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("DEL"), kGood, &out), 1);
  json err = json::parse(out);
  EXPECT_EQ(err["cniVersion"], "1.0.0");
  EXPECT_EQ(err["code"], 11);
  EXPECT_EQ(err["msg"], "del: busy");
  EXPECT_EQ(err["details"], "lock held");
}

struct BadInput {
  const char* config;
  int code;
};

TEST(PluginMainTest, MalformedConfigsGetWellKnownCodes) {
  const BadInput cases[] = {
      {"{not json", 6},
      {"[1,2]", 6},
      {R"({"name": "n", "type": "x"})", 7},
      {R"({"cniVersion": "9.9.9", "name": "n", "type": "x"})", 1},
      {R"({"cniVersion": "1.0.0", "type": "x"})", 7},
  };
  for (const BadInput& c : cases) {
    int calls = 0;
    std::string out;
    EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("ADD"), c.config, &out), 1) << c.config;
    EXPECT_EQ(calls, 0);
    json err = json::parse(out);
    EXPECT_EQ(err["code"], c.code) << c.config;
    EXPECT_TRUE(err["msg"].is_string());
    EXPECT_TRUE(err.contains("cniVersion"));
  }
}

TEST(PluginMainTest, MissingEnvironmentIsCode4AndNamesTheVariables) {
  int calls = 0;
  std::string out;
  PluginEnv env = Env("ADD");
  env.netns.clear();
  env.ifname.clear();
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), env, kGood, &out), 1);
  json err = json::parse(out);
  EXPECT_EQ(err["code"], 4);
  EXPECT_NE(err["msg"].get<std::string>().find("CNI_NETNS,CNI_IFNAME"), std::string::npos);
  // DEL tolerates a missing netns.
  env = Env("DEL");
  env.netns.clear();
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), env, kGood, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 11);
}

TEST(PluginMainTest, RejectsInvalidContainerIdAndIfname) {
  int calls = 0;
  std::string out;
  PluginEnv env = Env("ADD");
  env.container_id = "../etc";
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), env, kGood, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 4);
  env = Env("ADD");
  env.ifname = "a-name-that-is-too-long";
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), env, kGood, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 4);
  env.ifname = "eth/0";
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), env, kGood, &out), 1);
  EXPECT_EQ(calls, 0);
}

TEST(PluginMainTest, VersionListsSupportedVersions) {
  int calls = 0;
  std::string out;
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("VERSION"), "", &out), 0);
  json v = json::parse(out);
  EXPECT_EQ(v["cniVersion"], "1.1.0");
  EXPECT_EQ(v["supportedVersions"], json({"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
}

TEST(PluginMainTest, CheckNeedsAtLeast040) {
  int calls = 0;
  std::string out;
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("CHECK"), R"({"cniVersion": "0.3.1", "name": "n"})", &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 1);
  EXPECT_EQ(RunPluginWith(EchoHandlers(&calls), Env("BOGUS"), kGood, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 4);
}

TEST(PluginMainTest, StatusAndGcNeedOnlyCniPathAndVersion110) {
  int calls = 0;
  PluginHandlers handlers = EchoHandlers(&calls);
  handlers.gc = handlers.check;  // returns a JSON body, which would be printed
  PluginEnv env;
  env.command = "GC";
  env.path = {"/opt/cni/bin"};
  std::string out;
  constexpr char k110[] = R"({"cniVersion": "1.1.0", "name": "net1"})";
  EXPECT_EQ(RunPluginWith(handlers, env, k110, &out), 0) << out;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(RunPluginWith(handlers, env, kGood, &out), 1);  // 1.0.0 has no GC
  EXPECT_EQ(json::parse(out)["code"], 1);
  env.command = "STATUS";  // no handler registered
  EXPECT_EQ(RunPluginWith(handlers, env, k110, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 4);
  env.path.clear();
  env.command = "GC";
  EXPECT_EQ(RunPluginWith(handlers, env, k110, &out), 1);
  EXPECT_EQ(json::parse(out)["code"], 4);
}

TEST(PluginMainTest, ParsesCniArgs) {
  auto args = ParseCniArgs("IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->at("K8S_POD_NAME"), "web-0");
  EXPECT_EQ(args->size(), 3u);
  EXPECT_FALSE(ParseCniArgs("novalue").ok());
}

}  // namespace
}  // namespace flint::cni
