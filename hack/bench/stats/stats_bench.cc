// Micro-benchmark for the ListContainerStats hot path on cgroup v1: creates N real cgroups
// (memory, cpuacct, pids), then times reading the stats of all of them, plus the CPU rate and the
// cached writable-layer usage, R rounds. Needs root. Cleans up its cgroups.
//
//   flint_stats_bench [containers=100] [rounds=200]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cri/stats/cgroup_stats.h"
#include "cri/stats/cpu_rate_tracker.h"
#include "cri/stats/disk_usage_cache.h"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  const int containers = argc > 1 ? std::atoi(argv[1]) : 100;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 200;
  auto reader = flint::stats::MakeCgroupStatsReader();
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", std::string(reader.status().message()).c_str());
    return 1;
  }
  auto mode = flint::stats::DetectCgroupMode();
  const bool v2 = mode.ok() && *mode == flint::stats::CgroupMode::kV2;
  const std::string base = "flint-stats-bench-" + std::to_string(::getpid());
  const std::vector<std::string> controllers = v2 ? std::vector<std::string>{""}
                                                  : std::vector<std::string>{"memory", "cpuacct", "pids"};
  char tmpl[] = "/tmp/flint-stats-bench-XXXXXX";
  const std::string upper_root = ::mkdtemp(tmpl);

  std::vector<std::string> paths;
  bool ok = true;
  for (const std::string& c : controllers) {
    std::string root = "/sys/fs/cgroup/" + c + (c.empty() ? "" : "/") + base;
    ok = ok && ::mkdir(root.c_str(), 0755) == 0;
  }
  for (int i = 0; i < containers && ok; ++i) {
    std::string rel = base + "/c" + std::to_string(i);
    for (const std::string& c : controllers) {
      std::string dir = "/sys/fs/cgroup/" + c + (c.empty() ? "" : "/") + rel;
      ok = ok && ::mkdir(dir.c_str(), 0755) == 0;
    }
    paths.push_back(rel);
    // A small fake upper dir per container.
    std::filesystem::create_directories(upper_root + "/c" + std::to_string(i) + "/etc");
    std::ofstream(upper_root + "/c" + std::to_string(i) + "/etc/hosts") << "127.0.0.1 localhost\n";
  }

  std::vector<double> ms;
  if (ok) {
    flint::stats::CpuRateTracker rates;
    flint::stats::DiskUsageCache disk;
    for (int r = 0; r < rounds + 1; ++r) {
      auto start = Clock::now();
      for (int i = 0; i < containers; ++i) {
        auto stats = (*reader)->Read(paths[i]);
        if (!stats.ok()) {
          std::fprintf(stderr, "read %s: %s\n", paths[i].c_str(), std::string(stats.status().message()).c_str());
          ok = false;
          break;
        }
        rates.Update(paths[i], stats->cpu_usage_ns.value_or(0), stats->timestamp_ns);
        auto usage = disk.Get(upper_root + "/c" + std::to_string(i));
        if (!usage.ok()) ok = false;
      }
      // Round 0 fills the disk-usage cache (first measure is synchronous); report the steady state.
      if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      if (!ok) break;
    }
  }

  for (int i = static_cast<int>(paths.size()) - 1; i >= 0; --i) {
    for (const std::string& c : controllers) {
      std::string dir = "/sys/fs/cgroup/" + c + (c.empty() ? "" : "/") + paths[i];
      ::rmdir(dir.c_str());
    }
  }
  for (const std::string& c : controllers) {
    std::string root = "/sys/fs/cgroup/" + c + (c.empty() ? "" : "/") + base;
    ::rmdir(root.c_str());
  }
  std::filesystem::remove_all(upper_root);
  if (!ok || ms.empty()) {
    std::fprintf(stderr, "benchmark failed (need root and a writable cgroup fs)\n");
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  std::printf("cgroup %s: stats for %d containers (cgroup + cpu rate + cached disk usage), %zu rounds\n",
              v2 ? "v2" : "v1", containers, ms.size());
  std::printf("per call: mean %.3f ms  p50 %.3f ms  p99 %.3f ms  max %.3f ms  (target < 20 ms)\n",
              sum / ms.size(), ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
  return ms[ms.size() / 2] < 20.0 ? 0 : 2;
}
