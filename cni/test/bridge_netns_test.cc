// flint-bridge + flint-host-local against real network namespaces (needs root).
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "cni/lib/ip_masq.h"
#include "cni/test/cni_test_env.h"

namespace flint::cni::testing {
namespace {

using json = nlohmann::json;

class BridgeNetnsTest : public CniTestEnv {
 protected:
  json Config(const json& extra = json::object()) const {
    return BridgeConfig("flint-bridge", "flint-host-local", extra);
  }
  PluginOutcome Add(const json& config, const std::string& id, const std::string& pod) {
    return Cni(Ours("flint-bridge"), "ADD", config, id, pod);
  }
  PluginOutcome Del(const json& config, const std::string& id, const std::string& pod) {
    return Cni(Ours("flint-bridge"), "DEL", config, id, pod);
  }
  PluginOutcome Check(json config, const json& prev, const std::string& id, const std::string& pod) {
    config["prevResult"] = prev;
    return Cni(Ours("flint-bridge"), "CHECK", config, id, pod);
  }
  static std::string PodIp(const PluginOutcome& add) {
    std::string cidr = add.json["ips"][0]["address"];
    return cidr.substr(0, cidr.find('/'));
  }
  // Host-side links enslaved to this test's bridge.
  size_t BridgePorts() {
    json links = IpJson("", {"link", "show", "master", bridge_});
    return links.is_array() ? links.size() : 0;
  }
  bool PodHasLink(const std::string& pod, const std::string& ifname) {
    return ShIn(pod, {"ip", "link", "show", ifname}).first == 0;
  }
  // True if `tool`'s nat table still has anything of the container's masquerade setup.
  bool HasMasqRules(const std::string& tool, const std::string& id) {
    std::string all = Sh({tool, "-w", "5", "-t", "nat", "-S"}).second;
    return all.find(MasqChainName(network_, id)) != std::string::npos;
  }
};

TEST_F(BridgeNetnsTest, TwoPodsReachEachOtherAndTheGateway) {
  std::string a = NewPod(), b = NewPod();
  json cfg = Config();
  PluginOutcome add_a = Add(cfg, "ctr-a", a);
  ASSERT_EQ(add_a.exit_code, 0) << add_a.out;
  PluginOutcome add_b = Add(cfg, "ctr-b", b);
  ASSERT_EQ(add_b.exit_code, 0) << add_b.out;

  // Result shape: bridge, host veth, pod interface with its sandbox.
  const json& r = add_a.json;
  EXPECT_EQ(r["cniVersion"], "1.0.0");
  ASSERT_EQ(r["interfaces"].size(), 3u);
  EXPECT_EQ(r["interfaces"][0]["name"], bridge_);
  EXPECT_EQ(r["interfaces"][1]["name"].get<std::string>().rfind("veth", 0), 0u);
  EXPECT_EQ(r["interfaces"][2]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][2]["sandbox"], NetnsPath(a));
  EXPECT_EQ(r["ips"][0]["interface"], 2);
  EXPECT_EQ(r["ips"][0]["address"], subnet_prefix_ + "2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], subnet_prefix_ + "1");
  EXPECT_EQ(r["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(PodIp(add_b), subnet_prefix_ + "3");

  EXPECT_TRUE(Ping(a, PodIp(add_b)));
  EXPECT_TRUE(Ping(b, PodIp(add_a)));
  EXPECT_TRUE(Ping(a, subnet_prefix_ + "1"));
  EXPECT_EQ(BridgePorts(), 2u);

  PluginOutcome check = Check(cfg, add_a.json, "ctr-a", a);
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_EQ(ReservedIps(), (std::vector<std::string>{subnet_prefix_ + "2", subnet_prefix_ + "3"}));

  for (int i = 0; i < 2; ++i) {
    PluginOutcome del = Del(cfg, "ctr-a", a);
    EXPECT_EQ(del.exit_code, 0) << del.out;
    EXPECT_TRUE(del.out.empty()) << del.out;
  }
  EXPECT_FALSE(PodHasLink(a, "eth0"));
  EXPECT_EQ(BridgePorts(), 1u);
  EXPECT_EQ(ReservedIps(), std::vector<std::string>{subnet_prefix_ + "3"});
  EXPECT_TRUE(Ping(b, subnet_prefix_ + "1"));
  ASSERT_EQ(Del(cfg, "ctr-b", b).exit_code, 0);
  EXPECT_TRUE(ReservedIps().empty());
}

TEST_F(BridgeNetnsTest, CheckFailsWhenThePodLostItsAddress) {
  std::string a = NewPod();
  json cfg = Config();
  PluginOutcome add = Add(cfg, "ctr-a", a);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  ASSERT_EQ(Check(cfg, add.json, "ctr-a", a).exit_code, 0);
  ASSERT_EQ(ShIn(a, {"ip", "addr", "del", add.json["ips"][0]["address"], "dev", "eth0"}).first, 0);
  PluginOutcome check = Check(cfg, add.json, "ctr-a", a);
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_NE(check.json["msg"].get<std::string>().find("lacks address"), std::string::npos) << check.out;
  // CHECK without prevResult is a config error.
  PluginOutcome no_prev = Cni(Ours("flint-bridge"), "CHECK", cfg, "ctr-a", a);
  EXPECT_EQ(no_prev.exit_code, 1);
  EXPECT_EQ(no_prev.json["code"], 7);
}

TEST_F(BridgeNetnsTest, DelSucceedsWithMissingNetnsOrInterfaceAndAlwaysReleasesIps) {
  std::string a = NewPod(), b = NewPod();
  json cfg = Config({{"ipMasq", true}});
  ASSERT_EQ(Add(cfg, "ctr-a", a).exit_code, 0);
  ASSERT_EQ(Add(cfg, "ctr-b", b).exit_code, 0);
  ASSERT_EQ(ReservedIps().size(), 2u);
  // Pod a's netns is gone (runtime deleted it first), pod b lost its eth0.
  ASSERT_EQ(Sh({"ip", "netns", "del", a}).first, 0);
  ASSERT_EQ(ShIn(b, {"ip", "link", "del", "eth0"}).first, 0);
  PluginOutcome del_a = Del(cfg, "ctr-a", a);
  EXPECT_EQ(del_a.exit_code, 0) << del_a.out;
  PluginOutcome del_b = Del(cfg, "ctr-b", b);
  EXPECT_EQ(del_b.exit_code, 0) << del_b.out;
  PluginOutcome del_empty = Del(cfg, "ctr-b", "");
  EXPECT_EQ(del_empty.exit_code, 0) << del_empty.out;
  EXPECT_TRUE(ReservedIps().empty());
  // Without the pod's addresses, the masquerade rules are found by searching.
  EXPECT_FALSE(HasMasqRules("iptables", "ctr-a"));
  EXPECT_FALSE(HasMasqRules("iptables", "ctr-b"));
}

TEST_F(BridgeNetnsTest, DelSucceedsWhenNetnsPathIsNoLongerANamespace) {
  std::string a = NewPod();
  json cfg = Config();
  ASSERT_EQ(Add(cfg, "ctr-a", a).exit_code, 0);
  // "ip netns del" unmounts and removes the file; recreate a plain file in its place.
  ASSERT_EQ(Sh({"ip", "netns", "del", a}).first, 0);
  { std::ofstream stale(NetnsPath(a)); }
  PluginOutcome del = Del(cfg, "ctr-a", a);
  std::filesystem::remove(NetnsPath(a));
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_TRUE(ReservedIps().empty());
  // ADD into such a path is refused with an error, not a crash.
  { std::ofstream stale(NetnsPath(a)); }
  PluginOutcome add = Add(cfg, "ctr-b", a);
  std::filesystem::remove(NetnsPath(a));
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_NE(add.json["msg"].get<std::string>().find("not a network namespace"), std::string::npos) << add.out;
}

TEST_F(BridgeNetnsTest, ConcurrentAddsGetDistinctAddresses) {
  constexpr int kPods = 8;
  std::vector<std::string> pods;
  for (int i = 0; i < kPods; ++i) pods.push_back(NewPod());
  json cfg = Config({{"ipMasq", true}});
  std::vector<PluginOutcome> results(kPods);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kPods; ++i) {
      threads.emplace_back([&, i] { results[i] = Add(cfg, "ctr-" + std::to_string(i), pods[i]); });
    }
    for (std::thread& t : threads) t.join();
  }
  std::set<std::string> ips;
  for (const PluginOutcome& r : results) {
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ips.insert(PodIp(r));
  }
  EXPECT_EQ(ips.size(), static_cast<size_t>(kPods));
  EXPECT_EQ(ReservedIps().size(), static_cast<size_t>(kPods));
  EXPECT_EQ(BridgePorts(), static_cast<size_t>(kPods));
  EXPECT_TRUE(Ping(pods[0], PodIp(results[kPods - 1])));
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(Del(cfg, "ctr-" + std::to_string(i), pods[i]).exit_code, 0);
  }
  EXPECT_TRUE(ReservedIps().empty());
}

TEST_F(BridgeNetnsTest, ExhaustedRangeFailsWithoutLeftovers) {
  json cfg = Config({{"ipam",
                      {{"ranges", json::array({json::array({{{"subnet", subnet_prefix_ + "0/24"},
                                                             {"rangeStart", subnet_prefix_ + "10"},
                                                             {"rangeEnd", subnet_prefix_ + "11"}}})})}}}});
  std::string a = NewPod(), b = NewPod(), c = NewPod();
  ASSERT_EQ(Add(cfg, "ctr-a", a).exit_code, 0);
  ASSERT_EQ(Add(cfg, "ctr-b", b).exit_code, 0);
  PluginOutcome full = Add(cfg, "ctr-c", c);
  ASSERT_EQ(full.exit_code, 1) << full.out;
  EXPECT_EQ(full.json["code"], 100);
  EXPECT_EQ(full.json["cniVersion"], "1.0.0");
  std::string msg = full.json["msg"];
  EXPECT_NE(msg.find("no IP addresses available in range set: " + subnet_prefix_ + "10-" + subnet_prefix_ + "11"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(PodHasLink(c, "eth0"));
  EXPECT_EQ(BridgePorts(), 2u);
  EXPECT_EQ(ReservedIps().size(), 2u);
}

TEST_F(BridgeNetnsTest, MalformedConfigsPrintCniErrorJson) {
  std::string a = NewPod();
  struct Case {
    json config;
    int code;
  };
  std::vector<Case> cases = {
      {Config({{"ipam", nullptr}}), 7},
      {Config({{"mtu", "big"}}), 7},
      {Config({{"cniVersion", "0.1.0"}}), 1},
      {Config({{"ipam", {{"ranges", json::array({json::array({{{"subnet", "10.0.0.0/33"}}})})}}}}), 7},
  };
  for (const Case& c : cases) {
    PluginOutcome out = Add(c.config, "ctr-a", a);
    EXPECT_EQ(out.exit_code, 1) << c.config.dump();
    EXPECT_EQ(out.json["code"], c.code) << out.out;
    EXPECT_TRUE(out.json["msg"].is_string()) << out.out;
    EXPECT_TRUE(out.json.contains("cniVersion")) << out.out;
  }
  std::map<std::string, std::string> env = {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "x"},
                                            {"CNI_NETNS", NetnsPath(a)}, {"CNI_IFNAME", "eth0"},
                                            {"CNI_PATH", FlintBinDir()}};
  PluginOutcome garbage = InvokePlugin(Ours("flint-bridge"), env, "{\"cniVersion\": ");
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_EQ(garbage.json["code"], 6);
  EXPECT_FALSE(PodHasLink(a, "eth0"));
  EXPECT_TRUE(ReservedIps().empty());
}

TEST_F(BridgeNetnsTest, RepeatedAddFailsAndKeepsTheExistingAttachment) {
  std::string a = NewPod();
  json cfg = Config();
  PluginOutcome first = Add(cfg, "ctr-a", a);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  PluginOutcome again = Add(cfg, "ctr-a", a);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.json["msg"].get<std::string>().find("already exists"), std::string::npos) << again.out;
  EXPECT_EQ(ReservedIps(), std::vector<std::string>{PodIp(first)});
  EXPECT_EQ(BridgePorts(), 1u);
  EXPECT_TRUE(Ping(a, subnet_prefix_ + "1"));
}

TEST_F(BridgeNetnsTest, FailedIpamLeavesNoVeth) {
  std::string a = NewPod();
  PluginOutcome out = Add(Config({{"ipam", {{"type", "no-such-ipam"}}}}), "ctr-a", a);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.json["msg"].get<std::string>().find("no-such-ipam"), std::string::npos) << out.out;
  EXPECT_FALSE(PodHasLink(a, "eth0"));
  EXPECT_EQ(BridgePorts(), 0u);
}

TEST_F(BridgeNetnsTest, FailureAfterIpamReleasesTheAddress) {
  // The bridge already holds a different address of the subnet: without
  // forceAddress the gateway step fails after IPAM handed out an address.
  ASSERT_EQ(Sh({"ip", "link", "add", bridge_, "type", "bridge"}).first, 0);
  ASSERT_EQ(Sh({"ip", "addr", "add", subnet_prefix_ + "200/24", "dev", bridge_}).first, 0);
  std::string a = NewPod();
  PluginOutcome out = Add(Config({{"ipMasq", true}}), "ctr-a", a);
  ASSERT_EQ(out.exit_code, 1) << out.out;
  EXPECT_NE(out.json["msg"].get<std::string>().find("already has an IP address"), std::string::npos) << out.out;
  EXPECT_TRUE(ReservedIps().empty());
  EXPECT_FALSE(PodHasLink(a, "eth0"));
  EXPECT_EQ(BridgePorts(), 0u);
  EXPECT_NE(Sh({"iptables", "-w", "5", "-t", "nat", "-S", MasqChainName(network_, "ctr-a")}).first, 0);

  PluginOutcome forced = Add(Config({{"forceAddress", true}}), "ctr-a", a);
  ASSERT_EQ(forced.exit_code, 0) << forced.out;
  json addrs = IpJson("", {"-4", "addr", "show", "dev", bridge_});
  ASSERT_EQ(addrs[0]["addr_info"].size(), 1u);
  EXPECT_EQ(addrs[0]["addr_info"][0]["local"], subnet_prefix_ + "1");
}

TEST_F(BridgeNetnsTest, PromiscuousBridge) {
  std::string a = NewPod();
  PluginOutcome add = Add(Config({{"promiscMode", true}}), "ctr-a", a);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  int flags = std::stoi(ReadFileOr("/sys/class/net/" + bridge_ + "/flags", "0"), nullptr, 16);
  EXPECT_TRUE(flags & 0x100) << "bridge not promiscuous";
  std::string veth = add.json["interfaces"][1]["name"];
  EXPECT_EQ(ReadFileOr("/sys/class/net/" + veth + "/brport/hairpin_mode", "?"), "0");
}

TEST_F(BridgeNetnsTest, MtuHairpinAndMasquerade) {
  std::string a = NewPod();
  json cfg = Config({{"mtu", 1400}, {"hairpinMode", true}, {"ipMasq", true}});
  PluginOutcome add = Add(cfg, "ctr-a", a);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  std::string veth = add.json["interfaces"][1]["name"];
  EXPECT_EQ(IpJson(a, {"link", "show", "eth0"})[0]["mtu"], 1400);
  EXPECT_EQ(IpJson("", {"link", "show", veth})[0]["mtu"], 1400);
  EXPECT_EQ(IpJson("", {"link", "show", bridge_})[0]["mtu"], 1400);
  EXPECT_EQ(ReadFileOr("/sys/class/net/" + veth + "/brport/hairpin_mode", "?"), "1");
  EXPECT_EQ(ReadFileOr("/proc/sys/net/ipv4/ip_forward", "?"), "1");

  std::string chain = MasqChainName(network_, "ctr-a");
  auto [rc, rules] = Sh({"iptables", "-w", "5", "-t", "nat", "-S", chain});
  ASSERT_EQ(rc, 0) << rules;
  EXPECT_NE(rules.find("-d " + subnet_prefix_ + "0/24"), std::string::npos) << rules;
  EXPECT_NE(rules.find("MASQUERADE"), std::string::npos) << rules;
  // iptables -S prints the comment with its quotes escaped.
  EXPECT_NE(rules.find("--comment \"name: \\\"" + network_ + "\\\" id: \\\"ctr-a\\\"\""), std::string::npos)
      << rules;
  auto [rc2, post] = Sh({"iptables", "-w", "5", "-t", "nat", "-S", "POSTROUTING"});
  EXPECT_NE(post.find("-s " + PodIp(add) + "/32"), std::string::npos) << post;

  ASSERT_EQ(Del(cfg, "ctr-a", a).exit_code, 0);
  EXPECT_NE(Sh({"iptables", "-w", "5", "-t", "nat", "-S", chain}).first, 0);
  auto [rc3, post_after] = Sh({"iptables", "-w", "5", "-t", "nat", "-S", "POSTROUTING"});
  EXPECT_EQ(post_after.find(chain), std::string::npos) << post_after;
}

TEST_F(BridgeNetnsTest, DualStackWithV031Result) {
  std::string a = NewPod(), b = NewPod();
  json ranges = json::array({json::array({{{"subnet", subnet_prefix_ + "0/24"}}}),
                             json::array({{{"subnet", subnet6_prefix_ + "/64"}}})});
  json cfg = Config({{"cniVersion", "0.3.1"}, {"ipMasq", true}, {"ipam", {{"ranges", ranges}}}});
  PluginOutcome add_a = Add(cfg, "ctr-a", a);
  ASSERT_EQ(add_a.exit_code, 0) << add_a.out;
  PluginOutcome add_b = Add(cfg, "ctr-b", b);
  ASSERT_EQ(add_b.exit_code, 0) << add_b.out;
  EXPECT_EQ(add_a.json["cniVersion"], "0.3.1");
  ASSERT_EQ(add_a.json["ips"].size(), 2u);
  EXPECT_EQ(add_a.json["ips"][0]["version"], "4");
  EXPECT_EQ(add_a.json["ips"][1]["version"], "6");
  EXPECT_EQ(add_a.json["ips"][1]["address"], subnet6_prefix_ + "2/64");
  std::string b6 = add_b.json["ips"][1]["address"];
  EXPECT_TRUE(Ping(a, b6.substr(0, b6.find('/'))));
  EXPECT_EQ(ReservedIps().size(), 4u);
  EXPECT_TRUE(HasMasqRules("iptables", "ctr-a"));
  EXPECT_TRUE(HasMasqRules("ip6tables", "ctr-a"));
  // DEL with the ADD result (as runtimes send it) and without.
  json with_prev = cfg;
  with_prev["prevResult"] = add_a.json;
  ASSERT_EQ(Del(with_prev, "ctr-a", a).exit_code, 0);
  ASSERT_EQ(Del(cfg, "ctr-b", b).exit_code, 0);
  EXPECT_TRUE(ReservedIps().empty());
  for (const char* tool : {"iptables", "ip6tables"}) {
    EXPECT_FALSE(HasMasqRules(tool, "ctr-a")) << tool;
    EXPECT_FALSE(HasMasqRules(tool, "ctr-b")) << tool;
  }
}

TEST_F(BridgeNetnsTest, StatusAndGcWithSpec110) {
  std::string a = NewPod(), b = NewPod(), c = NewPod();
  json cfg = Config({{"cniVersion", "1.1.0"}});
  for (const auto& [id, pod] : {std::pair{"ctr-a", a}, std::pair{"ctr-b", b}, std::pair{"ctr-c", c}}) {
    PluginOutcome add = Add(cfg, id, pod);
    ASSERT_EQ(add.exit_code, 0) << add.out;
    EXPECT_EQ(add.json["cniVersion"], "1.1.0");
  }
  std::map<std::string, std::string> env = {{"CNI_PATH", FlintBinDir()}, {"CNI_COMMAND", "STATUS"}};
  PluginOutcome status = InvokePlugin(Ours("flint-bridge"), env, cfg.dump());
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_TRUE(status.out.empty()) << status.out;

  json gc = cfg;
  gc["cni.dev/valid-attachments"] = {{{"containerID", "ctr-b"}, {"ifname", "eth0"}}};
  env["CNI_COMMAND"] = "GC";
  PluginOutcome collected = InvokePlugin(Ours("flint-bridge"), env, gc.dump());
  EXPECT_EQ(collected.exit_code, 0) << collected.out;
  EXPECT_EQ(ReservedIps(), std::vector<std::string>{subnet_prefix_ + "3"});
  // GC is a 1.1.0 command.
  json old = gc;
  old["cniVersion"] = "1.0.0";
  PluginOutcome refused = InvokePlugin(Ours("flint-bridge"), env, old.dump());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.json["code"], 1);
}

}  // namespace
}  // namespace flint::cni::testing
