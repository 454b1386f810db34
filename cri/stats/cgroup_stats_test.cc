#include "cri/stats/cgroup_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cri/stats/cgroup_v1_reader.h"
#include "cri/stats/cgroup_v2_reader.h"
#include "gtest/gtest.h"

namespace flint::stats {
namespace {

namespace stdfs = std::filesystem;

class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/flint-cgroup-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~TempTree() { stdfs::remove_all(root_); }
  const std::string& root() const { return root_; }
  void Write(const std::string& rel, const std::string& content) {
    stdfs::path p = stdfs::path(root_) / rel;
    stdfs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }

 private:
  std::string root_;
};

// Recorded from a kernel 6.x cgroup v1 container cgroup (values edited to round numbers).
constexpr char kV1MemoryStat[] = R"(cache 52428800
rss 104857600
rss_huge 0
shmem 0
mapped_file 4096000
dirty 8192
writeback 0
swap 0
pgpgin 40000
pgpgout 1000
pgfault 30000
pgmajfault 12
inactive_anon 0
active_anon 104857600
inactive_file 41943040
active_file 10485760
unevictable 0
hierarchical_memory_limit 268435456
hierarchical_memsw_limit 9223372036854771712
total_cache 52428800
total_rss 104857600
total_rss_huge 0
total_shmem 0
total_mapped_file 4096000
total_dirty 8192
total_writeback 0
total_swap 0
total_pgpgin 40000
total_pgpgout 1000
total_pgfault 30001
total_pgmajfault 13
total_inactive_anon 0
total_active_anon 104857600
total_inactive_file 41943040
total_active_file 10485760
total_unevictable 0
)";

constexpr char kV2MemoryStat[] = R"(anon 104857600
file 52428800
kernel 1048576
kernel_stack 65536
pagetables 368640
sec_pagetables 0
percpu 2400
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 4096000
file_dirty 8192
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 104857600
active_anon 0
inactive_file 41943040
active_file 10485760
unevictable 0
slab_reclaimable 400000
slab_unreclaimable 200000
slab 600000
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgscan 0
pgsteal 0
pgscan_kswapd 0
pgscan_direct 0
pgsteal_kswapd 0
pgsteal_direct 0
pgfault 30000
pgmajfault 12
pgrefill 0
pgactivate 0
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
thp_fault_alloc 0
thp_collapse_alloc 0
)";

void WriteV1Container(TempTree& tree, const std::string& path, const std::string& limit) {
  tree.Write("cpuacct/" + path + "/cpuacct.usage", "123456789\n");
  tree.Write("memory/" + path + "/memory.usage_in_bytes", "167772160\n");
  tree.Write("memory/" + path + "/memory.stat", kV1MemoryStat);
  tree.Write("memory/" + path + "/memory.limit_in_bytes", limit);
  tree.Write("memory/" + path + "/memory.memsw.usage_in_bytes", "171966464\n");
  tree.Write("memory/" + path + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  tree.Write("pids/" + path + "/pids.current", "7\n");
}

TEST(CgroupV1ReaderTest, ReadsRecordedLimitedCgroup) {
  TempTree tree;
  WriteV1Container(tree, "kubepods/burstable/podabc/c1", "268435456\n");
  CgroupV1Reader reader(tree.root());
  absl::StatusOr<CgroupStats> stats = reader.Read("/kubepods/burstable/podabc/c1");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->timestamp_ns, 0);
  EXPECT_EQ(stats->cpu_usage_ns, 123456789u);
  EXPECT_EQ(stats->memory_usage_bytes, 167772160u);
  EXPECT_EQ(stats->memory_working_set_bytes, 167772160u - 41943040u);
  EXPECT_EQ(stats->memory_rss_bytes, 104857600u);
  EXPECT_EQ(stats->memory_cache_bytes, 52428800u);
  EXPECT_EQ(stats->page_faults, 30001u);
  EXPECT_EQ(stats->major_page_faults, 13u);
  EXPECT_EQ(stats->memory_limit_bytes, 268435456u);
  EXPECT_EQ(stats->memory_available_bytes, 268435456u - (167772160u - 41943040u));
  EXPECT_EQ(stats->swap_usage_bytes, 171966464u - 167772160u);
  EXPECT_EQ(stats->oom_kills, 2u);
  EXPECT_EQ(stats->pids_current, 7u);
}

TEST(CgroupV1ReaderTest, HugeLimitMeansUnlimited) {
  TempTree tree;
  WriteV1Container(tree, "c2", "9223372036854771712\n");
  absl::StatusOr<CgroupStats> stats = CgroupV1Reader(tree.root()).Read("c2");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->memory_limit_bytes.has_value());
  EXPECT_FALSE(stats->memory_available_bytes.has_value());
  EXPECT_TRUE(stats->memory_working_set_bytes.has_value());
}

TEST(CgroupV1ReaderTest, WorkingSetClampsAtZeroAndMissingControllersAreUnset) {
  TempTree tree;
  tree.Write("memory/c3/memory.usage_in_bytes", "1000\n");
  tree.Write("memory/c3/memory.stat", "total_inactive_file 5000\ntotal_rss 10\n");
  absl::StatusOr<CgroupStats> stats = CgroupV1Reader(tree.root()).Read("c3");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->memory_working_set_bytes, 0u);
  EXPECT_FALSE(stats->cpu_usage_ns.has_value());
  EXPECT_FALSE(stats->pids_current.has_value());
  EXPECT_FALSE(stats->swap_usage_bytes.has_value());
  EXPECT_FALSE(stats->page_faults.has_value());
}

TEST(CgroupV1ReaderTest, MissingCgroupIsNotFound) {
  TempTree tree;
  absl::StatusOr<CgroupStats> stats = CgroupV1Reader(tree.root()).Read("nope");
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound);
}

void WriteV2Container(TempTree& tree, const std::string& path, const std::string& max) {
  tree.Write(path + "/cpu.stat",
             "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\n"
             "throttled_usec 0\nnr_bursts 0\nburst_usec 0\n");
  tree.Write(path + "/memory.current", "167772160\n");
  tree.Write(path + "/memory.stat", kV2MemoryStat);
  tree.Write(path + "/memory.max", max);
  tree.Write(path + "/memory.swap.current", "4096\n");
  tree.Write(path + "/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n");
  tree.Write(path + "/pids.current", "3\n");
}

TEST(CgroupV2ReaderTest, ReadsRecordedLimitedCgroup) {
  TempTree tree;
  WriteV2Container(tree, "kubepods.slice/kubepods-pod1.slice/cri-flint-c1.scope", "268435456\n");
  CgroupV2Reader reader(tree.root());
  absl::StatusOr<CgroupStats> stats = reader.Read("kubepods.slice/kubepods-pod1.slice/cri-flint-c1.scope");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->cpu_usage_ns, 2500000000u);
  EXPECT_EQ(stats->memory_usage_bytes, 167772160u);
  EXPECT_EQ(stats->memory_working_set_bytes, 167772160u - 41943040u);
  EXPECT_EQ(stats->memory_rss_bytes, 104857600u);
  EXPECT_EQ(stats->memory_cache_bytes, 52428800u);
  EXPECT_EQ(stats->page_faults, 30000u);
  EXPECT_EQ(stats->major_page_faults, 12u);
  EXPECT_EQ(stats->memory_limit_bytes, 268435456u);
  EXPECT_EQ(stats->memory_available_bytes, 268435456u - (167772160u - 41943040u));
  EXPECT_EQ(stats->swap_usage_bytes, 4096u);
  EXPECT_EQ(stats->oom_kills, 1u);
  EXPECT_EQ(stats->pids_current, 3u);
}

TEST(CgroupV2ReaderTest, MaxMeansUnlimited) {
  TempTree tree;
  WriteV2Container(tree, "c2", "max\n");
  absl::StatusOr<CgroupStats> stats = CgroupV2Reader(tree.root()).Read("/c2");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->memory_limit_bytes.has_value());
  EXPECT_FALSE(stats->memory_available_bytes.has_value());
  EXPECT_EQ(stats->memory_working_set_bytes, 167772160u - 41943040u);
}

TEST(CgroupV2ReaderTest, LimitBelowWorkingSetGivesZeroAvailable) {
  TempTree tree;
  WriteV2Container(tree, "c3", "1048576\n");
  absl::StatusOr<CgroupStats> stats = CgroupV2Reader(tree.root()).Read("c3");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->memory_available_bytes, 0u);
}

TEST(CgroupV2ReaderTest, RootLikeCgroupWithoutMemoryFilesLeavesMemoryUnset) {
  TempTree tree;
  tree.Write("cpu.stat", "usage_usec 10\n");
  absl::StatusOr<CgroupStats> stats = CgroupV2Reader(tree.root()).Read("");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->cpu_usage_ns, 10000u);
  EXPECT_FALSE(stats->memory_usage_bytes.has_value());
  EXPECT_FALSE(stats->memory_working_set_bytes.has_value());
}

TEST(CgroupV2ReaderTest, MissingCgroupIsNotFound) {
  TempTree tree;
  EXPECT_EQ(CgroupV2Reader(tree.root()).Read("gone").status().code(), absl::StatusCode::kNotFound);
}

TEST(CgroupModeTest, DetectsHostMode) {
  // This host is either; assert consistency with what is mounted instead of a fixed answer.
  absl::StatusOr<CgroupMode> mode = DetectCgroupMode();
  ASSERT_TRUE(mode.ok()) << mode.status();
  bool has_memory_v1 = stdfs::exists("/sys/fs/cgroup/memory/memory.stat");
  bool unified_root = stdfs::exists("/sys/fs/cgroup/cgroup.controllers");
  if (unified_root) {
    EXPECT_EQ(*mode, CgroupMode::kV2);
  } else if (has_memory_v1) {
    EXPECT_NE(*mode, CgroupMode::kV2);
    EXPECT_EQ(*mode == CgroupMode::kHybrid, stdfs::exists("/sys/fs/cgroup/unified/cgroup.controllers"));
  }
}

TEST(CgroupModeTest, PlainDirectoryIsV1) {
  TempTree tree;
  absl::StatusOr<CgroupMode> mode = DetectCgroupMode(tree.root());
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, CgroupMode::kV1);
  EXPECT_EQ(CgroupModeName(*mode), "v1");
}

TEST(SystemdCgroupPathTest, ExpandsSlicesAndScope) {
  EXPECT_EQ(*SystemdCgroupPath("kubepods-besteffort-pod12.slice:cri-flint:abc"),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-flint-abc.scope");
  EXPECT_EQ(*SystemdCgroupPath(":flint:abc"), "system.slice/flint-abc.scope");
  EXPECT_EQ(*SystemdCgroupPath("-.slice::abc"), "abc.scope");
  EXPECT_EQ(*SystemdCgroupPath("kubepods.slice:x:kubepods-pod1.slice"), "kubepods.slice/kubepods-pod1.slice");
  EXPECT_EQ(*SystemdCgroupPath("/kubepods/besteffort/pod1/abc"), "/kubepods/besteffort/pod1/abc");
  EXPECT_FALSE(SystemdCgroupPath("bad--name.slice:p:n").ok());
  EXPECT_FALSE(SystemdCgroupPath("notaslice:p:n").ok());
  EXPECT_FALSE(SystemdCgroupPath("a.slice:p:").ok());
}

}  // namespace
}  // namespace flint::stats
