#include "cri/stats/cpu_rate_tracker.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace flint::stats {
namespace {

constexpr int64_t kSec = 1000000000;

TEST(CpuRateTrackerTest, FirstSampleHasNoRateThenComputesNanoCores) {
  CpuRateTracker tracker;
  EXPECT_FALSE(tracker.Update("c", 1 * kSec, 100 * kSec).has_value());
  // 0.5 s of CPU over 2 s = a quarter core.
  EXPECT_EQ(tracker.Update("c", 1 * kSec + kSec / 2, 102 * kSec), 250000000u);
  // Two busy cores for 1 s.
  EXPECT_EQ(tracker.Update("c", 3 * kSec + kSec / 2, 103 * kSec), 2000000000u);
}

TEST(CpuRateTrackerTest, SameTimestampReturnsLastRate) {
  CpuRateTracker tracker;
  tracker.Update("c", 0, 10 * kSec);
  EXPECT_EQ(tracker.Update("c", kSec, 11 * kSec), 1000000000u);
  EXPECT_EQ(tracker.Update("c", kSec, 11 * kSec), 1000000000u);
  EXPECT_EQ(tracker.Update("c", kSec, 10 * kSec), 1000000000u);  // older sample is ignored
}

TEST(CpuRateTrackerTest, CounterResetRestartsWithoutRate) {
  CpuRateTracker tracker;
  tracker.Update("c", 5 * kSec, 10 * kSec);
  EXPECT_FALSE(tracker.Update("c", kSec, 11 * kSec).has_value());
  EXPECT_EQ(tracker.Update("c", 2 * kSec, 12 * kSec), 1000000000u);
}

TEST(CpuRateTrackerTest, IdsAreIndependentAndRetainPrunes) {
  CpuRateTracker tracker;
  tracker.Update("a", 0, kSec);
  tracker.Update("b", 0, kSec);
  EXPECT_EQ(tracker.Update("a", kSec / 10, 2 * kSec), 100000000u);
  EXPECT_EQ(tracker.Update("b", 0, 2 * kSec), 0u);
  tracker.Retain({"a"});
  EXPECT_EQ(tracker.size(), 1u);
  EXPECT_FALSE(tracker.Update("b", kSec, 3 * kSec).has_value());
  tracker.Forget("a");
  EXPECT_FALSE(tracker.Update("a", kSec, 3 * kSec).has_value());
}

TEST(CpuRateTrackerTest, ConcurrentUpdatesAreSafe) {
  CpuRateTracker tracker;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tracker, t] {
      for (int i = 1; i <= 1000; ++i) {
        tracker.Update("c" + std::to_string(i % 10), static_cast<uint64_t>(i) * 1000, i * 1000 + t);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(tracker.size(), 10u);
}

}  // namespace
}  // namespace flint::stats
