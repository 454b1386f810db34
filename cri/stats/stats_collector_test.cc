#include "cri/stats/stats_collector.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cri/stats/cgroup_v1_reader.h"
#include "gtest/gtest.h"

namespace flint::stats {
namespace {

namespace stdfs = std::filesystem;

class StatsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-collector-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { stdfs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& content) {
    stdfs::path p = stdfs::path(root_) / rel;
    stdfs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  std::string root_;
};

TEST_F(StatsCollectorTest, ContainerSampleCombinesCgroupRateAndWritableLayer) {
  const std::string cg = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-flint-c1.scope";
  Write("cgroup/cpuacct/" + cg + "/cpuacct.usage", "1000000000\n");
  Write("cgroup/memory/" + cg + "/memory.usage_in_bytes", "4096\n");
  Write("upper/c1/file", std::string(10000, 'x'));
  StatsCollector collector(std::make_unique<CgroupV1Reader>(root_ + "/cgroup"));

  auto first = collector.Container("c1", "kubepods-besteffort-pod1.slice:cri-flint:c1", root_ + "/upper/c1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->cgroup.cpu_usage_ns, 1000000000u);
  EXPECT_EQ(first->cgroup.memory_working_set_bytes, 4096u);
  EXPECT_FALSE(first->usage_nano_cores.has_value());
  ASSERT_TRUE(first->writable_layer.has_value());
  EXPECT_EQ(first->writable_layer->inodes, 2u);
  EXPECT_GE(first->writable_layer->bytes, 10000u);

  Write("cgroup/cpuacct/" + cg + "/cpuacct.usage", "9000000000\n");
  usleep(20000);
  auto second = collector.Container("c1", "kubepods-besteffort-pod1.slice:cri-flint:c1", "");
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->usage_nano_cores.has_value());
  EXPECT_GT(*second->usage_nano_cores, 0u);
  EXPECT_FALSE(second->writable_layer.has_value());

  EXPECT_EQ(collector.Container("gone", "/nope", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StatsCollectorTest, HostNetworkPodHasProcessCountAndNoInterfaces) {
  Write("cgroup/pids/kubepods/pod1/pids.current", "12\n");
  Write("cgroup/cpuacct/kubepods/pod1/cpuacct.usage", "5\n");
  StatsCollector collector(std::make_unique<CgroupV1Reader>(root_ + "/cgroup"));
  auto pod = collector.Pod("p1", "/kubepods/pod1", "");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->process_count, 12u);
  EXPECT_TRUE(pod->interfaces.empty());
  EXPECT_EQ(pod->default_interface, "");
}

TEST_F(StatsCollectorTest, PodInOwnNetnsReportsItsInterfacesWithoutLoopback) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Write("cgroup/pids/kubepods/pod2/pids.current", "1\n");
  const std::string ns = "flint-sc-" + std::to_string(::getpid());
  struct NetnsGuard {
    std::string name;
    ~NetnsGuard() { std::system(("ip netns del " + name + " >/dev/null 2>&1").c_str()); }
  } guard{ns};
  ASSERT_EQ(std::system(("ip netns add " + ns).c_str()), 0);
  // The host end stays outside; deleting the namespace removes the pair.
  ASSERT_EQ(std::system(("ip link add flsc" + std::to_string(::getpid() % 100000) +
                         " type veth peer name eth0 netns " + ns).c_str()),
            0);
  StatsCollector collector(std::make_unique<CgroupV1Reader>(root_ + "/cgroup"));
  auto pod = collector.Pod("p2", "kubepods/pod2", "/var/run/netns/" + ns);
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_EQ(pod->interfaces.size(), 1u);
  EXPECT_EQ(pod->interfaces[0].name, "eth0");
  EXPECT_EQ(pod->default_interface, "eth0");
  EXPECT_GT(pod->network_timestamp_ns, 0);
}

}  // namespace
}  // namespace flint::stats
