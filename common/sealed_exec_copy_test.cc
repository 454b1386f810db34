#include "common/sealed_exec_copy.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace flint {
namespace {

// Runs `sh -c script` from `exec_path` (argv[0] stays "sh") and returns its stdout.
std::string RunShellFrom(const std::string& exec_path, const std::string& script) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    execl(exec_path.c_str(), "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "exit " + std::to_string(status);
  return text;
}

TEST(SealedExecCopyTest, RunsFromASealedMemfdThatCannotBeWritten) {
  std::string error;
  const int fd = MakeSealedExecCopy("/bin/sh", &error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_TRUE(IsSealedExecCopy(fd));
  EXPECT_EQ(fcntl(fd, F_GET_SEALS), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_LT(pwrite(fd, "x", 1, 0), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);

  // What crun and runc look at: the running program's /proc/self/exe is the sealed memfd.
  std::string exe = RunShellFrom(SealedExecPath(fd), "readlink /proc/$$/exe");
  EXPECT_EQ(exe.rfind("/memfd:flint-runtime", 0), 0u) << exe;
  close(fd);
}

TEST(SealedExecCopyTest, RefusesWhatIsNotAnElfExecutable) {
  char path[] = "/tmp/flint-sealed-XXXXXX";
  const int tmp = mkstemp(path);
  ASSERT_GE(tmp, 0);
  ASSERT_EQ(write(tmp, "#!/bin/sh\ntrue\n", 15), 15);
  close(tmp);
  std::string error;
  EXPECT_EQ(MakeSealedExecCopy(path, &error), -1);
  EXPECT_NE(error.find("not an ELF executable"), std::string::npos) << error;
  unlink(path);

  error.clear();
  EXPECT_EQ(MakeSealedExecCopy("/nonexistent/crun", &error), -1);
  EXPECT_NE(error.find("/nonexistent/crun"), std::string::npos) << error;
  EXPECT_EQ(MakeSealedExecCopy("/tmp", &error), -1);
}

TEST(SealedExecCopyTest, AnUnsealedMemfdIsNotTakenForACopy) {
  const int fd = static_cast<int>(memfd_create("other", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(IsSealedExecCopy(fd));
  ASSERT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_FALSE(IsSealedExecCopy(fd));  // crun would still copy itself
  close(fd);
  EXPECT_FALSE(IsSealedExecCopy(0x7fff));
}

}  // namespace
}  // namespace flint
