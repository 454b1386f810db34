#include "cri/cni/plugin_exec.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "common/fs.h"

namespace flint::cni {
namespace {

class PluginExecTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-cni-exec-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  std::string Script(const std::string& name, const std::string& body) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(fs::WriteFileAtomic(path, "#!/bin/sh\n" + body, 0755).ok());
    return path;
  }
  std::string dir_;
};

TEST_F(PluginExecTest, PassesStdinAndEnvAndCapturesOutputs) {
  PluginInvocation inv;
  inv.binary = Script("echo", "echo \"cmd=$CNI_COMMAND\"; cat; echo oops >&2; exit 3\n");
  inv.env = {"CNI_COMMAND=ADD", "PATH=/usr/bin:/bin"};
  inv.stdin_data = std::string(200000, 'x');  // more than a pipe buffer
  absl::StatusOr<PluginOutput> out = ExecPlugin(inv);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_EQ(out->stdout_data, "cmd=ADD\n" + inv.stdin_data);
  EXPECT_EQ(out->stderr_data, "oops\n");
  EXPECT_FALSE(out->output_truncated);
}

TEST_F(PluginExecTest, OutputIsBounded) {
  PluginInvocation inv;
  inv.binary = Script("loud", "head -c 100000 /dev/zero\n");
  inv.env = {"PATH=/usr/bin:/bin"};
  inv.max_output_bytes = 1000;
  absl::StatusOr<PluginOutput> out = ExecPlugin(inv);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_code, 0);
  EXPECT_EQ(out->stdout_data.size(), 1000u);
  EXPECT_TRUE(out->output_truncated);
}

TEST_F(PluginExecTest, MissingBinaryIsNotFound) {
  PluginInvocation inv;
  inv.binary = dir_ + "/nope";
  EXPECT_EQ(ExecPlugin(inv).status().code(), absl::StatusCode::kNotFound);
}

// Gone, or only a zombie waiting for whoever reaps orphans.
bool ProcessGone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::string> stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
    if (!stat.ok()) return true;
    size_t paren = stat->rfind(')');
    if (paren != std::string::npos && stat->size() > paren + 2 && (*stat)[paren + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(PluginExecTest, TimeoutKillsThePluginAndItsChildrenWithoutZombies) {
  PluginInvocation inv;
  std::string pidfile = dir_ + "/sleeper.pid";
  // The sleeping grandchild keeps stdout open: the runner must not wait for EOF.
  inv.binary = Script("hang", "sleep 60 &\necho $! > " + pidfile + "\nwait\n");
  inv.env = {"PATH=/usr/bin:/bin"};
  inv.timeout = std::chrono::milliseconds(500);
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<PluginOutput> out = ExecPlugin(inv);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(out.status().message().find("hang"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_GE(took, std::chrono::milliseconds(450));
  int status;
  EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1) << "a child of the test process is left unreaped";
  absl::StatusOr<std::string> pid_text = fs::ReadFile(pidfile);
  ASSERT_TRUE(pid_text.ok());
  int sleeper = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &sleeper));
  EXPECT_TRUE(ProcessGone(sleeper)) << "grandchild " << sleeper << " survived the timeout";
}

TEST_F(PluginExecTest, PluginExitingWhileDescendantHoldsStdoutStillReturns) {
  PluginInvocation inv;
  std::string pidfile = dir_ + "/daemon.pid";
  inv.binary = Script("forker", "sleep 5 &\necho $! > " + pidfile + "\necho '{\"ok\":1}'\nexit 0\n");
  inv.env = {"PATH=/usr/bin:/bin"};
  inv.timeout = std::chrono::seconds(4);
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<PluginOutput> out = ExecPlugin(inv);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(out->stdout_data, "{\"ok\":1}\n");
  absl::StatusOr<std::string> pid_text = fs::ReadFile(pidfile);
  int daemon_pid = 0;
  if (pid_text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &daemon_pid) && daemon_pid > 0)
    kill(daemon_pid, SIGKILL);
}

}  // namespace
}  // namespace flint::cni
