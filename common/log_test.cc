#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/fs.h"

namespace flint::log {
namespace {

TEST(LogTest, ParsesLevelsAndFilters) {
  EXPECT_EQ(*ParseLevel("DEBUG"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("loud").ok());
  Level before = GetLevel();
  SetLevel(Level::kWarn);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  SetLevel(before);
}

TEST(LogTest, WritesOneLinePerEvent) {
  testing::internal::CaptureStderr();
  FLINT_LOG(ERROR) << "rpc=Version id=" << 42;
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(" error log_test.cc:"), std::string::npos) << out;
  EXPECT_NE(out.find("rpc=Version id=42\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1);
}

TEST(LogTest, CappedStderrFileIsEmptiedBeforeItWouldGrowPastTheCap) {
  char path[] = "/tmp/flint-log-cap-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  close(file);
  const int appender = open(path, O_WRONLY | O_APPEND);
  ASSERT_GE(appender, 0);
  const int saved = dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  dup2(appender, STDERR_FILENO);
  CapStderrFile(300);
  for (int i = 0; i < 5; ++i) FLINT_LOG(ERROR) << "line " << i << " " << std::string(60, 'x');
  CapStderrFile(0);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(appender);
  const std::string text = fs::ReadFile(path).value_or("");
  unlink(path);
  // Each line is ~110 bytes: the file was emptied before the third and the fifth.
  EXPECT_LE(text.size(), 300u) << text;
  EXPECT_EQ(text.find("line 1 "), std::string::npos) << text;
  EXPECT_NE(text.find("line 4 "), std::string::npos) << text;
  EXPECT_EQ(text.find(" error log_test.cc:"), 27u) << "the file starts with a whole line: " << text;
}

}  // namespace
}  // namespace flint::log
