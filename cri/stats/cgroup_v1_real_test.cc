// Reads stats of a real cgroup v1 cgroup holding a busy loop and a process that touches 100 MiB.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cri/stats/cgroup_stats.h"
#include "cri/stats/cgroup_v1_reader.h"
#include "cri/stats/cpu_rate_tracker.h"
#include "gtest/gtest.h"

namespace flint::stats {
namespace {

constexpr const char* kControllers[] = {"memory", "cpuacct", "cpu", "pids"};
constexpr uint64_t kMiB = 1024 * 1024;

// Only async-signal-safe calls: runs in a fork child of a multithreaded process.
void JoinCgroupsOrDie(const std::vector<std::string>& procs_files) {
  char digits[24];
  int len = 0;
  for (pid_t pid = ::getpid(); pid > 0; pid /= 10) digits[len++] = static_cast<char>('0' + pid % 10);
  char buf[24];
  for (int i = 0; i < len; ++i) buf[i] = digits[len - 1 - i];
  for (const std::string& file : procs_files) {
    int fd = ::open(file.c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, buf, len) != len) ::_exit(3);
    ::close(fd);
  }
}

class RealCgroupV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    absl::StatusOr<CgroupMode> mode = DetectCgroupMode();
    if (!mode.ok() || *mode == CgroupMode::kV2) GTEST_SKIP() << "host is not on cgroup v1";
    std::random_device rd;
    name_ = absl::StrCat("flint-stats-test-", ::getpid(), "-", rd() % 100000);
    for (const char* c : kControllers) {
      std::string dir = absl::StrCat("/sys/fs/cgroup/", c, "/", name_);
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) FAIL() << "mkdir " << dir << ": " << errno;
      dirs_.push_back(dir);
      procs_files_.push_back(dir + "/cgroup.procs");
    }
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (const std::string& dir : dirs_) {
      // A memory cgroup can stay busy for a moment after its last task exits.
      for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  pid_t SpawnBusyLoop() {
    std::vector<std::string> files = procs_files_;
    pid_t pid = ::fork();
    if (pid == 0) {
      JoinCgroupsOrDie(files);
      volatile uint64_t spin = 0;
      for (;;) spin = spin + 1;
    }
    children_.push_back(pid);
    return pid;
  }

  // Uninstrumented: in a sanitizer build every checked store reads the shadow of its
  // address, and on this kernel those reads charged 1/8 of the touched size (12.5 MiB
  // of shadow for 100 MiB) to the cgroup as well.
  __attribute__((no_sanitize("address", "undefined"))) static void TouchPages(char* mem, size_t bytes) {
    volatile char* p = mem;
    for (size_t off = 0; off < bytes; off += 4096) p[off] = 1;
  }

  // Returns once the child has touched every page of `bytes`.
  void SpawnToucher(size_t bytes) {
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    std::vector<std::string> files = procs_files_;
    pid_t pid = ::fork();
    if (pid == 0) {
      JoinCgroupsOrDie(files);
      void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) ::_exit(4);
      TouchPages(static_cast<char*>(mem), bytes);
      char byte = 'r';
      if (::write(ready[1], &byte, 1) != 1) ::_exit(5);
      for (;;) ::pause();
    }
    children_.push_back(pid);
    ::close(ready[1]);
    char byte = 0;
    ssize_t n = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    ASSERT_EQ(n, 1) << "toucher child failed";
  }

  void WriteFile(const std::string& path, const std::string& value) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, value.data(), value.size()), static_cast<ssize_t>(value.size()));
    ::close(fd);
  }

  std::string name_;
  std::vector<std::string> dirs_;
  std::vector<std::string> procs_files_;
  std::vector<pid_t> children_;
};

TEST_F(RealCgroupV1Test, CpuGrowsAndWorkingSetMatchesTouchedMemory) {
  WriteFile("/sys/fs/cgroup/memory/" + name_ + "/memory.limit_in_bytes", std::to_string(512 * kMiB));
  SpawnBusyLoop();
  ASSERT_NO_FATAL_FAILURE(SpawnToucher(100 * kMiB));

  CgroupV1Reader reader;
  CpuRateTracker rates;
  absl::StatusOr<CgroupStats> first = reader.Read("/" + name_);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->cpu_usage_ns.has_value());
  rates.Update(name_, *first->cpu_usage_ns, first->timestamp_ns);

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  absl::StatusOr<CgroupStats> second = reader.Read(name_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(*second->cpu_usage_ns, *first->cpu_usage_ns);
  std::optional<uint64_t> nano_cores = rates.Update(name_, *second->cpu_usage_ns, second->timestamp_ns);
  ASSERT_TRUE(nano_cores.has_value());
  // A busy loop on a 2-core machine that may be loaded by other tests: at least 1 % of a core.
  EXPECT_GT(*nano_cores, 10000000u);
  EXPECT_LT(*nano_cores, 1100000000u);  // one thread cannot use more than one core

  ASSERT_TRUE(second->memory_working_set_bytes.has_value());
  uint64_t ws = *second->memory_working_set_bytes;
  EXPECT_GE(ws, 90 * kMiB) << "working set " << ws;
  EXPECT_LE(ws, 110 * kMiB) << "working set " << ws;
  EXPECT_GE(*second->memory_usage_bytes, ws);
  EXPECT_GE(*second->memory_rss_bytes, 95 * kMiB);
  EXPECT_EQ(second->memory_limit_bytes, 512 * kMiB);
  EXPECT_EQ(second->memory_available_bytes, 512 * kMiB - ws);
  EXPECT_GT(*second->page_faults, 0u);
  EXPECT_TRUE(second->major_page_faults.has_value());
  EXPECT_EQ(second->oom_kills, 0u);
  EXPECT_EQ(second->pids_current, 2u);
}

}  // namespace
}  // namespace flint::stats
