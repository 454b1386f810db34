#include "cri/stats/disk_usage_cache.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"

namespace flint::stats {
namespace {

using namespace std::chrono_literals;

TEST(DiskUsageCacheTest, MeasuresRealDirectory) {
  char tmpl[] = "/tmp/flint-du-test-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/a") << std::string(64 * 1024, 'a');
  std::filesystem::create_directory(dir + "/sub");
  std::ofstream(dir + "/sub/b") << "b";
  DiskUsageCache cache;
  absl::StatusOr<DiskUsageSample> sample = cache.Get(dir);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_GE(sample->bytes, 64u * 1024u);
  EXPECT_EQ(sample->inodes, 4u);  // dir, a, sub, sub/b
  EXPECT_GT(sample->timestamp_ns, 0);
}

TEST(DiskUsageCacheTest, ServesCachedValueAndRefreshesInBackgroundAfterTtl) {
  std::atomic<int> calls{0};
  DiskUsageCache cache(50ms, [&calls](const std::string&) -> absl::StatusOr<fs::DiskUsage> {
    int n = ++calls;
    return fs::DiskUsage{static_cast<uint64_t>(n) * 100, static_cast<uint64_t>(n)};
  });
  EXPECT_EQ(cache.Get("/x")->bytes, 100u);
  EXPECT_EQ(cache.Get("/x")->bytes, 100u);
  EXPECT_EQ(calls.load(), 1);
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(cache.Get("/x")->bytes, 100u);  // stale value returned at once, refresh queued
  for (int i = 0; i < 200 && calls.load() < 2; ++i) std::this_thread::sleep_for(5ms);
  for (int i = 0; i < 200 && cache.Get("/x")->bytes != 200u; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(cache.Get("/x")->bytes, 200u);
  EXPECT_EQ(cache.Get("/x")->inodes, 2u);
  cache.Forget("/x");
  EXPECT_EQ(cache.Get("/x")->bytes, 300u);
}

TEST(DiskUsageCacheTest, SlowRefreshDoesNotBlockGet) {
  std::atomic<int> calls{0};
  DiskUsageCache cache(1ms, [&calls](const std::string&) -> absl::StatusOr<fs::DiskUsage> {
    if (++calls > 1) std::this_thread::sleep_for(300ms);
    return fs::DiskUsage{1, 1};
  });
  ASSERT_TRUE(cache.Get("/slow").ok());
  std::this_thread::sleep_for(5ms);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cache.Get("/slow").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_LE(calls.load(), 2);  // a single refresh in flight, not one per Get
}

TEST(DiskUsageCacheTest, ErrorOnFirstMeasureIsReturned) {
  DiskUsageCache cache(1s, [](const std::string&) -> absl::StatusOr<fs::DiskUsage> {
    return absl::PermissionDeniedError("nope");
  });
  absl::StatusOr<DiskUsageSample> sample = cache.Get("/denied");
  EXPECT_EQ(sample.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(sample.status().message().find("/denied"), std::string::npos);
}

}  // namespace
}  // namespace flint::stats
