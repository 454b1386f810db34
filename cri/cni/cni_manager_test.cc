#include "cri/cni/cni_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs.h"

namespace flint::cni {
namespace {

constexpr char kMainResult[] = R"({"cniVersion":"1.0.0",
  "interfaces":[{"name":"br0"},{"name":"eth0","sandbox":"/netns/x"}],
  "ips":[{"address":"fd00::9/64","interface":1},{"address":"10.9.0.9/24","gateway":"10.9.0.1","interface":1}]})";

// One recorded plugin invocation.
struct Call {
  std::string plugin;
  std::string command;
  std::map<std::string, std::string> env;
  nlohmann::json stdin_json;
};

class CniManagerTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-cni-mgr-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    for (const char* d : {"/bin", "/bin2", "/conf", "/log", "/state"}) ASSERT_TRUE(fs::MakeDirs(root_ + d).ok());
    // fake-main prints a canned result; fake-chain passes prevResult on, adding DNS to prove it ran.
    WritePlugin("/bin", "fake-main", absl::StrCat("[ \"$CNI_COMMAND\" = ADD ] && printf '%s' '", kMainResult, "'\n"));
    WritePlugin("/bin2", "fake-chain",
                "[ \"$CNI_COMMAND\" = ADD ] && jq -c '.prevResult | .dns = {\"nameservers\":[\"9.9.9.9\"]}' \"$f.stdin\"\n");
    WritePlugin("/bin", "fake-fail",
                "[ \"$CNI_COMMAND\" = ADD ] && { echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"nope\",\"details\":\"why\"}'; "
                "exit 1; }\n");
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(root_).ok()); }

  void WritePlugin(const std::string& dir, const std::string& name, const std::string& action) {
    std::string script = absl::StrCat(
        "#!/bin/sh\nlog=", root_, "/log\nn=$(ls $log | grep -c stdin)\nf=$log/$(printf %03d $n)-", name,
        "-$CNI_COMMAND\ncat > \"$f.stdin\"\nenv | grep ^CNI_ > \"$f.env\"\n",
        "[ \"$CNI_COMMAND\" = VERSION ] && echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.1\",\"0.4.0\",\"1.0.0\"]}'\n",
        action, "exit 0\n");
    ASSERT_TRUE(fs::WriteFileAtomic(root_ + dir + "/" + name, script, 0755).ok());
  }
  void WriteConf(const std::string& name, const std::string& content) {
    ASSERT_TRUE(fs::WriteFileAtomic(root_ + "/conf/" + name, content).ok());
  }
  std::unique_ptr<CniManager> NewManager() {
    CniManagerOptions o;
    o.conf_dir = root_ + "/conf";
    o.bin_dirs = {root_ + "/bin", root_ + "/bin2"};
    o.cache_dir = root_ + "/state/cni";
    o.plugin_timeout = std::chrono::seconds(10);
    return std::make_unique<CniManager>(o);
  }
  // Invocations in order, then forgotten.
  std::vector<Call> TakeCalls() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/log"))
      if (e.path().extension() == ".stdin") names.push_back(e.path().stem());
    std::sort(names.begin(), names.end());
    std::vector<Call> calls;
    for (const std::string& name : names) {
      std::vector<std::string> parts = absl::StrSplit(name, '-');
      Call c;
      c.plugin = parts[1] + "-" + parts[2];
      c.command = parts[3];
      std::string base = root_ + "/log/" + name;
      for (absl::string_view line : absl::StrSplit(*fs::ReadFile(base + ".env"), '\n', absl::SkipEmpty())) {
        std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
        c.env[kv.first] = kv.second;
      }
      c.stdin_json = nlohmann::json::parse(*fs::ReadFile(base + ".stdin"), nullptr, false);
      calls.push_back(std::move(c));
    }
    EXPECT_TRUE(fs::RemoveAll(root_ + "/log").ok());
    EXPECT_TRUE(fs::MakeDirs(root_ + "/log").ok());
    return calls;
  }
  PodNetworkRequest Pod(const std::string& id) {
    PodNetworkRequest r;
    r.sandbox_id = id;
    r.netns_path = root_ + "/state";  // exists; stands in for a netns path
    r.pod_name = "web";
    r.pod_namespace = "ns1";
    r.pod_uid = "uid-1";
    r.port_mappings = {{8080, 80, "TCP", ""}, {0, 81, "TCP", ""}};
    r.annotations = {{"kubernetes.io/ingress-bandwidth", "1M"}};
    return r;
  }
  std::string root_;
};

constexpr char kConflist[] = R"({"cniVersion":"1.0.0","name":"podnet","plugins":[
  {"type":"fake-main","bridge":"br0"},
  {"type":"fake-chain","capabilities":{"portMappings":true,"bandwidth":true}}]})";

TEST_F(CniManagerTest, ReadyFlipsWhenConfigAppearsAndPluginsExist) {
  auto mgr = NewManager();
  absl::Status ready = mgr->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kNotFound);
  WriteConf("10-missing.conflist", R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"not-installed"}]})");
  ready = mgr->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ready.message().find("not-installed"), std::string::npos) << ready;
  WriteConf("05-good.conflist", kConflist);
  EXPECT_TRUE(mgr->Ready().ok()) << mgr->Ready();
  EXPECT_TRUE(mgr->Validate().ok()) << mgr->Validate();
  absl::StatusOr<std::vector<std::string>> versions = mgr->PluginVersions("fake-chain");
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->size(), 3u);
}

TEST_F(CniManagerTest, AddChainsPrevResultAndPassesEnvAndRuntimeConfig) {
  WriteConf("10.conflist", kConflist);
  auto mgr = NewManager();
  mgr->SetPodCidrs("10.9.0.0/24");
  absl::StatusOr<PodNetworkStatus> status = mgr->SetUpPod(Pod("sb1"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->primary_ip, "10.9.0.9");
  EXPECT_EQ(status->additional_ips, std::vector<std::string>{"fd00::9"});
  EXPECT_EQ(status->network_name, "podnet");
  EXPECT_EQ(nlohmann::json::parse(status->result_json)["dns"]["nameservers"][0], "9.9.9.9");

  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].plugin, "fake-main");
  EXPECT_EQ(calls[1].plugin, "fake-chain");
  for (const Call& c : calls) {
    EXPECT_EQ(c.command, "ADD");
    EXPECT_EQ(c.env.at("CNI_COMMAND"), "ADD");
    EXPECT_EQ(c.env.at("CNI_CONTAINERID"), "sb1");
    EXPECT_EQ(c.env.at("CNI_NETNS"), root_ + "/state");
    EXPECT_EQ(c.env.at("CNI_IFNAME"), "eth0");
    EXPECT_EQ(c.env.at("CNI_PATH"), root_ + "/bin:" + root_ + "/bin2");
    EXPECT_EQ(c.env.at("CNI_ARGS"),
              "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=uid-1");
    EXPECT_EQ(c.stdin_json["name"], "podnet");
    EXPECT_EQ(c.stdin_json["cniVersion"], "1.0.0");
  }
  EXPECT_FALSE(calls[0].stdin_json.contains("prevResult"));
  EXPECT_FALSE(calls[0].stdin_json.contains("runtimeConfig"));  // declares no capabilities
  EXPECT_EQ(calls[0].stdin_json["bridge"], "br0");
  EXPECT_EQ(calls[1].stdin_json["prevResult"], nlohmann::json::parse(kMainResult));
  EXPECT_EQ(calls[1].stdin_json["runtimeConfig"],
            nlohmann::json::parse(R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}],
                                      "bandwidth":{"ingressRate":1000000,"ingressBurst":4294967295}})"));

  absl::StatusOr<std::string> record = fs::ReadFile(root_ + "/state/cni/results/podnet-sb1-eth0.json");
  ASSERT_TRUE(record.ok()) << record.status();
  nlohmann::json cache = nlohmann::json::parse(*record);
  EXPECT_EQ(cache["kind"], "cniCacheV1");
  EXPECT_EQ(cache["containerId"], "sb1");
  EXPECT_EQ(cache["netns"], root_ + "/state");
  EXPECT_EQ(cache["result"], nlohmann::json::parse(status->result_json));

  // Status survives a restart through the cache.
  absl::StatusOr<std::optional<PodNetworkStatus>> cached = NewManager()->PodStatus("sb1");
  ASSERT_TRUE(cached.ok() && cached->has_value());
  EXPECT_EQ((*cached)->primary_ip, "10.9.0.9");
}

TEST_F(CniManagerTest, CheckAndDelUseTheCachedResultAndDelRunsInReverse) {
  WriteConf("10.conflist", kConflist);
  ASSERT_TRUE(NewManager()->SetUpPod(Pod("sb2")).ok());
  TakeCalls();
  nlohmann::json final_result;
  {
    auto status = NewManager()->PodStatus("sb2");
    ASSERT_TRUE(status.ok() && status->has_value());
    final_result = nlohmann::json::parse((*status)->result_json);
  }

  ASSERT_TRUE(NewManager()->CheckPod(Pod("sb2")).ok());
  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].plugin, "fake-main");
  EXPECT_EQ(calls[0].command, "CHECK");
  EXPECT_EQ(calls[0].stdin_json["prevResult"], final_result);

  // The config changes and flintd restarts: DEL still uses what the pod was set up with.
  WriteConf("10.conflist", R"({"cniVersion":"1.0.0","name":"other","plugins":[{"type":"fake-chain"}]})");
  auto restarted = NewManager();
  ASSERT_TRUE(restarted->TearDownPod(Pod("sb2")).ok());
  calls = TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].plugin, "fake-chain");
  EXPECT_EQ(calls[1].plugin, "fake-main");
  for (const Call& c : calls) {
    EXPECT_EQ(c.command, "DEL");
    EXPECT_EQ(c.stdin_json["name"], "podnet");
    EXPECT_EQ(c.stdin_json["prevResult"], final_result);
  }
  EXPECT_EQ(calls[0].stdin_json["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  absl::StatusOr<std::optional<PodNetworkStatus>> gone = restarted->PodStatus("sb2");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  // A second DEL has no cache: the current config, no prevResult.
  ASSERT_TRUE(restarted->TearDownPod(Pod("sb2")).ok());
  calls = TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].stdin_json["name"], "other");
  EXPECT_FALSE(calls[0].stdin_json.contains("prevResult"));
}

TEST_F(CniManagerTest, ChangedConfigIsUsedForNewPods) {
  WriteConf("10.conflist", kConflist);
  auto mgr = NewManager();
  ASSERT_TRUE(mgr->SetUpPod(Pod("a")).ok());
  TakeCalls();
  WriteConf("10.conflist", R"({"cniVersion":"1.0.0","name":"v2","plugins":[{"type":"fake-main"}]})");
  absl::StatusOr<PodNetworkStatus> status = mgr->SetUpPod(Pod("b"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->network_name, "v2");
  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].stdin_json["name"], "v2");
}

TEST_F(CniManagerTest, FailedAddReportsPluginErrorAndRollsBack) {
  WriteConf("10.conflist", R"({"cniVersion":"1.0.0","name":"podnet","plugins":[{"type":"fake-main"},{"type":"fake-fail"}]})");
  auto mgr = NewManager();
  absl::StatusOr<PodNetworkStatus> status = mgr->SetUpPod(Pod("sb3"));
  ASSERT_FALSE(status.ok());
  std::string m(status.status().message());
  for (const char* part : {"sb3", "fake-fail", "ADD", "CNI error 7", "nope", "why"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in " << m;
  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[2].plugin, "fake-fail");
  EXPECT_EQ(calls[2].command, "DEL");
  EXPECT_EQ(calls[3].plugin, "fake-main");
  EXPECT_EQ(calls[3].command, "DEL");
  absl::StatusOr<std::optional<PodNetworkStatus>> cached = mgr->PodStatus("sb3");
  ASSERT_TRUE(cached.ok());
  EXPECT_FALSE(cached->has_value());
}

TEST_F(CniManagerTest, OldVersionsGetNoPrevResultOnDelAndNoCheck) {
  WriteConf("10.conf", R"({"cniVersion":"0.3.1","name":"old","type":"fake-main"})");
  auto mgr = NewManager();
  ASSERT_TRUE(mgr->SetUpPod(Pod("sb4")).ok());
  TakeCalls();
  EXPECT_TRUE(mgr->CheckPod(Pod("sb4")).ok());
  EXPECT_TRUE(TakeCalls().empty());
  ASSERT_TRUE(mgr->TearDownPod(Pod("sb4")).ok());
  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].stdin_json["cniVersion"], "0.3.1");
  EXPECT_FALSE(calls[0].stdin_json.contains("prevResult"));
}

TEST_F(CniManagerTest, DelWithVanishedNetnsPassesEmptyNetns) {
  WriteConf("10.conflist", kConflist);
  auto mgr = NewManager();
  PodNetworkRequest pod = Pod("sb5");
  pod.netns_path = root_ + "/netns-sb5";
  ASSERT_TRUE(fs::WriteFileAtomic(pod.netns_path, "").ok());
  ASSERT_TRUE(mgr->SetUpPod(pod).ok());
  TakeCalls();
  ASSERT_EQ(unlink(pod.netns_path.c_str()), 0);
  PodNetworkRequest stop;  // StopPodSandbox after a restart may know only the id
  stop.sandbox_id = "sb5";
  ASSERT_TRUE(mgr->TearDownPod(stop).ok());
  std::vector<Call> calls = TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].env.at("CNI_NETNS"), "");
  EXPECT_EQ(calls[0].env.at("CNI_ARGS"),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb5;K8S_POD_UID=uid-1");
}

TEST_F(CniManagerTest, NoConfigNoCacheDelIsANoOpButAddFails) {
  auto mgr = NewManager();
  EXPECT_TRUE(mgr->TearDownPod(Pod("sb6")).ok());
  absl::StatusOr<PodNetworkStatus> status = mgr->SetUpPod(Pod("sb6"));
  EXPECT_EQ(status.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.status().message().find("not ready"), std::string::npos);
  EXPECT_TRUE(TakeCalls().empty());
}

TEST_F(CniManagerTest, UnsupportedVersionIsRejectedBeforeRunningPlugins) {
  WriteConf("10.conflist", R"({"cniVersion":"0.2.0","name":"n","plugins":[{"type":"fake-main"}]})");
  auto mgr = NewManager();
  EXPECT_EQ(mgr->Ready().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr->SetUpPod(Pod("sb7")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(TakeCalls().empty());
}

TEST_F(CniManagerTest, HungPluginTimesOut) {
  WritePlugin("/bin", "fake-hang", "sleep 30\n");
  WriteConf("10.conflist", R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"fake-hang"}]})");
  CniManagerOptions o;
  o.conf_dir = root_ + "/conf";
  o.bin_dirs = {root_ + "/bin"};
  o.cache_dir = root_ + "/state/cni";
  o.plugin_timeout = std::chrono::milliseconds(300);
  CniManager mgr(o);
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<PodNetworkStatus> status = mgr.SetUpPod(Pod("sb8"));
  EXPECT_EQ(status.status().code(), absl::StatusCode::kDeadlineExceeded) << status.status();
  EXPECT_NE(status.status().message().find("fake-hang"), std::string::npos);
  // ADD and the rollback DEL each time out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace flint::cni
