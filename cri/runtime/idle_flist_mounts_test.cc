#include "cri/runtime/idle_flist_mounts.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace flint::runtime {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

class IdleFlistMountsTest : public testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  IdleFlistMounts idle_{absl::Seconds(600), [](const std::string&) {}, [this] { return now_; }};
};

TEST_F(IdleFlistMountsTest, IdleMountExpiresAfterItsLinger) {
  idle_.Idle("/run/flint/flists/a/mnt");
  EXPECT_TRUE(idle_.IsIdle("/run/flint/flists/a/mnt"));
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(599)), IsEmpty());
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(600)), ElementsAre("/run/flint/flists/a/mnt"));
  EXPECT_FALSE(idle_.IsIdle("/run/flint/flists/a/mnt")) << "an expired mount is handed out once";
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(700)), IsEmpty());
}

TEST_F(IdleFlistMountsTest, MountUsedAgainDoesNotExpire) {
  EXPECT_TRUE(idle_.Idle("a"));
  EXPECT_TRUE(idle_.Forget("a"));
  EXPECT_FALSE(idle_.Forget("a"));
  EXPECT_FALSE(idle_.IsIdle("a"));
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Hours(1)), IsEmpty());
}

TEST_F(IdleFlistMountsTest, IdleAgainKeepsTheFirstDeadline) {
  EXPECT_TRUE(idle_.Idle("a"));
  now_ += absl::Seconds(500);
  EXPECT_FALSE(idle_.Idle("a"));  // e.g. a failed create released it again
  idle_.Idle("b");
  EXPECT_EQ(idle_.Count(), 2u);
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(100)), ElementsAre("a"));
  EXPECT_EQ(idle_.Count(), 1u);
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(600)), ElementsAre("b"));
}

TEST(IdleFlistMountsThreadTest, ThreadExpiresEachMountOnceAtItsTime) {
  std::mutex mu;
  std::vector<std::string> expired;
  std::atomic<int> calls = 0;
  {
    IdleFlistMounts idle(absl::Milliseconds(200), [&](const std::string& mountpoint) {
      std::lock_guard lock(mu);
      expired.push_back(mountpoint);
      ++calls;
    });
    idle.Start();
    const auto start = std::chrono::steady_clock::now();
    idle.Idle("late");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    idle.Idle("later");
    idle.Idle("used");
    idle.Forget("used");
    for (int i = 0; i < 300 && calls < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing more comes
  }
  EXPECT_THAT(expired, ElementsAre("late", "later"));
}

TEST(IdleFlistMountsThreadTest, DestructorStopsAThreadWaitingForALateDeadline) {
  const auto start = std::chrono::steady_clock::now();
  {
    IdleFlistMounts idle(absl::Hours(1), [](const std::string&) { ADD_FAILURE() << "expired early"; });
    idle.Start();
    idle.Idle("a");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace flint::runtime
