#include "cri/cni/cni_protocol.h"

#include <gtest/gtest.h>

namespace flint::cni {
namespace {

TEST(CniProtocolTest, SelectsVersion) {
  EXPECT_EQ(*SelectCniVersion(nlohmann::json::parse(R"({"cniVersion":"0.3.1"})")), "0.3.1");
  EXPECT_EQ(*SelectCniVersion(nlohmann::json::parse(R"({"cniVersion":"0.4.0","cniVersions":["1.0.0","9.9.9","0.4.0"]})")),
            "1.0.0");
  EXPECT_EQ(SelectCniVersion(nlohmann::json::parse(R"({"cniVersion":"0.2.0"})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SelectCniVersion(nlohmann::json::parse(R"({"name":"x"})")).ok());
  EXPECT_LT(CompareVersions("0.3.1", "0.4.0"), 0);
  EXPECT_GT(CompareVersions("1.0.0", "0.10.0"), 0);
  EXPECT_EQ(CompareVersions("1.0.0", "1.0.0"), 0);
}

TEST(CniProtocolTest, PluginStdinInjectsNameVersionPrevResultAndRuntimeConfig) {
  nlohmann::json plugin = nlohmann::json::parse(R"({"type":"portmap","snat":true,"runtimeConfig":{"stale":1}})");
  nlohmann::json prev = {{"cniVersion", "1.0.0"}, {"ips", nlohmann::json::array()}};
  nlohmann::json rc = {{"portMappings", nlohmann::json::array()}};
  nlohmann::json in = nlohmann::json::parse(BuildPluginStdin(plugin, "net", "1.0.0", &prev, rc));
  EXPECT_EQ(in["name"], "net");
  EXPECT_EQ(in["cniVersion"], "1.0.0");
  EXPECT_EQ(in["type"], "portmap");
  EXPECT_EQ(in["snat"], true);
  EXPECT_EQ(in["prevResult"], prev);
  EXPECT_EQ(in["runtimeConfig"], rc);
  in = nlohmann::json::parse(BuildPluginStdin(plugin, "net", "1.0.0", nullptr, nlohmann::json::object()));
  EXPECT_FALSE(in.contains("prevResult"));
  EXPECT_FALSE(in.contains("runtimeConfig"));
}

TEST(CniProtocolTest, ErrorJsonBecomesStatusWithPluginCodeMsgDetails) {
  PluginOutput out;
  out.exit_code = 1;
  out.stdout_data = R"({"cniVersion":"1.0.0","code":7,"msg":"no bridge name","details":"field bridge"})";
  absl::Status s = PluginFailure("bridge", "ADD", out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  std::string m(s.message());
  for (const char* part : {"plugin bridge ADD failed", "exit code 1", "CNI error 7", "invalid network config",
                           "no bridge name", "details: field bridge"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in " << m;

  out.stdout_data = R"({"code":11,"msg":"busy"})";
  EXPECT_EQ(PluginFailure("x", "ADD", out).code(), absl::StatusCode::kUnavailable);

  out.stdout_data = "";
  out.stderr_data = "panic: runtime error\n";
  m = std::string(PluginFailure("x", "DEL", out).message());
  EXPECT_NE(m.find("panic: runtime error"), std::string::npos) << m;

  out.exit_code = -1;
  out.term_signal = 9;
  EXPECT_NE(PluginFailure("x", "DEL", out).message().find("signal 9"), std::string::npos);
}

TEST(CniProtocolTest, ParseResultRejectsNonObjects) {
  EXPECT_TRUE(ParsePluginResult("x", R"({"cniVersion":"1.0.0"})").ok());
  EXPECT_FALSE(ParsePluginResult("x", "").ok());
  EXPECT_FALSE(ParsePluginResult("x", "[1]").ok());
}

TEST(CniProtocolTest, PodIpsFromSandboxInterfaceIpv4First) {
  nlohmann::json result = nlohmann::json::parse(R"({
    "cniVersion":"1.0.0",
    "interfaces":[{"name":"cni0","mac":"aa"},{"name":"veth1","mac":"bb"},
                  {"name":"eth0","mac":"cc","sandbox":"/var/run/netns/x"}],
    "ips":[{"address":"10.1.0.1/24","interface":0},
           {"address":"fd00::5/64","interface":2},
           {"address":"10.88.0.5/16","gateway":"10.88.0.1","interface":2}]})");
  EXPECT_EQ(SelectPodIps(result, "eth0"), (std::vector<std::string>{"10.88.0.5", "fd00::5"}));
}

TEST(CniProtocolTest, PodIpsFallBackToAllIpsFor031ResultsWithoutInterfaces) {
  nlohmann::json result = nlohmann::json::parse(R"({
    "cniVersion":"0.3.1",
    "ips":[{"version":"6","address":"fd00::7/64"},{"version":"4","address":"10.2.0.7/24"}]})");
  EXPECT_EQ(SelectPodIps(result, "eth0"), (std::vector<std::string>{"10.2.0.7", "fd00::7"}));
  // An eth0 outside a sandbox (host side) does not count as the pod's interface.
  result["interfaces"] = nlohmann::json::parse(R"([{"name":"eth0"}])");
  result["ips"][0]["interface"] = 0;
  EXPECT_EQ(SelectPodIps(result, "eth0"), (std::vector<std::string>{"10.2.0.7", "fd00::7"}));
  EXPECT_TRUE(SelectPodIps(nlohmann::json::object(), "eth0").empty());
}

}  // namespace
}  // namespace flint::cni
