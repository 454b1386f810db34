// fork/exec and wait helpers for a single-threaded subreaper.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace flint::shim {

std::string ErrnoMessage(const std::string& what);
int64_t MonotonicNowMs();
bool SetNonBlocking(int fd);
void CloseFd(int* fd);

struct Pipe {
  int read = -1;
  int write = -1;
};
bool MakePipe(Pipe* pipe, std::string* error);  // both ends O_CLOEXEC

// Shell-style exit code: exited -> status, killed by signal N -> 128 + N.
int ExitCodeFromWaitStatus(int wait_status);

// Descriptors that become the child's 0/1/2; -1 means /dev/null.
struct ChildStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

// Starts argv[0] (searched in PATH when it has no '/') with the given stdio,
// every other descriptor closed, and default signal mask and dispositions.
// Reports exec failures synchronously. A non-empty `exec_path` is the file
// executed instead (the runtime's sealed copy); argv[0] stays as given.
pid_t SpawnChild(const std::vector<std::string>& argv, const ChildStdio& stdio, std::string* error,
                 const std::string& exec_path = "");

// Called for every reaped child; a subreaper must not lose exits of children
// it is not currently waiting for.
using ReapCallback = std::function<void(pid_t pid, int wait_status)>;

// Reaps all exited children without blocking.
void ReapExited(const ReapCallback& on_exit);

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout + stderr, capped
};

// Runs argv to completion (killing it after timeout_ms), capturing its output.
// Other children reaped meanwhile go to on_other_exit.
bool RunCommand(const std::vector<std::string>& argv, int timeout_ms, const ReapCallback& on_other_exit,
                CommandResult* result, std::string* error, const std::string& exec_path = "");

// "runc kill: exit status 1: <last line of output>"
std::string DescribeFailure(const std::string& what, const CommandResult& result);

}  // namespace flint::shim
