// Running one CNI plugin binary: config on stdin, CNI_* in the environment, result on stdout.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::cni {

struct PluginInvocation {
  std::string binary;                // absolute path
  std::vector<std::string> env;      // "KEY=value"; the whole environment of the child
  std::string stdin_data;
  std::chrono::milliseconds timeout{60'000};
  size_t max_output_bytes = 4 << 20;  // per stream; beyond this output is dropped and flagged
};

struct PluginOutput {
  int exit_code = -1;        // -1 when killed by a signal
  int term_signal = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool output_truncated = false;
};

// Runs the plugin in its own process group. On timeout the whole group is SIGKILLed and reaped,
// and DeadlineExceeded is returned. Failure to start is Internal/NotFound.
absl::StatusOr<PluginOutput> ExecPlugin(const PluginInvocation& invocation);

// Seam for tests and for flintd: the manager runs plugins through this.
class PluginExecutor {
 public:
  virtual ~PluginExecutor() = default;
  virtual absl::StatusOr<PluginOutput> Exec(const PluginInvocation& invocation) = 0;
};

class ProcessPluginExecutor : public PluginExecutor {
 public:
  absl::StatusOr<PluginOutput> Exec(const PluginInvocation& invocation) override { return ExecPlugin(invocation); }
};

}  // namespace flint::cni
