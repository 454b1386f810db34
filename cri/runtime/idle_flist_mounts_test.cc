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
using End = IdleFlistMounts::End;

std::vector<std::string> Mountpoints(const std::vector<IdleFlistMounts::Expired>& expired) {
  std::vector<std::string> out;
  for (const auto& e : expired) out.push_back(e.mountpoint);
  return out;
}

class IdleFlistMountsTest : public testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  IdleFlistMounts idle_{absl::Seconds(600), 16, [](const IdleFlistMounts::Expired&) {}, [this] { return now_; }};
};

TEST_F(IdleFlistMountsTest, IdleMountExpiresAfterItsLinger) {
  idle_.Idle("/run/flint/flists/a/mnt");
  EXPECT_TRUE(idle_.IsIdle("/run/flint/flists/a/mnt"));
  EXPECT_THAT(idle_.TakeExpired(now_ + absl::Seconds(599)), IsEmpty());
  const std::vector<IdleFlistMounts::Expired> expired = idle_.TakeExpired(now_ + absl::Seconds(600));
  EXPECT_THAT(Mountpoints(expired), ElementsAre("/run/flint/flists/a/mnt"));
  EXPECT_EQ(expired[0].why, End::kTimeUp);
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
  EXPECT_THAT(Mountpoints(idle_.TakeExpired(now_ + absl::Seconds(100))), ElementsAre("a"));
  EXPECT_EQ(idle_.Count(), 1u);
  EXPECT_THAT(Mountpoints(idle_.TakeExpired(now_ + absl::Seconds(600))), ElementsAre("b"));
}

TEST(IdleFlistMountsLimitTest, MoreThanTheLimitExpiresTheMountIdleLongestAtOnce) {
  absl::Time now = absl::FromUnixSeconds(1000);
  IdleFlistMounts idle(absl::Seconds(600), 2, [](const IdleFlistMounts::Expired&) {}, [&] { return now; });
  idle.Idle("first");
  now += absl::Seconds(1);
  idle.Idle("second");
  now += absl::Seconds(1);
  EXPECT_THAT(idle.TakeExpired(now), IsEmpty()) << "two idle mounts are within the limit";
  idle.Idle("third");
  idle.Idle("fourth");
  EXPECT_EQ(idle.Count(), 4u) << "over-limit mounts are still mounted until expired";
  std::vector<IdleFlistMounts::Expired> expired = idle.TakeExpired(now);
  ASSERT_THAT(Mountpoints(expired), ElementsAre("first", "second"));
  EXPECT_EQ(expired[0].why, End::kOverLimit);
  EXPECT_EQ(expired[1].why, End::kOverLimit);
  EXPECT_TRUE(idle.IsIdle("third"));
  EXPECT_TRUE(idle.IsIdle("fourth"));
  EXPECT_EQ(idle.Count(), 2u);
  // The survivors keep their own deadlines.
  expired = idle.TakeExpired(now + absl::Seconds(600));
  EXPECT_THAT(Mountpoints(expired), ElementsAre("fourth", "third"));
  EXPECT_EQ(expired[0].why, End::kTimeUp);
}

TEST(IdleFlistMountsLimitTest, ReusingAnOverLimitMountFreesItsPlace) {
  absl::Time now = absl::FromUnixSeconds(1000);
  IdleFlistMounts idle(absl::Seconds(600), 1, [](const IdleFlistMounts::Expired&) {}, [&] { return now; });
  idle.Idle("a");
  now += absl::Seconds(1);
  idle.Idle("b");  // "a" is over the limit now ...
  EXPECT_TRUE(idle.Forget("a"));  // ... but a container took it before it was unmounted
  now += absl::Seconds(1);
  idle.Idle("c");  // "b" goes: only one may idle
  EXPECT_THAT(Mountpoints(idle.TakeExpired(now)), ElementsAre("b"));
  EXPECT_THAT(Mountpoints(idle.TakeExpired(now + absl::Hours(1))), ElementsAre("c"));
}

TEST(IdleFlistMountsLimitTest, LimitZeroKeepsNoMountIdle) {
  absl::Time now = absl::FromUnixSeconds(1000);
  IdleFlistMounts idle(absl::Seconds(600), 0, [](const IdleFlistMounts::Expired&) {}, [&] { return now; });
  EXPECT_TRUE(idle.Idle("a"));
  std::vector<IdleFlistMounts::Expired> expired = idle.TakeExpired(now);
  ASSERT_THAT(Mountpoints(expired), ElementsAre("a"));
  EXPECT_EQ(expired[0].why, End::kOverLimit);
}

TEST(IdleFlistMountsThreadTest, ThreadExpiresEachMountOnceAtItsTime) {
  std::mutex mu;
  std::vector<std::string> expired;
  std::atomic<int> calls = 0;
  {
    IdleFlistMounts idle(absl::Milliseconds(200), 16, [&](const IdleFlistMounts::Expired& e) {
      std::lock_guard lock(mu);
      expired.push_back(e.mountpoint);
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
    IdleFlistMounts idle(absl::Hours(1), 16, [](const IdleFlistMounts::Expired&) { ADD_FAILURE() << "expired early"; });
    idle.Start();
    idle.Idle("a");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(IdleFlistMountsThreadTest, OverLimitMountExpiresWithoutWaitingForItsLinger) {
  std::mutex mu;
  std::vector<std::string> expired;
  std::atomic<int> calls = 0;
  {
    IdleFlistMounts idle(absl::Hours(1), 1, [&](const IdleFlistMounts::Expired& e) {
      std::lock_guard lock(mu);
      expired.push_back(e.mountpoint);
      EXPECT_EQ(e.why, IdleFlistMounts::End::kOverLimit);
      ++calls;
    });
    idle.Start();
    idle.Idle("old");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the thread now waits an hour for "old"
    idle.Idle("new");
    for (int i = 0; i < 300 && calls < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(idle.IsIdle("new"));
  }
  EXPECT_THAT(expired, ElementsAre("old"));
}

}  // namespace
}  // namespace flint::runtime
