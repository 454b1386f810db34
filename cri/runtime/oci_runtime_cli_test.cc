#include "cri/runtime/oci_runtime_cli.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace flint::runtime {
namespace {

RuntimeHandler Shell() { return RuntimeHandler{"/bin/sh", {"-c"}, false}; }

TEST(RunOciRuntime, FeedsStdinAndReturnsStdout) {
  absl::StatusOr<std::string> out = RunOciRuntime(Shell(), {"tr a-z A-Z; echo done"}, "hello\n");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "HELLO\ndone\n");
}

TEST(RunOciRuntime, NonZeroExitCarriesStderr) {
  absl::StatusOr<std::string> out = RunOciRuntime(Shell(), {"echo out; echo 'no such container' >&2; exit 3"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnknown);
  EXPECT_NE(out.status().message().find("exit 3: no such container"), std::string::npos) << out.status();
}

TEST(RunOciRuntime, MissingBinaryIsFailedPrecondition) {
  absl::StatusOr<std::string> out = RunOciRuntime(RuntimeHandler{"/nonexistent/crun", {}, false}, {"state", "x"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition) << out.status();
  EXPECT_NE(out.status().message().find("/nonexistent/crun"), std::string::npos);
}

TEST(RunOciRuntime, TimesOutAndKills) {
  absl::StatusOr<std::string> out = RunOciRuntime(Shell(), {"exec sleep 30"}, "", absl::Milliseconds(200));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// The child starts with no signals blocked, whatever the calling thread blocks.
TEST(RunOciRuntime, ChildSignalMaskIsEmpty) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  absl::StatusOr<std::string> out = RunOciRuntime(Shell(), {"grep SigBlk /proc/self/status"});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "SigBlk:\t0000000000000000\n");
}

}  // namespace
}  // namespace flint::runtime
