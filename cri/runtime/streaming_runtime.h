// StreamingRuntime for flintd's pods: Exec and Attach go through the container's flint-shim
// (exec_stream / attach ops, so exec'd processes stay supervised by the shim), PortForward
// connects from flintd inside the sandbox's network namespace.
#pragma once

#include <string>
#include <vector>

#include "cri/runtime/pod_runtime.h"
#include "cri/streaming/runtime.h"

namespace flint::runtime {

class PodStreamingRuntime : public streaming::StreamingRuntime {
 public:
  explicit PodStreamingRuntime(PodRuntime* pods) : pods_(pods) {}

  absl::StatusOr<int> Exec(const std::string& container_id, const std::vector<std::string>& cmd,
                           const streaming::ExecStreams& streams) override;
  absl::Status Attach(const std::string& container_id, const streaming::ExecStreams& streams) override;
  absl::Status PortForward(const std::string& pod_sandbox_id, int32_t port,
                           const streaming::PortForwardStream& stream) override;

 private:
  PodRuntime* pods_;
};

// Connects to 127.0.0.1:port (then [::1]:port) inside the network namespace at netns_path
// (empty: the host's). Returns the connected socket.
absl::StatusOr<int> ConnectInNetns(const std::string& netns_path, int32_t port);

}  // namespace flint::runtime
