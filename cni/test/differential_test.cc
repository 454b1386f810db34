// The same network config through Debian's reference plugins and ours, in
// fresh namespaces, must leave the same network state and result shape.
#include <unistd.h>

#include "cni/lib/ip_masq.h"
#include "cni/test/cni_test_env.h"

namespace flint::cni::testing {
namespace {

using json = nlohmann::json;

class DifferentialTest : public CniTestEnv {
 protected:
  void SetUp() override {
    CniTestEnv::SetUp();
    if (IsSkipped()) return;
    if (!HaveReferencePlugins()) GTEST_SKIP() << "needs containernetworking-plugins in /usr/lib/cni";
  }

  // A comparable view of one attachment: links, addresses, routes, sysctls,
  // NAT rules, IPAM files and the result with generated names and MACs blanked.
  json Snapshot(const std::string& pod, const json& result) {
    json s;
    auto link_view = [](const json& l) {
      json v = {{"ifname", l.value("ifname", "")}, {"mtu", l.value("mtu", 0)}, {"txqlen", l.value("txqlen", -1)},
                {"operstate", l.value("operstate", "")}, {"link_type", l.value("link_type", "")}};
      json flags = l.value("flags", json::array());
      v["up"] = std::find(flags.begin(), flags.end(), "UP") != flags.end();
      if (l.contains("linkinfo")) v["kind"] = l["linkinfo"].value("info_kind", "");
      if (l.contains("master")) v["has_master"] = true;
      v["promiscuity"] = l.value("promiscuity", -1);
      return v;
    };
    auto addr_view = [](const json& links) {
      json out = json::array();
      for (const json& a : links[0]["addr_info"]) {
        if (a.value("scope", "") == "link") continue;  // EUI-64 link-local differs by MAC
        out.push_back({{"family", a["family"]}, {"local", a["local"]}, {"prefixlen", a["prefixlen"]},
                       {"broadcast", a.value("broadcast", "")}, {"scope", a["scope"]}});
      }
      return out;
    };
    auto route_view = [](const json& routes) {
      json out = json::array();
      for (json r : routes) {
        if (r.value("dst", "").rfind("fe80", 0) == 0 || r.value("dst", "").rfind("ff00", 0) == 0) continue;
        r.erase("expires");
        out.push_back(r);
      }
      return out;
    };
    s["pod_link"] = link_view(IpJson(pod, {"-d", "link", "show", "eth0"})[0]);
    s["pod_addrs"] = addr_view(IpJson(pod, {"addr", "show", "dev", "eth0"}));
    s["pod_routes4"] = route_view(IpJson(pod, {"-4", "route", "show"}));
    s["pod_routes6"] = route_view(IpJson(pod, {"-6", "route", "show"}));
    s["pod_arp_notify"] = ShIn(pod, {"cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"}).second;
    s["pod_accept_dad"] = ShIn(pod, {"cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad"}).second;

    std::string veth = result["interfaces"][1]["name"];
    json veth_link = IpJson("", {"-d", "link", "show", veth})[0];
    s["veth_link"] = link_view(veth_link);
    s["veth_link"].erase("ifname");
    s["veth_master"] = veth_link.value("master", "");
    s["veth_hairpin"] = ReadFileOr("/sys/class/net/" + veth + "/brport/hairpin_mode", "?");
    s["bridge_link"] = link_view(IpJson("", {"-d", "link", "show", bridge_})[0]);
    s["bridge_addrs"] = addr_view(IpJson("", {"addr", "show", "dev", bridge_}));
    s["ip_forward"] = ReadFileOr("/proc/sys/net/ipv4/ip_forward", "?");
    s["ipv6_forwarding"] = ReadFileOr("/proc/sys/net/ipv6/conf/all/forwarding", "?");

    std::string chain = MasqChainName(network_, "ctr-a");
    for (std::string tool : {"iptables", "ip6tables"}) {
      s[tool + "_chain"] = Sh({tool, "-w", "5", "-t", "nat", "-S", chain}).second;
      std::string post = Sh({tool, "-w", "5", "-t", "nat", "-S", "POSTROUTING"}).second;
      json jumps = json::array();
      for (size_t pos = 0, end; (end = post.find('\n', pos)) != std::string::npos; pos = end + 1) {
        std::string line = post.substr(pos, end - pos);
        if (line.find(chain) != std::string::npos) jumps.push_back(line);
      }
      s[tool + "_postrouting"] = jumps;
    }
    s["ipam_files"] = ReservedIps();
    json ipam_contents = json::array();
    for (const std::string& ip : ReservedIps()) {
      ipam_contents.push_back(ReadFileOr(data_dir_ + "/" + network_ + "/" + ip, "?"));
    }
    s["ipam_contents"] = ipam_contents;

    json r = result;
    for (json& i : r["interfaces"]) {
      if (i.contains("mac")) i["mac"] = "<mac>";
    }
    r["interfaces"][1]["name"] = "<veth>";
    s["result"] = r;
    return s;
  }

  // ADD with `bridge_plugin`, snapshot, DEL, then remove everything so the
  // next run starts from the same clean slate.
  json AttachSnapshotDetach(const std::string& bridge_plugin, const json& cfg) {
    std::string pod = NewPod();
    PluginOutcome add = Cni(bridge_plugin, "ADD", cfg, "ctr-a", pod);
    EXPECT_EQ(add.exit_code, 0) << bridge_plugin << ": " << add.out;
    if (add.exit_code != 0) return nullptr;
    json snap = Snapshot(pod, add.json);
    PluginOutcome del = Cni(bridge_plugin, "DEL", cfg, "ctr-a", pod);
    EXPECT_EQ(del.exit_code, 0) << bridge_plugin << ": " << del.out;
    EXPECT_TRUE(ReservedIps().empty());
    CleanUp();
    return snap;
  }

  json RangesV4V6() const {
    return json::array({json::array({{{"subnet", subnet_prefix_ + "0/24"}}}),
                        json::array({{{"subnet", subnet6_prefix_ + "/64"}}})});
  }
};

TEST_F(DifferentialTest, SameConfigLeavesSameNetworkState) {
  json extra = {{"mtu", 1400}, {"ipMasq", true}, {"hairpinMode", true},
                {"ipam", {{"ranges", RangesV4V6()}}}};
  json ref_cfg = BridgeConfig("bridge", "host-local", extra);
  json our_cfg = BridgeConfig("flint-bridge", "flint-host-local", extra);
  json ref = AttachSnapshotDetach(Reference("bridge"), ref_cfg);
  json ours = AttachSnapshotDetach(Ours("flint-bridge"), our_cfg);
  ASSERT_FALSE(ref.is_null());
  ASSERT_FALSE(ours.is_null());
  for (auto& [key, value] : ref.items()) {
    EXPECT_EQ(ours[key], value) << "differs: " << key << "\n  reference: " << value.dump()
                                << "\n  flint:     " << ours[key].dump();
  }
  EXPECT_EQ(ref["ipam_files"].size(), 2u);
}

TEST_F(DifferentialTest, SameResultForOldConfigVersion) {
  json extra = {{"cniVersion", "0.4.0"}, {"isDefaultGateway", true}, {"promiscMode", true},
                {"ipam", {{"routes", json::array()}}}};
  json ref = AttachSnapshotDetach(Reference("bridge"), BridgeConfig("bridge", "host-local", extra));
  json ours = AttachSnapshotDetach(Ours("flint-bridge"), BridgeConfig("flint-bridge", "flint-host-local", extra));
  ASSERT_FALSE(ref.is_null());
  ASSERT_FALSE(ours.is_null());
  EXPECT_EQ(ours["result"], ref["result"]);
  EXPECT_EQ(ours["pod_routes4"], ref["pod_routes4"]);
  EXPECT_EQ(ours["pod_addrs"], ref["pod_addrs"]);
  EXPECT_EQ(ours["bridge_link"], ref["bridge_link"]);
  EXPECT_EQ(ours["veth_link"], ref["veth_link"]);
  EXPECT_EQ(ours["veth_hairpin"], "0");
}

TEST_F(DifferentialTest, SameStateForIpv6OnlyDefaultGateway) {
  json ranges = json::array({json::array({{{"subnet", subnet6_prefix_ + "/64"}}})});
  json extra = {{"isDefaultGateway", true}, {"ipMasq", true}, {"ipam", {{"ranges", ranges}, {"routes", json::array()}}}};
  json ref = AttachSnapshotDetach(Reference("bridge"), BridgeConfig("bridge", "host-local", extra));
  json ours = AttachSnapshotDetach(Ours("flint-bridge"), BridgeConfig("flint-bridge", "flint-host-local", extra));
  ASSERT_FALSE(ref.is_null());
  ASSERT_FALSE(ours.is_null());
  for (const char* key : {"result", "pod_routes6", "pod_addrs", "bridge_addrs", "ip6tables_chain",
                          "ip6tables_postrouting", "ipam_files", "ipv6_forwarding"}) {
    EXPECT_EQ(ours[key], ref[key]) << key;
  }
}

TEST_F(DifferentialTest, SameErrorCodesForInvalidConfigs) {
  std::string pod = NewPod();
  for (json extra : {json{{"hairpinMode", true}, {"promiscMode", true}}, json{{"ipam", {{"type", "no-such-ipam"}}}}}) {
    PluginOutcome ref = Cni(Reference("bridge"), "ADD", BridgeConfig("bridge", "host-local", extra), "ctr-a", pod);
    PluginOutcome ours =
        Cni(Ours("flint-bridge"), "ADD", BridgeConfig("flint-bridge", "flint-host-local", extra), "ctr-a", pod);
    EXPECT_EQ(ref.exit_code, 1) << ref.out;
    EXPECT_EQ(ours.exit_code, 1) << ours.out;
    EXPECT_TRUE(ref.json.contains("code") && ours.json.contains("code")) << ref.out << ours.out;
    EXPECT_TRUE(ours.json["msg"].is_string());
  }
  PluginOutcome ref_version = Cni(Reference("bridge"), "VERSION", json::object(), "ctr-a", pod);
  PluginOutcome our_version = Cni(Ours("flint-bridge"), "VERSION", json::object(), "ctr-a", pod);
  // Ours is the reference's minus 0.1.0/0.2.0, plus 1.1.0 where Debian's is older.
  for (const json& v : our_version.json["supportedVersions"]) {
    if (v == "1.1.0") continue;
    EXPECT_NE(std::find(ref_version.json["supportedVersions"].begin(), ref_version.json["supportedVersions"].end(), v),
              ref_version.json["supportedVersions"].end())
        << v;
  }
}

TEST_F(DifferentialTest, FlintBridgeWorksWithReferenceHostLocal) {
  std::string a = NewPod();
  json cfg = BridgeConfig("flint-bridge", "host-local");
  PluginOutcome add = Cni(Ours("flint-bridge"), "ADD", cfg, "ctr-a", a);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["ips"][0]["address"], subnet_prefix_ + "2/24");
  EXPECT_EQ(ReadFileOr(data_dir_ + "/" + network_ + "/" + subnet_prefix_ + "2", "?"), "ctr-a\r\neth0");
  EXPECT_TRUE(Ping(a, subnet_prefix_ + "1"));
  json check_cfg = cfg;
  check_cfg["prevResult"] = add.json;
  PluginOutcome check = Cni(Ours("flint-bridge"), "CHECK", check_cfg, "ctr-a", a);
  EXPECT_EQ(check.exit_code, 0) << check.out;
  // Our host-local reads the reference's state: the next pod gets .3.
  std::string b = NewPod();
  PluginOutcome add_b = Cni(Ours("flint-bridge"), "ADD", BridgeConfig("flint-bridge", "flint-host-local"), "ctr-b", b);
  ASSERT_EQ(add_b.exit_code, 0) << add_b.out;
  EXPECT_EQ(add_b.json["ips"][0]["address"], subnet_prefix_ + "3/24");
  EXPECT_EQ(Cni(Ours("flint-bridge"), "DEL", cfg, "ctr-a", a).exit_code, 0);
  EXPECT_EQ(Cni(Ours("flint-bridge"), "DEL", cfg, "ctr-b", b).exit_code, 0);
  EXPECT_TRUE(ReservedIps().empty());
}

TEST_F(DifferentialTest, RequestedIpsMatchReference) {
  std::string a = NewPod(), b = NewPod(), c = NewPod();
  const std::string want = subnet_prefix_ + "50";
  PluginOutcome ref = Cni(Reference("bridge"), "ADD", BridgeConfig("bridge", "host-local"), "ctr-a", a, "eth0",
                          ";IP=" + want);
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  EXPECT_EQ(ref.json["ips"][0]["address"], want + "/24");
  // The same address again: both refuse, ours through its own host-local.
  json ours_cfg = BridgeConfig("flint-bridge", "flint-host-local");
  PluginOutcome taken = Cni(Ours("flint-bridge"), "ADD", ours_cfg, "ctr-b", b, "eth0", ";IP=" + want);
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.json["msg"].get<std::string>().find("not available"), std::string::npos) << taken.out;
  EXPECT_FALSE(ShIn(b, {"ip", "link", "show", "eth0"}).first == 0);
  // args.cni.ips and runtimeConfig.ips work as well.
  json by_args = ours_cfg;
  by_args["args"] = {{"cni", {{"ips", {subnet_prefix_ + "51"}}}}};
  PluginOutcome ours = Cni(Ours("flint-bridge"), "ADD", by_args, "ctr-b", b);
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  EXPECT_EQ(ours.json["ips"][0]["address"], subnet_prefix_ + "51/24");
  json by_runtime = ours_cfg;
  by_runtime["runtimeConfig"] = {{"ips", {subnet_prefix_ + "52/24"}}};
  PluginOutcome ours_rt = Cni(Ours("flint-bridge"), "ADD", by_runtime, "ctr-c", c);
  ASSERT_EQ(ours_rt.exit_code, 0) << ours_rt.out;
  EXPECT_EQ(ours_rt.json["ips"][0]["address"], subnet_prefix_ + "52/24");
  EXPECT_TRUE(Ping(c, subnet_prefix_ + "51"));
  EXPECT_EQ(Cni(Reference("bridge"), "DEL", BridgeConfig("bridge", "host-local"), "ctr-a", a).exit_code, 0);
  EXPECT_EQ(Cni(Ours("flint-bridge"), "DEL", ours_cfg, "ctr-b", b).exit_code, 0);
  EXPECT_EQ(Cni(Ours("flint-bridge"), "DEL", ours_cfg, "ctr-c", c).exit_code, 0);
  EXPECT_TRUE(ReservedIps().empty());
}

// Top-level chains portmap creates on first use; removed again only if this test created them.
const char* const kPortmapChains[] = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"};

void RemoveChainAndJumps(const std::string& chain) {
  for (const char* builtin : {"PREROUTING", "OUTPUT", "POSTROUTING"}) {
    std::string rules = Sh({"iptables", "-w", "5", "-t", "nat", "-S", builtin}).second;
    for (size_t pos = 0, end; (end = rules.find('\n', pos)) != std::string::npos; pos = end + 1) {
      std::string line = rules.substr(pos, end - pos);
      if (line.find("-j " + chain) == std::string::npos) continue;
      std::vector<std::string> argv = {"iptables", "-w", "5", "-t", "nat", "-D", builtin};
      std::string rest = line.substr(line.find(builtin) + std::string(builtin).size() + 1);
      std::string tok;
      bool quoted = false;
      for (char c : rest) {
        if (c == '"') {
          quoted = !quoted;
        } else if (c == ' ' && !quoted) {
          if (!tok.empty()) argv.push_back(tok);
          tok.clear();
        } else {
          tok.push_back(c);
        }
      }
      if (!tok.empty()) argv.push_back(tok);
      Sh(argv);
    }
  }
  Sh({"iptables", "-w", "5", "-t", "nat", "-F", chain});
}

TEST_F(DifferentialTest, ReferencePortmapAcceptsOurPrevResult) {
  std::vector<std::string> created;
  for (const char* chain : kPortmapChains) {
    if (Sh({"iptables", "-w", "5", "-t", "nat", "-S", chain}).first != 0) created.push_back(chain);
  }
  std::string a = NewPod();
  json cfg = BridgeConfig("flint-bridge", "flint-host-local");
  PluginOutcome add = Cni(Ours("flint-bridge"), "ADD", cfg, "ctr-a", a);
  ASSERT_EQ(add.exit_code, 0) << add.out;

  const int host_port = 30000 + std::stoi(suffix_.substr(0, 3), nullptr, 16) % 2000;
  json mapping = {{"hostPort", host_port}, {"containerPort", 80}, {"protocol", "tcp"}};
  json portmap = {{"cniVersion", "1.0.0"},
                  {"name", network_},
                  {"type", "portmap"},
                  {"capabilities", {{"portMappings", true}}},
                  {"runtimeConfig", {{"portMappings", json::array({mapping})}}},
                  {"prevResult", add.json}};
  PluginOutcome pm_add = Cni(Reference("portmap"), "ADD", portmap, "ctr-a", a);
  EXPECT_EQ(pm_add.exit_code, 0) << pm_add.out;
  EXPECT_EQ(pm_add.json["ips"], add.json["ips"]) << pm_add.out;
  PluginOutcome pm_del = Cni(Reference("portmap"), "DEL", portmap, "ctr-a", a);
  EXPECT_EQ(pm_del.exit_code, 0) << pm_del.out;
  EXPECT_EQ(Cni(Ours("flint-bridge"), "DEL", cfg, "ctr-a", a).exit_code, 0);

  // Remove portmap's shared chains only if this test created them and no one
  // else has started using them meanwhile (DNAT holds one jump per user).
  std::string dnat = Sh({"iptables", "-w", "5", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"}).second;
  if (dnat.find("-A CNI-HOSTPORT-DNAT") == std::string::npos) {
    for (const std::string& chain : created) RemoveChainAndJumps(chain);
    for (const std::string& chain : created) Sh({"iptables", "-w", "5", "-t", "nat", "-X", chain});
  }
}

}  // namespace
}  // namespace flint::cni::testing
