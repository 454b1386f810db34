#include "cri/cni/conf_dir_watcher.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"

namespace flint::cni {
namespace {

using namespace std::chrono_literals;

bool WaitForChanges(const ConfDirWatcher& watcher, int at_least) {
  for (int i = 0; i < 300; ++i) {
    if (watcher.changes() >= at_least) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class ConfDirWatcherTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-cniwatch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

TEST_F(ConfDirWatcherTest, ReportsANewConfigOnceForABurstOfWrites) {
  std::atomic<int> calls{0};
  auto watcher = ConfDirWatcher::Start(root_, [&] { calls++; }, 200ms);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 0) << "no change yet";
  // What CNI DaemonSets do: write a temp file, then rename it into place.
  {
    std::ofstream(root_ + "/.10-net.conflist.tmp") << "{}";
  }
  std::filesystem::rename(root_ + "/.10-net.conflist.tmp", root_ + "/10-net.conflist");
  ASSERT_TRUE(WaitForChanges(**watcher, 1));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(calls.load(), 1) << "create + write + rename coalesce into one reload";
  std::filesystem::remove(root_ + "/10-net.conflist");
  EXPECT_TRUE(WaitForChanges(**watcher, 2)) << "removal is a change too";
}

TEST_F(ConfDirWatcherTest, ADirThatAppearsLaterIsWatchedFromThen) {
  std::string dir = root_ + "/net.d";
  auto watcher = ConfDirWatcher::Start(dir, [] {}, 50ms);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::filesystem::create_directory(dir);
  ASSERT_TRUE(WaitForChanges(**watcher, 1)) << "appearance of the dir counts as a change";
  int before = (*watcher)->changes();
  std::ofstream(dir + "/10-net.conf") << "{}";
  EXPECT_TRUE(WaitForChanges(**watcher, before + 1));
  // Removed and recreated: still watched.
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  before = (*watcher)->changes();
  std::this_thread::sleep_for(1500ms);
  std::ofstream(dir + "/20-net.conf") << "{}";
  EXPECT_TRUE(WaitForChanges(**watcher, before + 1));
}

TEST_F(ConfDirWatcherTest, StopsPromptlyWhenDestroyed) {
  auto watcher = ConfDirWatcher::Start(root_ + "/missing", [] {});
  ASSERT_TRUE(watcher.ok());
  auto start = std::chrono::steady_clock::now();
  watcher->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

}  // namespace
}  // namespace flint::cni
