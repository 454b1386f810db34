#include "shim/shim_options.h"

#include <gtest/gtest.h>

namespace flint::shim {
namespace {

TEST(ShimOptionsTest, ParsesAllFlags) {
  const char* argv[] = {"flint-shim", "--id", "c1", "--bundle=/b", "--runtime", "/usr/bin/crun",
                        "--runtime-arg", "--root=/run/x", "--runtime-arg", "--debug", "--state-dir", "/s",
                        "--log-path", "/l.log", "--socket", "/s/sock", "--tty", "--stdin", "--create-timeout", "9",
                        "--runtime-fd", "3"};
  ShimOptions o;
  std::string error;
  ASSERT_TRUE(ParseShimOptions(std::size(argv), argv, &o, &error)) << error;
  EXPECT_EQ(o.id, "c1");
  EXPECT_EQ(o.bundle, "/b");
  EXPECT_EQ(o.runtime, "/usr/bin/crun");
  EXPECT_EQ(o.runtime_args, (std::vector<std::string>{"--root=/run/x", "--debug"}));
  EXPECT_EQ(o.state_dir, "/s");
  EXPECT_EQ(o.log_path, "/l.log");
  EXPECT_EQ(o.socket_path, "/s/sock");
  EXPECT_TRUE(o.tty);
  EXPECT_TRUE(o.stdin_open);
  EXPECT_EQ(o.create_timeout_s, 9);
  EXPECT_EQ(o.runtime_fd, 3);
  EXPECT_EQ(o.runtime_exec, "");  // main() decides, after checking the descriptor's seals
}

TEST(ShimOptionsTest, RejectsMissingAndUnknownFlags) {
  ShimOptions o;
  std::string error;
  const char* missing[] = {"flint-shim", "--id", "c1"};
  EXPECT_FALSE(ParseShimOptions(std::size(missing), missing, &o, &error));
  EXPECT_NE(error.find("--bundle"), std::string::npos) << error;
  const char* unknown[] = {"flint-shim", "--bogus"};
  EXPECT_FALSE(ParseShimOptions(std::size(unknown), unknown, &o, &error));
  EXPECT_NE(error.find("--bogus"), std::string::npos) << error;
  const char* bad_id[] = {"flint-shim", "--id", "../x", "--bundle", "b", "--runtime", "r", "--state-dir", "s",
                          "--log-path", "l", "--socket", "k"};
  EXPECT_FALSE(ParseShimOptions(std::size(bad_id), bad_id, &o, &error));
  for (const char* fd : {"2", "x", "", "5000"}) {
    const char* bad_fd[] = {"flint-shim", "--id", "c1", "--bundle", "b", "--runtime", "r", "--state-dir", "s",
                            "--log-path", "l", "--socket", "k", "--runtime-fd", fd};
    EXPECT_FALSE(ParseShimOptions(std::size(bad_fd), bad_fd, &o, &error)) << fd;
    EXPECT_NE(error.find("--runtime-fd"), std::string::npos) << error;
  }
}

TEST(ShimOptionsTest, LogsRedisIsOptionalAndValidated) {
  ShimOptions o;
  std::string error;
  const char* base[] = {"flint-shim", "--id", "c1", "--bundle", "b", "--runtime", "r", "--state-dir", "s",
                        "--log-path", "l", "--socket", "k"};
  ASSERT_TRUE(ParseShimOptions(std::size(base), base, &o, &error)) << error;
  EXPECT_EQ(o.logs_redis, "");
  std::vector<const char*> with(std::begin(base), std::end(base));
  with.push_back("--logs-redis");
  with.push_back("redis://127.0.0.1:6379/out,err");
  ASSERT_TRUE(ParseShimOptions(static_cast<int>(with.size()), with.data(), &o, &error)) << error;
  EXPECT_EQ(o.logs_redis, "redis://127.0.0.1:6379/out,err");
  with.back() = "redis://redis.example:6379/out";  // names are resolved by flintd, not the shim
  EXPECT_FALSE(ParseShimOptions(static_cast<int>(with.size()), with.data(), &o, &error));
  EXPECT_NE(error.find("IP address"), std::string::npos) << error;
}

}  // namespace
}  // namespace flint::shim
