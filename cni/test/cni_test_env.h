// Test harness for running CNI plugins against real network namespaces.
// Every name (netns, bridge, network, data dir) is unique per test and
// removed in teardown; test subnets only live on the test's own bridge.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace flint::cni::testing {

struct PluginOutcome {
  int exit_code = -1;
  std::string out;
  nlohmann::json json;  // parsed stdout (null when empty or not JSON)
};

// Runs `binary` with CNI_* env from `env` and `config` on stdin (30 s timeout).
PluginOutcome InvokePlugin(const std::string& binary, const std::map<std::string, std::string>& env,
                           const std::string& config);

// Runs a command, returns {exit code, combined output}. Tests only.
std::pair<int, std::string> Sh(const std::vector<std::string>& argv);
// Runs `argv` inside network namespace `netns_name` via `ip netns exec`.
std::pair<int, std::string> ShIn(const std::string& netns_name, std::vector<std::string> argv);
// Parses `ip -j ...` output (run in `netns_name`, or on the host when empty).
nlohmann::json IpJson(const std::string& netns_name, std::vector<std::string> args);
bool Ping(const std::string& netns_name, const std::string& ip);
std::string ReadFileOr(const std::string& path, const std::string& fallback);

std::string FlintBinDir();
std::string ReferenceBinDir();
bool HaveReferencePlugins();

class CniTestEnv : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Creates a fresh netns and returns its name (path is NetnsPath(name)).
  std::string NewPod();
  static std::string NetnsPath(const std::string& name) { return "/var/run/netns/" + name; }

  // A bridge-plugin config for this test's bridge/network/subnet; `extra` is merged on top.
  nlohmann::json BridgeConfig(const std::string& type, const std::string& ipam_type,
                              const nlohmann::json& extra = nlohmann::json::object()) const;

  PluginOutcome Cni(const std::string& binary, const std::string& command, const nlohmann::json& config,
                    const std::string& container_id, const std::string& netns_name,
                    const std::string& ifname = "eth0", const std::string& extra_cni_args = "");
  std::string Ours(const std::string& name) const { return FlintBinDir() + "/" + name; }
  std::string Reference(const std::string& name) const { return ReferenceBinDir() + "/" + name; }
  // IP reservation files currently in the data dir for this network.
  std::vector<std::string> ReservedIps() const;
  // Removes the netns, the bridge, masquerade chains and the data dir now.
  void CleanUp();

  std::string suffix_;
  std::string bridge_;
  std::string network_;
  std::string data_dir_;
  std::string subnet_prefix_;  // "10.A.B." ; subnet is <prefix>0/24
  std::string subnet6_prefix_;  // "fd00:A:B::" ; subnet is <prefix>/64
  std::vector<std::string> pods_;
  std::mutex ids_mu_;  // Cni() runs on several threads in the concurrency test
  std::vector<std::string> container_ids_;
};

}  // namespace flint::cni::testing
