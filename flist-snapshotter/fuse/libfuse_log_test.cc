#include "flist-snapshotter/fuse/libfuse_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

namespace flint::flist {
namespace {

// Runs `emit` with stderr pointed at a temporary file; returns what was written.
template <typename Emit>
std::string CaptureStderr(Emit emit) {
  char path[] = "/tmp/flint-libfuse-log-XXXXXX";
  const int file = mkstemp(path);
  EXPECT_GE(file, 0);
  const int saved = dup(STDERR_FILENO);
  dup2(file, STDERR_FILENO);
  emit();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string text;
  char buf[4096];
  lseek(file, 0, SEEK_SET);
  for (ssize_t n; (n = read(file, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(file);
  unlink(path);
  return text;
}

TEST(LibfuseLogTest, MessagesCarryLibfusesLevelOnOneLineEach) {
  RouteLibfuseLogToFlintLog();
  RouteLibfuseLogToFlintLog();  // idempotent
  const log::Level before = log::GetLevel();
  log::SetLevel(log::Level::kInfo);
  const std::string out = CaptureStderr([] {
    fuse_log(FUSE_LOG_ERR, "fuse: failed to clone device fd: %s\n", "Inappropriate ioctl for device");
    fuse_log(FUSE_LOG_WARNING, "fuse: warning: %s\n", "library too old");
    fuse_log(FUSE_LOG_DEBUG, "unique: %d, opcode: LOOKUP\n", 7);
  });
  log::SetLevel(before);
  EXPECT_NE(out.find(" error libfuse:0 fuse: failed to clone device fd: Inappropriate ioctl for device\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" warn libfuse:0 fuse: warning: library too old\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("opcode"), std::string::npos) << "debug lines below the log level: " << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

TEST(LibfuseLogTest, FallingBackToTheSharedDescriptorSaysWhatATakeoverLoses) {
  const std::string text = ExplainLibfuseMessage("fuse: trying to continue without -o clone_fd.\n");
  EXPECT_EQ(text.rfind("fuse: trying to continue without -o clone_fd. (", 0), 0u) << text;
  EXPECT_NE(text.find("waits until the mount ends"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(ExplainLibfuseMessage("fuse: unknown option(s): `-o foo'\n"), "fuse: unknown option(s): `-o foo'");
}

TEST(LibfuseLogTest, LevelsMapFromSyslogsEightToOurFour) {
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_EMERG), log::Level::kError);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_CRIT), log::Level::kError);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_ERR), log::Level::kError);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_WARNING), log::Level::kWarn);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_NOTICE), log::Level::kInfo);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_INFO), log::Level::kInfo);
  EXPECT_EQ(LibfuseLogLevel(FUSE_LOG_DEBUG), log::Level::kDebug);
}

}  // namespace
}  // namespace flint::flist
