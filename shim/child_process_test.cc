#include "shim/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace flint::shim {
namespace {

// The shim's own signal set-up: SIGPIPE and SIGHUP ignored, the rest blocked for its signalfd.
class ShimSignals {
 public:
  ShimSignals() {
    old_pipe_ = signal(SIGPIPE, SIG_IGN);
    old_hup_ = signal(SIGHUP, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, sig);
    sigprocmask(SIG_BLOCK, &mask, &old_mask_);
  }
  ~ShimSignals() {
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    signal(SIGPIPE, old_pipe_);
    signal(SIGHUP, old_hup_);
  }

 private:
  sighandler_t old_pipe_;
  sighandler_t old_hup_;
  sigset_t old_mask_;
};

std::string StatusLine(const std::string& output, const std::string& key) {
  size_t at = output.find(key + ":");
  if (at == std::string::npos) return "";
  size_t end = output.find('\n', at);
  std::string value = output.substr(at + key.size() + 1, end - at - key.size() - 1);
  value.erase(0, value.find_first_not_of(" \t"));
  return value;
}

TEST(SpawnChildTest, ChildGetsDefaultSignalsAndOnlyItsStdio) {
  ShimSignals shim_signals;
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  const int leaked = fcntl(open("/dev/null", O_RDONLY), F_DUPFD, 40);  // not O_CLOEXEC
  ASSERT_GE(leaked, 40);

  CommandResult result;
  std::string error;
  ASSERT_TRUE(RunCommand({"/bin/sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/$$/fd"}, 10'000,
                         [](pid_t, int) {}, &result, &error))
      << error;
  close(leaked);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(StatusLine(result.output, "SigBlk"), "0000000000000000") << result.output;
  EXPECT_EQ(StatusLine(result.output, "SigIgn"), "0000000000000000") << result.output;
  EXPECT_EQ(result.output.find("\n40\n"), std::string::npos) << "descriptor leaked into the child:\n" << result.output;

  sigset_t after;
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  for (int sig = 1; sig < SIGRTMIN; ++sig) EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << sig;
}

TEST(SpawnChildTest, ExecFailureIsReportedAndNothingIsLeftRunning) {
  std::string error;
  EXPECT_EQ(SpawnChild({"/nonexistent/runtime"}, ChildStdio{}, &error), -1);
  EXPECT_NE(error.find("exec /nonexistent/runtime: No such file or directory"), std::string::npos) << error;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // the failed child was reaped
}

TEST(SpawnChildTest, ExecPathRunsInsteadOfArgvZero) {
  CommandResult result;
  std::string error;
  ASSERT_TRUE(RunCommand({"not-a-program", "-c", "echo $0"}, 10'000, [](pid_t, int) {}, &result, &error, "/bin/sh"))
      << error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "not-a-program\n");
}

}  // namespace
}  // namespace flint::shim
