// `flintctl smoke-test`: runs one short-lived pod through flintd over its socket and prints
// what the container wrote, to prove a node can run pods (the same calls a kubelet makes).
#pragma once

#include <string>

namespace flint::ctl {

struct SmokeTestOptions {
  std::string socket;
  std::string image;             // pulled if missing
  std::string runtime_handler;   // "" = default
  bool host_network = false;
  std::string command = "echo \"Hello from a Flint pod: $(hostname), uid $(id -u)\"; ip -4 addr show eth0 2>/dev/null | grep inet || true";
};

// Returns the process exit code; the pod is removed whatever happens.
int RunSmokeTest(const SmokeTestOptions& options);

}  // namespace flint::ctl
