// Stats e2e: ContainerStats / PodSandboxStats numbers from real containers through flintd,
// checked against loads whose size we know (a CPU quota, a fixed anonymous allocation, traffic),
// and flintd's Prometheus endpoint.
//
// The host has 2 busy cores, so CPU checks allow for contention: a burner capped by a CFS quota
// can never exceed its quota, but may get less while other work runs, so we take a few windows
// of >= 3 s and require all of them under the cap and one of them close to it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/resp_connection.h"
#include "common/testutil/redis_server.h"
#include "nlohmann/json.hpp"
#include "test/e2e/pod_fixture.h"

namespace flint::e2e {
namespace {

constexpr double kNanoCores = 1e9;
constexpr uint64_t kMiB = 1024 * 1024;

class StatsE2E : public PodTestBase {
 protected:
  void SetUp() override {
    PodTestBase::SetUp();
    if (HasFatalFailure()) return;
    image_ = PullImage(registry_ + "/flint/busybox:latest");
  }

  void TearDown() override {
    if (flintd_) {
      RemoveAllPods();
      // flintd runs under ASan/UBSan in CI: a clean exit means no leak or UB report.
      int status = flintd_->Stop();
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "flintd exit status " << status << "\n"
                                                                 << flintd_->Log();
      flintd_.reset();  // the base would talk to the stopped flintd
    }
    PodTestBase::TearDown();  // removes the test's dirs and bridge
    // Pod-level cgroups are the kubelet's to make and remove; these tests made them, via runc.
    for (const std::string& cgroup : own_pod_cgroups_) {
      for (const auto& controller : std::filesystem::directory_iterator("/sys/fs/cgroup")) {
        std::string path = controller.path().string() + cgroup;
        rmdir(path.c_str());
        rmdir((path.substr(0, path.rfind('/'))).c_str());
      }
    }
  }


  // A pod whose cgroup parent is its own, named as the kubelet names it (…/pod<uid>).
  v1::PodSandboxConfig OwnCgroupSandboxConfig(const std::string& name) {
    v1::PodSandboxConfig config = SandboxConfig(name);
    std::string parent = "/flint-e2e-stats-" + std::to_string(getpid()) + "/pod" + config.metadata().uid();
    config.mutable_linux()->set_cgroup_parent(parent);
    own_pod_cgroups_.push_back(parent);
    return config;
  }

  std::string RunContainer(const std::string& pod, const v1::PodSandboxConfig& sandbox_config, v1::ContainerConfig config) {
    std::string id = CreateContainer(pod, config, sandbox_config);
    if (id.empty()) return id;
    StartContainer(id);
    EXPECT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
    return id;
  }

  v1::ContainerStats Stats(const std::string& id) {
    v1::ContainerStatsRequest request;
    request.set_container_id(id);
    v1::ContainerStatsResponse response;
    grpc::Status status = flintd_->runtime().ContainerStats(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.stats();
  }

  v1::PodSandboxStats PodStats(const std::string& id) {
    v1::PodSandboxStatsRequest request;
    request.set_pod_sandbox_id(id);
    v1::PodSandboxStatsResponse response;
    grpc::Status status = flintd_->runtime().PodSandboxStats(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.stats();
  }

  // CPU seconds the kernel charged to the processes in a container's cgroup (utime + stime from
  // /proc/<pid>/stat): ground truth that does not go through flintd's cgroup reader.
  static double ProcessCpuSeconds(const std::string& container_id) {
    std::string procs = fs::ReadFile("/sys/fs/cgroup/cpuacct/flint-e2e/" + container_id + "/cgroup.procs").value_or("");
    std::istringstream pids(procs);
    double ticks = 0;
    for (std::string pid; pids >> pid;) {
      std::string stat = fs::ReadFile("/proc/" + pid + "/stat").value_or("");
      size_t paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream fields(stat.substr(paren + 2));
      std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
      if (f.size() > 12) ticks += std::stod(f[11]) + std::stod(f[12]);  // utime, stime
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  struct CpuWindow {
    double reported = 0;  // usage_nano_cores of the second sample, in cores
    double truth = 0;     // from /proc over (about) the same window
  };

  // CPU rate over a window of `seconds`, as flintd reports it (usage_nano_cores of the second
  // sample is the rate since the first), cross-checked against the cumulative counters.
  CpuWindow CpuCoresOver(const std::string& id, int seconds) {
    auto wall_start = std::chrono::steady_clock::now();
    double cpu_start = ProcessCpuSeconds(id);
    v1::ContainerStats first = Stats(id);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    v1::ContainerStats second = Stats(id);
    double cpu_end = ProcessCpuSeconds(id);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    EXPECT_TRUE(second.cpu().has_usage_nano_cores());
    double reported = second.cpu().usage_nano_cores().value() / kNanoCores;
    double counted = static_cast<double>(second.cpu().usage_core_nano_seconds().value() -
                                         first.cpu().usage_core_nano_seconds().value()) /
                     static_cast<double>(second.cpu().timestamp() - first.cpu().timestamp());
    EXPECT_NEAR(reported, counted, 0.01) << "usage_nano_cores is the rate between the two samples";
    return {reported, (cpu_end - cpu_start) / wall};
  }

  // Runs a busy loop capped by a CFS quota and checks the reported rate over 3 s windows. The
  // quota caps the burner; on an idle host it gets all of it. On a loaded host it may get less,
  // so a window also passes when the report matches what /proc says the burner got.
  std::string RunQuotaBurner(const std::string& pod, const v1::PodSandboxConfig& sandbox_config, const std::string& name,
                             int64_t quota, double low, double high) {
    v1::ContainerConfig config = ContainerConfig(name, image_, {"/bin/sh", "-c", "while :; do :; done"});
    config.mutable_linux()->mutable_resources()->set_cpu_period(100000);
    config.mutable_linux()->mutable_resources()->set_cpu_quota(quota);
    std::string id = RunContainer(pod, sandbox_config, config);
    if (id.empty()) return id;
    std::string windows;
    bool in_band = false;
    for (int i = 0; i < 5 && !in_band; ++i) {
      CpuWindow w = CpuCoresOver(id, 3);
      windows += absl::StrCat(" reported=", w.reported, " truth=", w.truth, ";");
      EXPECT_LE(w.reported, high) << "the CFS quota caps the burner";
      EXPECT_NEAR(w.reported, w.truth, 0.04) << "flintd's rate disagrees with /proc";
      in_band = w.reported >= low && w.reported <= high;
      if (!in_band && w.truth < low - 0.02 && std::abs(w.reported - w.truth) <= 0.04) {
        std::cerr << "host too busy for the burner to reach its quota (" << w.truth
                  << " cores); the report matches /proc, which is what is checked here\n";
        in_band = i >= 2;  // give the host a few windows to calm down first
      }
    }
    EXPECT_TRUE(in_band) << "no 3 s window reached " << low << ".." << high << " cores:" << windows;
    std::cerr << name << " cpu windows:" << windows << "\n";
    return id;
  }

  std::string image_;
  std::vector<std::string> own_pod_cgroups_;
};

TEST_F(StatsE2E, CpuQuotaBurnerReportsHalfACore) {
  v1::PodSandboxConfig sandbox_config = SandboxConfig("burner");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  std::string id = RunQuotaBurner(pod, sandbox_config, "burn", 50000, 0.45, 0.55);
  ASSERT_FALSE(id.empty());

  v1::ContainerStats stats = Stats(id);
  EXPECT_EQ(stats.attributes().id(), id);
  EXPECT_EQ(stats.attributes().metadata().name(), "burn");
  EXPECT_EQ(stats.attributes().labels().at("io.kubernetes.container.name"), "burn");
  EXPECT_EQ(stats.attributes().annotations().at("io.kubernetes.container.restartCount"), "0");
  EXPECT_GT(stats.cpu().timestamp(), 0);
  EXPECT_GT(stats.memory().working_set_bytes().value(), 0u);
  EXPECT_GT(stats.memory().usage_bytes().value(), 0u);
  EXPECT_FALSE(stats.memory().has_available_bytes()) << "no memory limit was set";
  EXPECT_TRUE(stats.memory().has_page_faults());
  EXPECT_TRUE(stats.memory().has_major_page_faults());
  ASSERT_TRUE(stats.has_writable_layer());
  EXPECT_GT(stats.writable_layer().timestamp(), 0);
  EXPECT_FALSE(stats.writable_layer().fs_id().mountpoint().empty());

  // The pod's cgroup parent is the fixture's common one, not a pod<uid> cgroup, so flintd sums
  // the sandbox and container cgroups: the pod carries the same load.
  v1::PodSandboxStats pod_stats = PodStats(pod);
  ASSERT_EQ(pod_stats.linux().containers_size(), 1);
  EXPECT_EQ(pod_stats.linux().containers(0).attributes().id(), id);
  EXPECT_GE(pod_stats.linux().cpu().usage_core_nano_seconds().value(), stats.cpu().usage_core_nano_seconds().value());
  EXPECT_GE(pod_stats.linux().process().process_count().value(), 2u) << "pause + sh";
  std::this_thread::sleep_for(std::chrono::seconds(3));
  pod_stats = PodStats(pod);
  ASSERT_TRUE(pod_stats.linux().cpu().has_usage_nano_cores());
  double pod_cores = pod_stats.linux().cpu().usage_nano_cores().value() / kNanoCores;
  EXPECT_LE(pod_cores, 0.6) << "pause idles; the burner is capped";
  EXPECT_GE(pod_cores, 0.15) << "the pod's rate includes its burner (less than its cap on a busy host)";
}

// A fifth of a core: low enough that the burner reaches its cap even on a busy 2-core host.
TEST_F(StatsE2E, CpuQuotaBurnerReportsAFifthOfACore) {
  v1::PodSandboxConfig sandbox_config = SandboxConfig("burner5");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  EXPECT_FALSE(RunQuotaBurner(pod, sandbox_config, "burn5", 20000, 0.18, 0.22).empty());
}

TEST_F(StatsE2E, IdleContainerThenExecLoadMovesTheRate) {
  v1::PodSandboxConfig sandbox_config = SandboxConfig("idle");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  std::string id = RunContainer(pod, sandbox_config, ContainerConfig("idle", image_, {"/bin/sleep", "3600"}));
  ASSERT_FALSE(id.empty());

  double idle = CpuCoresOver(id, 3).reported;
  EXPECT_LT(idle, 0.02) << "sleep uses no CPU";
  std::cerr << "idle cores=" << idle << "\n";

  // A burner exec'd into the container runs in its cgroup; no quota, so up to a core.
  std::thread load([&] {
    grpc::Status status;
    ExecSync(id, {"/usr/bin/timeout", "-s", "KILL", "7", "/bin/sh", "-c", "while :; do :; done"}, 30, &status);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  (void)Stats(id);  // start a window while the burner runs
  double busy = 0;
  // Up to a core on an idle host; a loaded host (2 cores shared with builds) gives it less.
  for (int i = 0; i < 3 && busy < 0.3; ++i) busy = std::max(busy, CpuCoresOver(id, 1).reported);
  load.join();
  EXPECT_GT(busy, 0.15) << "the exec'd burner did not show up in the container's CPU rate";

  double after = CpuCoresOver(id, 3).reported;
  EXPECT_LT(after, 0.05) << "the rate drops back once the burner is gone";
  std::cerr << "exec burner cores=" << busy << " after=" << after << "\n";
}

TEST_F(StatsE2E, AnonymousMemoryShowsInWorkingSet) {
  v1::PodSandboxConfig sandbox_config = OwnCgroupSandboxConfig("mem");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  // dd reads 200 MiB of zeros into one buffer (touching every page), then blocks for good writing
  // it into a pipe nobody reads: exactly 200 MiB of anonymous memory held.
  v1::ContainerConfig config = ContainerConfig(
      "hog", image_, {"/bin/sh", "-c", "dd if=/dev/zero bs=209715200 count=1 | sleep 3600"});
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(512 * kMiB);
  std::string id = RunContainer(pod, sandbox_config, config);
  ASSERT_FALSE(id.empty());

  const double target = 200.0 * kMiB;
  v1::ContainerStats stats;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    stats = Stats(id);
    // dd is still filling its buffer until both have reached it (they are read at different moments)
    if (stats.memory().working_set_bytes().value() >= 0.95 * target && stats.memory().rss_bytes().value() >= 0.95 * target) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  double working_set = static_cast<double>(stats.memory().working_set_bytes().value());
  EXPECT_NEAR(working_set, target, 0.05 * target) << "working_set_bytes=" << working_set;
  std::cerr << "working_set_bytes=" << working_set << " (" << working_set / target * 100 << "% of 200 MiB)\n";
  EXPECT_NEAR(static_cast<double>(stats.memory().rss_bytes().value()), target, 0.05 * target);
  EXPECT_GE(stats.memory().usage_bytes().value(), stats.memory().working_set_bytes().value());
  ASSERT_TRUE(stats.memory().has_available_bytes()) << "a limit is set";
  EXPECT_EQ(stats.memory().available_bytes().value(), 512 * kMiB - stats.memory().working_set_bytes().value());

  // This pod has a cgroup of its own, which holds the container's 200 MiB too. The kubelet puts a
  // pod-level limit on it; flintd must read that cgroup (not sum its members) to report it.
  std::string pod_memory_cgroup = "/sys/fs/cgroup/memory" + sandbox_config.linux().cgroup_parent();
  {
    std::ofstream limit(pod_memory_cgroup + "/memory.limit_in_bytes");
    limit << 1024 * kMiB;
    limit.close();
    ASSERT_TRUE(limit.good()) << "set the pod memory limit in " << pod_memory_cgroup;
  }
  v1::PodSandboxStats pod_stats = PodStats(pod);
  ASSERT_TRUE(pod_stats.linux().memory().has_available_bytes()) << "the pod cgroup's limit";
  EXPECT_EQ(pod_stats.linux().memory().available_bytes().value(),
            1024 * kMiB - pod_stats.linux().memory().working_set_bytes().value());
  EXPECT_GE(pod_stats.linux().memory().working_set_bytes().value(), static_cast<uint64_t>(0.95 * target));
  EXPECT_LT(pod_stats.linux().memory().working_set_bytes().value(), static_cast<uint64_t>(1.1 * target));
  EXPECT_GE(pod_stats.linux().process().process_count().value(), 4u) << "pause, sh, dd, sleep";
  ASSERT_EQ(pod_stats.linux().containers_size(), 1);
}

TEST_F(StatsE2E, WritableLayerCountsWhatTheContainerWrites) {
  v1::PodSandboxConfig sandbox_config = SandboxConfig("writer");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  // Written before the first stats call, so the first (synchronous) measurement sees it.
  std::string id = RunContainer(
      pod, sandbox_config,
      ContainerConfig("w", image_, {"/bin/sh", "-c", "dd if=/dev/zero of=/blob bs=1048576 count=8; exec sleep 3600"}));
  ASSERT_FALSE(id.empty());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    ExecSync(id, {"/bin/sh", "-c", "test -s /blob && sync"});
    if (ExecSync(id, {"/bin/sh", "-c", "[ $(wc -c < /blob) -eq 8388608 ]"}).exit_code() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  v1::ContainerStats stats = Stats(id);
  ASSERT_TRUE(stats.has_writable_layer());
  EXPECT_GE(stats.writable_layer().used_bytes().value(), 8 * kMiB);
  EXPECT_LT(stats.writable_layer().used_bytes().value(), 9 * kMiB);
  EXPECT_GE(stats.writable_layer().inodes_used().value(), 1u);
}

TEST_F(StatsE2E, ListFiltersAndNotFound) {
  v1::PodSandboxConfig a_config = SandboxConfig("list-a");
  v1::PodSandboxConfig b_config = SandboxConfig("list-b");
  std::string a = RunSandbox(a_config);
  std::string b = RunSandbox(b_config);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  v1::ContainerConfig a1 = ContainerConfig("a1", image_, {"/bin/sleep", "3600"});
  (*a1.mutable_labels())["tier"] = "web";
  std::string a1_id = RunContainer(a, a_config, a1);
  std::string a2_id = RunContainer(a, a_config, ContainerConfig("a2", image_, {"/bin/sleep", "3600"}));
  std::string b1_id = CreateContainer(b, ContainerConfig("b1", image_, {"/bin/true"}), b_config);
  StartContainer(b1_id);
  ASSERT_TRUE(WaitForState(b1_id, v1::CONTAINER_EXITED)) << Describe(b1_id);

  auto list = [&](const v1::ContainerStatsFilter& filter) {
    v1::ListContainerStatsRequest request;
    *request.mutable_filter() = filter;
    v1::ListContainerStatsResponse response;
    grpc::Status status = flintd_->runtime().ListContainerStats(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const auto& s : response.stats()) ids.push_back(s.attributes().id());
    return ids;
  };
  using testing::UnorderedElementsAre;
  EXPECT_THAT(list({}), UnorderedElementsAre(a1_id, a2_id, b1_id)) << "exited containers are listed too";
  v1::ContainerStatsFilter by_pod;
  by_pod.set_pod_sandbox_id(a.substr(0, 12));
  EXPECT_THAT(list(by_pod), UnorderedElementsAre(a1_id, a2_id));
  v1::ContainerStatsFilter by_id;
  by_id.set_id(a2_id);
  EXPECT_THAT(list(by_id), UnorderedElementsAre(a2_id));
  v1::ContainerStatsFilter by_label;
  (*by_label.mutable_label_selector())["tier"] = "web";
  EXPECT_THAT(list(by_label), UnorderedElementsAre(a1_id));

  v1::ListPodSandboxStatsRequest pods_request;
  (*pods_request.mutable_filter()->mutable_label_selector())["app"] = "list-b";
  v1::ListPodSandboxStatsResponse pods;
  ASSERT_TRUE(flintd_->runtime().ListPodSandboxStats(Context().get(), pods_request, &pods).ok());
  ASSERT_EQ(pods.stats_size(), 1);
  EXPECT_EQ(pods.stats(0).attributes().id(), b);
  EXPECT_EQ(pods.stats(0).attributes().metadata().name(), "list-b");
  ASSERT_EQ(pods.stats(0).linux().containers_size(), 1);
  EXPECT_EQ(pods.stats(0).linux().containers(0).attributes().id(), b1_id);
  pods_request.clear_filter();
  ASSERT_TRUE(flintd_->runtime().ListPodSandboxStats(Context().get(), pods_request, &pods).ok());
  EXPECT_EQ(pods.stats_size(), 2);

  v1::ContainerStatsRequest missing;
  missing.set_container_id(std::string(64, 'e'));
  v1::ContainerStatsResponse missing_response;
  EXPECT_EQ(flintd_->runtime().ContainerStats(Context().get(), missing, &missing_response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::PodSandboxStatsRequest missing_pod;
  missing_pod.set_pod_sandbox_id(std::string(64, 'e'));
  v1::PodSandboxStatsResponse missing_pod_response;
  EXPECT_EQ(flintd_->runtime().PodSandboxStats(Context().get(), missing_pod, &missing_pod_response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(StatsE2E, PodNetworkCountersSeeTraffic) {
  v1::PodSandboxConfig sandbox_config = SandboxConfig("net");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  std::string id = RunContainer(pod, sandbox_config, ContainerConfig("c", image_, {"/bin/sleep", "3600"}));
  ASSERT_FALSE(id.empty());

  v1::PodSandboxStats before = PodStats(pod);
  ASSERT_TRUE(before.linux().has_network());
  EXPECT_EQ(before.linux().network().default_interface().name(), "eth0");
  for (const auto& iface : before.linux().network().interfaces()) EXPECT_NE(iface.name(), "lo");

  // Three pings to the bridge: 3 x 98 bytes (ICMP 64 + IP 20 + Ethernet 14) each way at least.
  v1::ExecSyncResponse ping = ExecSync(id, {"/bin/ping", "-c", "3", "-i", "0.2", "-W", "2", net_.gateway}, 20);
  ASSERT_EQ(ping.exit_code(), 0) << ping.stdout() << ping.stderr();
  v1::PodSandboxStats after = PodStats(pod);
  const auto& rx_before = before.linux().network().default_interface();
  const auto& rx_after = after.linux().network().default_interface();
  EXPECT_GE(rx_after.tx_bytes().value(), rx_before.tx_bytes().value() + 3 * 98);
  EXPECT_GE(rx_after.rx_bytes().value(), rx_before.rx_bytes().value() + 3 * 98);
  EXPECT_EQ(rx_after.rx_errors().value(), 0u);
  EXPECT_EQ(rx_after.tx_errors().value(), 0u);
  EXPECT_GT(rx_after.rx_bytes().value(), 0u);
  EXPECT_GT(rx_after.tx_bytes().value(), 0u);
  EXPECT_GT(after.linux().network().timestamp(), before.linux().network().timestamp());
}

TEST_F(StatsE2E, CriMetricsDescribeAndReportRunningContainers) {
  v1::ListMetricDescriptorsResponse descriptors;
  ASSERT_TRUE(flintd_->runtime().ListMetricDescriptors(Context().get(), v1::ListMetricDescriptorsRequest(), &descriptors).ok());
  std::map<std::string, std::vector<std::string>> keys;
  for (const auto& d : descriptors.descriptors()) {
    EXPECT_FALSE(d.help().empty()) << d.name();
    keys[d.name()] = {d.label_keys().begin(), d.label_keys().end()};
  }
  for (const char* name : {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                           "container_memory_usage_bytes", "container_memory_rss", "container_spec_memory_limit_bytes",
                           "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
                           "container_processes", "container_fs_usage_bytes"}) {
    EXPECT_TRUE(keys.contains(name)) << name;
  }
  EXPECT_THAT(keys["container_memory_working_set_bytes"],
              testing::ElementsAre("container", "id", "image", "name", "namespace", "pod"));
  EXPECT_THAT(keys["container_network_receive_bytes_total"], testing::Contains("interface"));

  v1::PodSandboxConfig sandbox_config = SandboxConfig("metrics");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  v1::ContainerConfig config = ContainerConfig("mem", image_, {"/bin/sleep", "3600"});
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(128 * kMiB);
  std::string id = RunContainer(pod, sandbox_config, config);
  ASSERT_FALSE(id.empty());

  v1::ListPodSandboxMetricsResponse response;
  ASSERT_TRUE(flintd_->runtime().ListPodSandboxMetrics(Context().get(), v1::ListPodSandboxMetricsRequest(), &response).ok());
  ASSERT_EQ(response.pod_metrics_size(), 1);
  const v1::PodSandboxMetrics& pm = response.pod_metrics(0);
  EXPECT_EQ(pm.pod_sandbox_id(), pod);
  ASSERT_EQ(pm.container_metrics_size(), 1);
  EXPECT_EQ(pm.container_metrics(0).container_id(), id);
  std::map<std::string, v1::Metric> by_name;
  for (const v1::Metric& m : pm.container_metrics(0).metrics()) {
    EXPECT_EQ(static_cast<size_t>(m.label_values_size()), keys[m.name()].size()) << m.name();
    EXPECT_GT(m.timestamp(), 0) << m.name();
    by_name[m.name()] = m;
  }
  ASSERT_TRUE(by_name.contains("container_memory_working_set_bytes"));
  const v1::Metric& ws = by_name["container_memory_working_set_bytes"];
  EXPECT_EQ(ws.metric_type(), v1::GAUGE);
  EXPECT_GT(ws.value().value(), 0u);
  EXPECT_LT(ws.value().value(), 64 * kMiB);
  EXPECT_THAT(ws.label_values(), testing::ElementsAre("mem", id, testing::_, id, sandbox_config.metadata().namespace_(),
                                                      "metrics"));
  // The same number the stats RPC gives, within what a sleeping busybox can move in between.
  uint64_t stats_ws = Stats(id).memory().working_set_bytes().value();
  EXPECT_NEAR(static_cast<double>(ws.value().value()), static_cast<double>(stats_ws), 1.0 * kMiB);
  EXPECT_EQ(by_name["container_spec_memory_limit_bytes"].value().value(), 128 * kMiB);
  EXPECT_EQ(by_name["container_processes"].value().value(), 1u);
  EXPECT_EQ(by_name["container_cpu_usage_seconds_total"].metric_type(), v1::COUNTER);
  EXPECT_LT(by_name["container_cpu_usage_seconds_total"].value().value(), 5u);
  EXPECT_TRUE(by_name.contains("container_fs_usage_bytes"));
  // Pod-level network metrics, labelled as cAdvisor labels the sandbox.
  bool saw_eth0_rx = false;
  for (const v1::Metric& m : pm.metrics()) {
    if (m.name() != "container_network_receive_bytes_total") continue;
    ASSERT_EQ(m.label_values_size(), 7);
    EXPECT_EQ(m.label_values(0), "POD");
    if (m.label_values(6) == "eth0") saw_eth0_rx = true;
    EXPECT_EQ(m.metric_type(), v1::COUNTER);
  }
  EXPECT_TRUE(saw_eth0_rx);
}

// Not a check: how long ListContainerStats takes over gRPC with N running containers (default 50,
// FLINT_STATS_BENCH_N to change). Run with --gtest_also_run_disabled_tests --gtest_filter=*Bench*.
TEST_F(StatsE2E, DISABLED_BenchListContainerStats) {
  int n = getenv("FLINT_STATS_BENCH_N") ? atoi(getenv("FLINT_STATS_BENCH_N")) : 50;
  v1::PodSandboxConfig sandbox_config = SandboxConfig("bench");
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  for (int i = 0; i < n; ++i) {
    std::string id = CreateContainer(pod, ContainerConfig("c" + std::to_string(i), image_, {"/bin/sleep", "3600"}),
                                     sandbox_config);
    ASSERT_FALSE(id.empty());
    StartContainer(id);
  }
  auto list = [&] {
    v1::ListContainerStatsResponse response;
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(flintd_->runtime().ListContainerStats(Context().get(), v1::ListContainerStatsRequest(), &response).ok());
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(response.stats_size(), n);
    return ms;
  };
  double first = list();
  std::vector<double> runs;
  for (int i = 0; i < 20; ++i) runs.push_back(list());
  std::sort(runs.begin(), runs.end());
  std::cerr << "ListContainerStats over gRPC, " << n << " containers: first call " << first << " ms, then median "
            << runs[runs.size() / 2] << " ms, p90 " << runs[runs.size() * 9 / 10] << " ms, min " << runs.front()
            << " ms\n";
}

TEST(StatsMetricsE2E, PrometheusEndpointCountsRpcs) {
  int port = PickFreeLoopbackPort();
  ASSERT_GT(port, 0);
  FlintdOptions options;
  options.extra_yaml = "metrics_address: 127.0.0.1:" + std::to_string(port) + "\n";
  std::unique_ptr<Flintd> flintd = Flintd::Start(options);
  ASSERT_TRUE(flintd);
  for (int i = 0; i < 3; ++i) {
    v1::VersionResponse version;
    ASSERT_TRUE(flintd->runtime().Version(Context().get(), v1::VersionRequest(), &version).ok());
  }
  v1::ContainerStatsRequest missing;
  missing.set_container_id("nope");
  v1::ContainerStatsResponse missing_response;
  EXPECT_EQ(flintd->runtime().ContainerStats(Context().get(), missing, &missing_response).error_code(),
            grpc::StatusCode::NOT_FOUND);

  std::string response = HttpGet(port, "/metrics");
  ASSERT_THAT(response, testing::StartsWith("HTTP/1.1 200")) << response;
  // Version also answered the harness's readiness polls, so at least 3.
  std::smatch match;
  std::regex version_count(R"re(flint_cri_rpc_duration_seconds_count\{method="Version",code="OK"\} (\d+))re");
  ASSERT_TRUE(std::regex_search(response, match, version_count)) << response;
  EXPECT_GE(std::stoi(match[1].str()), 3);
  EXPECT_THAT(response, testing::HasSubstr(R"(flint_cri_rpc_duration_seconds_count{method="ContainerStats",code="NOT_FOUND"} 1)"));
  EXPECT_THAT(response, testing::HasSubstr(R"(flint_cri_rpc_duration_seconds_bucket{method="Version",code="OK",le="+Inf"})"));
  EXPECT_THAT(response, testing::HasSubstr("# TYPE flint_cri_rpc_duration_seconds histogram"));
  EXPECT_THAT(response, testing::HasSubstr("\nflint_shims 0\n")) << "no pods, no shims";
  EXPECT_THAT(HttpGet(port, "/nope"), testing::StartsWith("HTTP/1.1 404"));
  int status = flintd->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "flintd exit status " << status << "\n" << flintd->Log();
}

// Zero-OS sinks (flint.io/logs-redis, flint.io/stats-redis) against Debian's redis-server, with
// flintd's /metrics on to see the sink counters.
class StatsSinkE2E : public StatsE2E {
 protected:
  // The same flintd as the base starts, plus a metrics address.
  std::string ExtraYaml() const override {
    if (metrics_port_ <= 0) metrics_port_ = PickFreeLoopbackPort();
    return "metrics_address: 127.0.0.1:" + std::to_string(metrics_port_) + "\n";
  }

  // The value of a counter sample in /metrics, -1 when absent.
  double MetricValue(const std::string& sample) {
    std::string text = HttpGet(metrics_port_, "/metrics");
    size_t at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  }

  std::string CounterFile(const std::string& container_id) {
    return flintd_->dir() + "/run/containers/" + container_id + "/logs-redis.json";
  }

  mutable int metrics_port_ = 0;  // picked when the base asks for the yaml
};

std::unique_ptr<RespConnection> Subscribe(uint16_t port, const std::vector<std::string>& channels) {
  auto conn = RespConnection::Connect("127.0.0.1", port, std::chrono::seconds(2));
  if (!conn.ok()) return nullptr;
  std::vector<std::string> command = {"SUBSCRIBE"};
  command.insert(command.end(), channels.begin(), channels.end());
  if (!(*conn)->Send(RespConnection::EncodeCommand(std::vector<std::string_view>(command.begin(), command.end()))).ok()) return nullptr;
  for (size_t i = 0; i < channels.size(); ++i) {
    if (!(*conn)->ReadReply(std::chrono::seconds(2)).ok()) return nullptr;
  }
  return std::move(*conn);
}

TEST_F(StatsSinkE2E, LogLinesAndStatsArriveOnRedisChannels) {
  auto redis = ::flint::testutil::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string port = std::to_string((*redis)->port());
  std::unique_ptr<RespConnection> sub = Subscribe((*redis)->port(), {"app-out", "app-err", "app-stats"});
  ASSERT_TRUE(sub);

  v1::PodSandboxConfig sandbox_config = SandboxConfig("sinks");
  (*sandbox_config.mutable_annotations())["flint.io/logs-redis"] = "redis://127.0.0.1:" + port + "/app-out,app-err";
  // A name, resolved by flintd (for the shim) and by the stats publisher.
  (*sandbox_config.mutable_annotations())["flint.io/stats-redis"] = "redis://localhost:" + port + "/app-stats";
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  std::string id = RunContainer(
      pod, sandbox_config,
      ContainerConfig("talker", image_,
                      {"/bin/sh", "-c", "for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; done; exec sleep 3600"}));
  ASSERT_FALSE(id.empty());

  std::vector<std::string> out, err;
  std::vector<nlohmann::json> stats;
  std::vector<std::chrono::steady_clock::time_point> stats_arrivals;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((out.size() < 5 || err.size() < 5 || stats.size() < 3) && std::chrono::steady_clock::now() < deadline) {
    auto msg = sub->ReadReply(std::chrono::seconds(5));
    ASSERT_TRUE(msg.ok()) << msg.status() << "\n" << Describe(id);
    ASSERT_EQ(msg->elements.size(), 3u);
    const std::string& channel = msg->elements[1].str;
    const std::string& payload = msg->elements[2].str;
    if (channel == "app-out") out.push_back(payload);
    if (channel == "app-err") err.push_back(payload);
    if (channel == "app-stats") {
      nlohmann::json j = nlohmann::json::parse(payload);
      EXPECT_EQ(j["container_id"], id) << "the pod's only container";
      stats.push_back(j);
      stats_arrivals.push_back(std::chrono::steady_clock::now());
    }
  }
  EXPECT_EQ(out, (std::vector<std::string>{"out-1", "out-2", "out-3", "out-4", "out-5"}));
  EXPECT_EQ(err, (std::vector<std::string>{"err-1", "err-2", "err-3", "err-4", "err-5"}));
  ASSERT_GE(stats.size(), 3u);
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  for (size_t i = 0; i < stats.size(); ++i) {
    const nlohmann::json& j = stats[i];
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j["container_name"], "talker");
    EXPECT_EQ(j["pod_id"], pod);
    EXPECT_EQ(j["pod_name"], "sinks");
    EXPECT_NEAR(j["timestamp"].get<double>(), static_cast<double>(now_s), 60);
    // A sleeping busybox: some memory charged, far below 64 MiB; one process.
    EXPECT_GT(j["memory_usage"].get<uint64_t>(), 0u);
    EXPECT_LT(j["memory_usage"].get<uint64_t>(), 64 * kMiB);
    EXPECT_EQ(j["pids_current"], 1);
    EXPECT_EQ(j["memory_limit"], 0) << "no limit set";
    // Starting sh + sleep took some CPU (10 us units), and it only grows.
    EXPECT_GT(j["cpu_usage"].get<uint64_t>(), 0u);
    EXPECT_LT(j["cpu_usage"].get<uint64_t>(), 500000u) << "under 5 s of CPU";
    if (i > 0) {
      EXPECT_GE(j["cpu_usage"].get<uint64_t>(), stats[i - 1]["cpu_usage"].get<uint64_t>());
      double gap = std::chrono::duration<double>(stats_arrivals[i] - stats_arrivals[i - 1]).count();
      // Every 2 s; the ticker keeps its cadence, so one late tick shortens the next gap.
      EXPECT_GT(gap, 1.0);
      EXPECT_LT(gap, 3.5);
    }
  }
  double span = std::chrono::duration<double>(stats_arrivals.back() - stats_arrivals.front()).count();
  EXPECT_NEAR(span / static_cast<double>(stats.size() - 1), 2.0, 0.5) << "mean interval";
  // The CRI log has the lines too, and the counters reach /metrics (the shim updates its file
  // at most once a second).
  std::string log = fs::ReadFile(log_dir_ + "/sinks/talker/0.log").value_or("");
  EXPECT_THAT(log, testing::HasSubstr(" stdout F out-5\n"));
  EXPECT_THAT(log, testing::HasSubstr(" stderr F err-5\n"));
  double logs_published = -1;
  for (int i = 0; i < 30 && logs_published < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    logs_published = MetricValue(R"(flint_redis_sink_published_total{sink="logs"})");
  }
  EXPECT_EQ(logs_published, 10);
  EXPECT_GE(MetricValue(R"(flint_redis_sink_published_total{sink="stats"})"), 3);
  EXPECT_EQ(MetricValue(R"(flint_redis_sink_dropped_total{sink="logs"})"), 0);
  EXPECT_EQ(MetricValue(R"(flint_redis_sink_dropped_total{sink="stats"})"), 0);
  // This flintd pulled busybox from the test registry in SetUp.
  EXPECT_GT(MetricValue("flint_image_pull_bytes_total"), 100000);
}

TEST_F(StatsSinkE2E, DeadSinkNeitherStopsTheContainerNorItsLog) {
  const std::string dead = "redis://127.0.0.1:" + std::to_string(PickFreeLoopbackPort());
  v1::PodSandboxConfig sandbox_config = SandboxConfig("deadsink");
  (*sandbox_config.mutable_annotations())["flint.io/logs-redis"] = dead + "/out,err";
  (*sandbox_config.mutable_annotations())["flint.io/stats-redis"] = dead + "/stats";
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  constexpr int kLines = 3000;
  std::string id = RunContainer(
      pod, sandbox_config,
      ContainerConfig("flood", image_,
                      {"/bin/sh", "-c",
                       "i=0; while [ $i -lt " + std::to_string(kLines) + " ]; do echo line-$i; i=$((i+1)); done; "
                       "exec sleep 3600"}));
  ASSERT_FALSE(id.empty());

  // Every line reaches the CRI log.
  const std::string log_path = log_dir_ + "/deadsink/flood/0.log";
  int lines = 0;
  for (int i = 0; i < 200 && lines < kLines; ++i) {
    std::string log = fs::ReadFile(log_path).value_or("");
    lines = static_cast<int>(std::count(log.begin(), log.end(), '\n'));
    if (lines < kLines) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(lines, kLines);
  EXPECT_THAT(fs::ReadFile(log_path).value_or(""), testing::HasSubstr(" stdout F line-" + std::to_string(kLines - 1) + "\n"));
  // The container and exec stay fast.
  auto start = std::chrono::steady_clock::now();
  v1::ExecSyncResponse exec = ExecSync(id, {"/bin/echo", "alive"}, 10);
  double exec_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(exec.exit_code(), 0);
  EXPECT_EQ(exec.stdout(), "alive\n");
  EXPECT_LT(exec_s, 2.0);
  EXPECT_EQ(ContainerStatus(id).state(), v1::CONTAINER_RUNNING);

  // What did not fit in the shim's bounded queue (1024 records) was dropped and counted.
  uint64_t dropped = 0;
  for (int i = 0; i < 50 && dropped < kLines - 1024; ++i) {
    std::string text = fs::ReadFile(CounterFile(id)).value_or("");
    if (!text.empty()) dropped = nlohmann::json::parse(text)["dropped"].get<uint64_t>();
    if (dropped < kLines - 1024) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(dropped, static_cast<uint64_t>(kLines - 1024));
  EXPECT_EQ(MetricValue(R"(flint_redis_sink_dropped_total{sink="logs"})"), static_cast<double>(dropped));
  EXPECT_EQ(MetricValue(R"(flint_redis_sink_published_total{sink="logs"})"), 0);
  EXPECT_EQ(MetricValue(R"(flint_redis_sink_published_total{sink="stats"})"), 0);
  std::cerr << "dead sink: " << kLines << " lines logged, " << dropped << " dropped by the shim, ExecSync " << exec_s
            << " s\n";
}

TEST_F(StatsSinkE2E, SinksKeepGoingAcrossFlintdRestart) {
  auto redis = ::flint::testutil::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string port = std::to_string((*redis)->port());
  std::unique_ptr<RespConnection> sub = Subscribe((*redis)->port(), {"r-out", "r-stats"});
  ASSERT_TRUE(sub);
  v1::PodSandboxConfig sandbox_config = SandboxConfig("restart");
  (*sandbox_config.mutable_annotations())["flint.io/logs-redis"] = "redis://127.0.0.1:" + port + "/r-out";
  (*sandbox_config.mutable_annotations())["flint.io/stats-redis"] = "redis://127.0.0.1:" + port + "/r-stats";
  std::string pod = RunSandbox(sandbox_config);
  ASSERT_FALSE(pod.empty());
  std::string id = RunContainer(
      pod, sandbox_config,
      ContainerConfig("ticker", image_, {"/bin/sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"}));
  ASSERT_FALSE(id.empty());

  // Waits (bounded) for a message on `channel`; true when one came.
  auto wait_for = [&](const std::string& channel, std::chrono::seconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto msg = sub->ReadReply(std::chrono::milliseconds(500));
      if (msg.ok() && msg->elements.size() == 3 && msg->elements[1].str == channel) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_for("r-stats", std::chrono::seconds(6)));
  ASSERT_TRUE(wait_for("r-out", std::chrono::seconds(3)));

  // flintd goes away: the shim keeps publishing log lines, the stats stop. A new flintd on the
  // same state resumes the pod's stats.
  bool logs_while_down = false;
  ASSERT_TRUE(flintd_->StopAndRestart([&] {
    while (sub->ReadReply(std::chrono::milliseconds(100)).ok()) {
    }
    logs_while_down = wait_for("r-out", std::chrono::seconds(3));
  }));
  EXPECT_TRUE(logs_while_down) << "log lines while flintd is down";
  EXPECT_TRUE(wait_for("r-stats", std::chrono::seconds(8))) << "no stats after the restart";
  // The fixture's TearDown stops and removes the pod through the new daemon.
}

}  // namespace
}  // namespace flint::e2e
