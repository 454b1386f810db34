// The keeper's restart loop with real processes; a pipe stands in for the
// /dev/fuse connection (its read end polls as hung up once the write end is
// closed, as /dev/fuse polls as an error once the mount is gone).
#include "flist-snapshotter/fuse/mount_keeper.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace flint::flist {
namespace {

using namespace std::chrono_literals;

int PidfdOf(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// A child that exits with `code` after `millis`.
pid_t Child(int code, int millis = 0) {
  const pid_t pid = fork();
  if (pid == 0) {
    usleep(static_cast<useconds_t>(millis) * 1000);
    _exit(code);
  }
  return pid;
}

class MountKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(pipe(connection_), 0); }
  void TearDown() override {
    close(connection_[0]);
    if (connection_[1] >= 0) close(connection_[1]);
  }
  void EndConnection() {
    close(connection_[1]);
    connection_[1] = -1;
  }
  int connection_[2] = {-1, -1};
  std::vector<std::string> gave_up_;
};

TEST(RestartBudgetTest, AllowsMaxRestartsPerWindow) {
  RestartBudget budget(2, 60s);
  const auto t0 = RestartBudget::Clock::now();
  EXPECT_TRUE(budget.Spend(t0));
  EXPECT_TRUE(budget.Spend(t0 + 1s));
  EXPECT_FALSE(budget.Spend(t0 + 2s));
  EXPECT_TRUE(budget.Spend(t0 + 60500ms));  // the first one left the window, the second not yet
  EXPECT_FALSE(budget.Spend(t0 + 60500ms));
  EXPECT_TRUE(budget.Spend(t0 + 61s));
}

TEST_F(MountKeeperTest, EndedConnectionEndsTheKeeperWithoutARestart) {
  EndConnection();
  int starts = 0;
  MountKeeperHooks hooks{[&] { return ++starts, Child(0); }, [&](const char* why) { gave_up_.push_back(why); }};
  EXPECT_EQ(RunMountKeeper(connection_[0], PidfdOf(Child(0, 50)), hooks, RestartBudget(5, 60s)), 0);
  EXPECT_EQ(starts, 0);
  EXPECT_TRUE(gave_up_.empty());
}

TEST_F(MountKeeperTest, DeadServerIsReplacedUntilTheConnectionEnds) {
  int starts = 0;
  MountKeeperHooks hooks;
  hooks.start_server = [&] {
    if (++starts == 3) EndConnection();  // the third server "is unmounted" and exits cleanly
    return Child(starts == 3 ? 0 : 9, 20);
  };
  hooks.give_up = [&](const char* why) { gave_up_.push_back(why); };
  EXPECT_EQ(RunMountKeeper(connection_[0], PidfdOf(Child(9, 20)), hooks, RestartBudget(5, 60s)), 0);
  EXPECT_EQ(starts, 3);
  EXPECT_TRUE(gave_up_.empty());
}

TEST_F(MountKeeperTest, GivesUpWhenTheServerKeepsDying) {
  int starts = 0;
  MountKeeperHooks hooks{[&] { return ++starts, Child(9); }, [&](const char* why) { gave_up_.push_back(why); }};
  EXPECT_EQ(RunMountKeeper(connection_[0], PidfdOf(Child(9)), hooks, RestartBudget(3, 60s)), 1);
  EXPECT_EQ(starts, 3);
  ASSERT_EQ(gave_up_.size(), 1u);
  EXPECT_NE(gave_up_[0].find("too often"), std::string::npos) << gave_up_[0];
}

TEST_F(MountKeeperTest, ConnectionAliveFollowsThePeer) {
  EXPECT_TRUE(FuseConnectionAlive(connection_[0]));
  EndConnection();
  EXPECT_FALSE(FuseConnectionAlive(connection_[0]));
}

}  // namespace
}  // namespace flint::flist
