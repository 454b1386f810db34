// Shared setup for e2e tests that run pods: flintd with the local registry, a CNI network on a
// private test bridge, and helpers that build the requests the kubelet sends.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test/e2e/flintd_harness.h"

namespace flint::e2e {

namespace v1 = runtime::v1;

struct PodNetworkSpec {
  std::string bridge;  // unique per test binary
  std::string subnet;  // e.g. 10.244.<n>.0/24
  std::string gateway;
  std::string plugin = "bridge";  // "bridge" (reference) or "flint-bridge"
  std::string ipam = "host-local";
};

class PodTestBase : public testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The conflist this test's flintd uses.
  static std::string ConfList(const PodNetworkSpec& net, const std::string& data_dir);
  virtual PodNetworkSpec Network() const;
  // More flint.yaml for this test's flintd.
  virtual std::string ExtraYaml() const { return ""; }

  v1::PodSandboxConfig SandboxConfig(const std::string& name, bool host_network = false) const;
  v1::ContainerConfig ContainerConfig(const std::string& name, const std::string& image_id,
                                      const std::vector<std::string>& command) const;

  // Pulls and returns the image id.
  std::string PullImage(const std::string& image);
  std::string RunSandbox(const v1::PodSandboxConfig& config, const std::string& handler = "");
  std::string CreateContainer(const std::string& sandbox_id, const v1::ContainerConfig& config,
                              const v1::PodSandboxConfig& sandbox_config);
  void StartContainer(const std::string& id);
  v1::ContainerStatus ContainerStatus(const std::string& id);
  v1::PodSandboxStatus SandboxStatus(const std::string& id);
  v1::ExecSyncResponse ExecSync(const std::string& id, const std::vector<std::string>& cmd, int64_t timeout = 10,
                                grpc::Status* status = nullptr);
  // StopPodSandbox then RemovePodSandbox, as the kubelet tears a pod down; the first error.
  grpc::Status StopAndRemovePod(const std::string& pod_id);
  // Stops and removes every pod flintd lists (each failure is a test failure).
  void RemoveAllPods();
  // State, reason, message and log of a container, for failure messages.
  std::string Describe(const std::string& id);
  // Waits (bounded) until the container reaches the state.
  bool WaitForState(const std::string& id, v1::ContainerState state, int seconds = 20);

  std::unique_ptr<Flintd> flintd_;
  std::string registry_;
  std::string log_dir_;
  std::string cni_dir_;
  std::string ipam_dir_;
  PodNetworkSpec net_;
};

}  // namespace flint::e2e
