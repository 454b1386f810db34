// Test-only StreamingRuntime that runs real host processes (pipes or a pty) and forwards ports to
// 127.0.0.1. Stands in for the container runtime in streaming-server tests and benchmarks.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cri/streaming/runtime.h"

namespace flint::streaming::testing {

class LocalProcessRuntime : public StreamingRuntime {
 public:
  absl::StatusOr<int> Exec(const std::string& container_id, const std::vector<std::string>& cmd,
                           const ExecStreams& streams) override;
  // Runs the command registered with SetAttachCommand for container_id.
  absl::Status Attach(const std::string& container_id, const ExecStreams& streams) override;
  absl::Status PortForward(const std::string& pod_sandbox_id, int32_t port, const PortForwardStream& stream) override;

  void SetAttachCommand(const std::string& container_id, std::vector<std::string> cmd);

  pid_t last_pid() const { return last_pid_.load(); }
  // Bytes handed to stdout/stderr OutputStream::Write that it accepted.
  uint64_t bytes_forwarded() const { return bytes_forwarded_.load(); }
  int exec_count() const { return exec_count_.load(); }

 private:
  absl::StatusOr<int> Run(const std::vector<std::string>& cmd, const ExecStreams& streams);

  std::atomic<pid_t> last_pid_{0};
  std::atomic<uint64_t> bytes_forwarded_{0};
  std::atomic<int> exec_count_{0};
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> attach_commands_;
};

}  // namespace flint::streaming::testing
