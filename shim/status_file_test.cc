#include "shim/status_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace flint::shim {
namespace {

TEST(StatusFileTest, WritesAtomicallyAndReadsBack) {
  char dir_template[] = "/tmp/shim-status-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ShimStatus s;
  s.id = "abc";
  s.shim_pid = 10;
  s.pid = 42;
  s.state = ContainerState::kStopped;
  s.exit_code = 137;
  s.created_at_ns = 1;
  s.started_at_ns = 2;
  s.finished_at_ns = 3'000'000'000'000'000'000;
  s.oom_killed = true;
  s.message = "OOMKilled";
  std::string error;
  ASSERT_TRUE(WriteStatusFile(dir, s, &error)) << error;
  EXPECT_FALSE(std::filesystem::exists(dir + "/status.json.tmp"));
  ShimStatus r;
  ASSERT_TRUE(ReadStatusFile(dir, &r, &error)) << error;
  EXPECT_EQ(r.id, "abc");
  EXPECT_EQ(r.shim_pid, 10);
  EXPECT_EQ(r.pid, 42);
  EXPECT_EQ(r.state, ContainerState::kStopped);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_EQ(r.created_at_ns, 1);
  EXPECT_EQ(r.started_at_ns, 2);
  EXPECT_EQ(r.finished_at_ns, 3'000'000'000'000'000'000);
  EXPECT_TRUE(r.oom_killed);
  EXPECT_EQ(r.message, "OOMKilled");
  std::filesystem::remove_all(dir);
}

TEST(StatusFileTest, RejectsBadInput) {
  ShimStatus r;
  std::string error;
  EXPECT_FALSE(StatusFromJson("not json", &r, &error));
  EXPECT_FALSE(StatusFromJson(R"({"state":"flying"})", &r, &error));
  EXPECT_NE(error.find("flying"), std::string::npos);
  EXPECT_FALSE(StatusFromJson(R"({"state":"running","pid":"x"})", &r, &error));
  EXPECT_FALSE(ReadStatusFile("/nonexistent-dir", &r, &error));
}

}  // namespace
}  // namespace flint::shim
