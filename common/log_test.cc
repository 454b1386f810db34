#include "common/log.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace flint::log
