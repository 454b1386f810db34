#include "cri/runtime/flist_mount_logs.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

#include "common/fs.h"

namespace flint::runtime {
namespace {

class FlistMountLogsTest : public testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/flist-mount-logs-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    flists_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(flists_); }

  std::string MountDir(const std::string& hex) {
    const std::string dir = flists_ + "/" + hex;
    std::filesystem::create_directories(dir);
    return dir;
  }
  static void Append(const std::string& mount_dir, const std::string& text) {
    const int fd = open(FlistMountLogPath(mount_dir).c_str(), O_WRONLY | O_APPEND | O_CREAT, 0640);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  FlistMountLogForwarder::Options Options() {
    FlistMountLogForwarder::Options options;
    options.flists_dir = flists_;
    options.sink = [this](const ForwardedLine& line) { lines_.push_back(line); };
    return options;
  }

  std::string flists_;
  std::vector<ForwardedLine> lines_;
};

constexpr char kHex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_F(FlistMountLogsTest, ForwardsNewWholeLinesAtTheirLevelNamingTheMount) {
  const std::string dir = MountDir(kHex);
  FlistMountLogForwarder forwarder(Options());
  EXPECT_EQ(forwarder.Poll(), 0u);
  Append(dir,
         "2026-12-03T22:00:00.000001Z error flist_fs.cc:313 flist read /a block 3: block 00ff: fetch from "
         "zdb://127.0.0.1:6379: connection refused\n"
         "2026-12-03T22:00:00.000002Z info flist_mount.cc:56 flist mounted at /m\n"
         "flist-mount: something without a stamp\n"
         "2026-12-03T22:00:01.000000Z warn half a li");
  EXPECT_EQ(forwarder.Poll(), 3u);
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0].level, log::Level::kError);
  EXPECT_EQ(lines_[0].text,
            "flist-mount[0123456789ab]: flist_fs.cc:313 flist read /a block 3: block 00ff: fetch from "
            "zdb://127.0.0.1:6379: connection refused");
  EXPECT_EQ(lines_[1].level, log::Level::kInfo);
  EXPECT_EQ(lines_[2].level, log::Level::kInfo);
  EXPECT_EQ(lines_[2].text, "flist-mount[0123456789ab]: flist-mount: something without a stamp");

  // The half line is forwarded once it is whole, and nothing twice.
  Append(dir, "ne\n");
  EXPECT_EQ(forwarder.Poll(), 1u);
  ASSERT_EQ(lines_.size(), 4u);
  EXPECT_EQ(lines_[3].level, log::Level::kWarn);
  EXPECT_EQ(lines_[3].text, "flist-mount[0123456789ab]: half a line");
  EXPECT_EQ(forwarder.Poll(), 0u);
}

TEST_F(FlistMountLogsTest, LinesWrittenWhileFlintdWasDownAreForwardedOnceWithTheirTime) {
  const std::string dir = MountDir("aa");
  {
    FlistMountLogForwarder first(Options());
    Append(dir, "2026-12-03T22:00:00.000000Z error x.cc:1 seen by the first flintd\n");
    EXPECT_EQ(first.Poll(), 1u);
  }
  Append(dir, "2026-12-03T22:00:05.000000Z error x.cc:1 while flintd was down\n");
  lines_.clear();
  FlistMountLogForwarder second(Options());
  const std::string new_dir = MountDir("bb");
  Append(new_dir, "2026-12-03T22:00:09.000000Z error x.cc:1 a new mount\n");
  Append(dir, "2026-12-03T22:00:09.000000Z error x.cc:1 after\n");
  EXPECT_EQ(second.Poll(), 3u);
  std::set<std::string> texts;
  for (const ForwardedLine& line : lines_) texts.insert(line.text);
  EXPECT_EQ(texts, (std::set<std::string>{
                       "flist-mount[aa]: [2026-12-03T22:00:05.000000Z, before flintd started] x.cc:1 while flintd was down",
                       "flist-mount[aa]: x.cc:1 after",
                       "flist-mount[bb]: x.cc:1 a new mount",
                   }));
  EXPECT_EQ(second.Poll(), 0u);
}

TEST_F(FlistMountLogsTest, ALogNoFlintdForwardedIsForwardedWholeAtStart) {
  const std::string dir = MountDir(kHex);
  Append(dir, "2026-12-03T22:00:00.000000Z warn x.cc:1 one\nno stamp\n");
  FlistMountLogForwarder forwarder(Options());
  EXPECT_EQ(forwarder.Poll(), 2u);
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].level, log::Level::kWarn);
  EXPECT_EQ(lines_[0].text, "flist-mount[0123456789ab]: [2026-12-03T22:00:00.000000Z, before flintd started] x.cc:1 one");
  EXPECT_EQ(lines_[1].text, "flist-mount[0123456789ab]: [before flintd started] no stamp");
}

TEST_F(FlistMountLogsTest, AFileEmptiedAtItsCapWhileFlintdWasDownIsReadFromItsStart) {
  const std::string dir = MountDir(kHex);
  {
    FlistMountLogForwarder first(Options());
    Append(dir, "2026-12-03T22:00:00.000000Z info x.cc:1 " + std::string(200, 'a') + "\n");
    EXPECT_EQ(first.Poll(), 1u);
  }
  ASSERT_EQ(truncate(FlistMountLogPath(dir).c_str(), 0), 0);
  Append(dir, "2026-12-03T22:00:07.000000Z error x.cc:1 after the cap\n");
  lines_.clear();
  FlistMountLogForwarder second(Options());
  EXPECT_EQ(second.Poll(), 1u);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].text, "flist-mount[0123456789ab]: [2026-12-03T22:00:07.000000Z, before flintd started] x.cc:1 after the cap");
}

TEST_F(FlistMountLogsTest, AFileEmptiedAtItsCapIsReadFromItsStart) {
  const std::string dir = MountDir(kHex);
  FlistMountLogForwarder forwarder(Options());
  Append(dir, "2026-12-03T22:00:00.000000Z info x.cc:1 " + std::string(200, 'a') + "\n");
  EXPECT_EQ(forwarder.Poll(), 1u);
  ASSERT_EQ(truncate(FlistMountLogPath(dir).c_str(), 0), 0);
  Append(dir, "2026-12-03T22:00:00.000000Z error x.cc:1 after the cap\n");
  EXPECT_EQ(forwarder.Poll(), 1u);
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[1].text, "flist-mount[0123456789ab]: x.cc:1 after the cap");
}

TEST_F(FlistMountLogsTest, ABurstIsForwardedUpToTheLimitWithANoteForTheRest) {
  const std::string dir = MountDir(kHex);
  FlistMountLogForwarder::Options options = Options();
  options.max_lines_per_file = 5;
  FlistMountLogForwarder forwarder(options);
  std::string burst;
  for (int i = 0; i < 12; ++i) burst += "2026-12-03T22:00:00.000000Z error x.cc:1 read failed " + std::to_string(i) + "\n";
  Append(dir, burst);
  EXPECT_EQ(forwarder.Poll(), 5u);
  ASSERT_EQ(lines_.size(), 6u);
  EXPECT_EQ(lines_[4].text, "flist-mount[0123456789ab]: x.cc:1 read failed 4");
  EXPECT_EQ(lines_[5].level, log::Level::kWarn);
  EXPECT_NE(lines_[5].text.find("7 more lines not forwarded; see " + FlistMountLogPath(dir)), std::string::npos)
      << lines_[5].text;
  EXPECT_EQ(forwarder.Poll(), 0u) << "the skipped lines are not forwarded later";
}

TEST_F(FlistMountLogsTest, FinishForwardsTheRestAndDeletesTheFile) {
  const std::string dir = MountDir(kHex);
  FlistMountLogForwarder forwarder(Options());
  Append(dir, "2026-12-03T22:00:00.000000Z error flist_mount_main.cc:1 flist-mount: mounted\n");
  EXPECT_EQ(forwarder.Poll(), 1u);
  Append(dir, "2026-12-03T22:00:01.000000Z error flist_mount_main.cc:1 flist-mount keeper: giving up /m\n");
  forwarder.Finish(dir);
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(lines_[1].text.find("giving up /m"), std::string::npos);
  EXPECT_NE(access(FlistMountLogPath(dir).c_str(), F_OK), 0);
  EXPECT_EQ(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator())
      << "the log or its forwarded count stayed behind";
  EXPECT_EQ(forwarder.Poll(), 0u);
}

TEST_F(FlistMountLogsTest, TheThreadForwardsWithoutBeingAsked) {
  const std::string dir = MountDir(kHex);
  FlistMountLogForwarder::Options options = Options();
  std::mutex mu;
  std::vector<std::string> seen;
  options.sink = [&](const ForwardedLine& line) {
    std::lock_guard lock(mu);
    seen.push_back(line.text);
  };
  FlistMountLogForwarder forwarder(options);
  forwarder.Start(std::chrono::milliseconds(20));
  Append(dir, "2026-12-03T22:00:00.000000Z error x.cc:1 from the thread\n");
  for (int i = 0; i < 250; ++i) {
    {
      std::lock_guard lock(mu);
      if (!seen.empty()) break;
    }
    usleep(20'000);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "flist-mount[0123456789ab]: x.cc:1 from the thread");
}

}  // namespace
}  // namespace flint::runtime
