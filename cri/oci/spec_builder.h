// CRI -> OCI runtime-spec translation for RunPodSandbox and CreateContainer.
//
// Flint has no pause image: the sandbox is an OCI container whose read-only
// rootfs holds only the static `flint-pause` binary (see pause_rootfs.h), and
// every container of the pod joins the sandbox's namespaces by path.
// The builders are pure apart from reading the image's /etc/passwd and
// /etc/group, seccomp Localhost files, device nodes (through DeviceLookup) and
// creating missing bind-mount sources (like containerd).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "api.pb.h"
#include "cri/oci/cgroups_path.h"
#include "cri/oci/devices.h"
#include "cri/oci/host_features.h"
#include "cri/oci/image_config.h"

namespace flint::oci {

// Path of the infra binary inside the sandbox rootfs.
inline constexpr char kPauseBinaryPath[] = "/flint-pause";
// containerd's oom_score_adj for the sandbox process (clamped to the host floor).
inline constexpr int64_t kSandboxOomScoreAdj = -998;

struct SandboxSpecOptions {
  std::string sandbox_id;
  std::string rootfs;      // directory with /flint-pause (PreparePauseRootfs)
  std::string netns_path;  // pinned netns for network POD; empty -> a fresh netns (tests)
  // Host directory (a tmpfs the caller mounted) shared as /dev/shm by all the
  // pod's containers; empty -> the sandbox gets a private 64 MiB tmpfs.
  std::string shm_path;
  CgroupDriver cgroup_driver = CgroupDriver::kCgroupfs;
  std::string cgroup_parent;  // overrides config.linux.cgroup_parent when set
  HostFeatures host;
};

absl::StatusOr<nlohmann::json> BuildSandboxSpec(const runtime::v1::PodSandboxConfig& config,
                                                const SandboxSpecOptions& options);

// Namespace files of a running sandbox that containers join. An empty path
// means "create a new namespace of that kind" (for a container without a
// sandbox, as in tests).
struct SandboxNamespacePaths {
  std::string network;
  std::string ipc;
  std::string uts;
  std::string pid;
};

// /proc/<pid>/ns/{net,ipc,uts,pid}.
SandboxNamespacePaths NamespacePathsOfPid(pid_t pid);

struct ContainerSpecOptions {
  std::string container_id;
  std::string sandbox_id;
  std::string rootfs;  // mounted overlay
  SandboxNamespacePaths sandbox_namespaces;
  std::string target_pid_namespace;  // pid mode TARGET: e.g. /proc/<target pid>/ns/pid

  // Per-sandbox files on the host; empty ones are not mounted.
  std::string resolv_conf_path;
  std::string hostname_path;
  std::string hosts_path;  // only used when kubelet sends no /etc/hosts mount
  std::string shm_path;    // sandbox /dev/shm; ignored for IPC NODE (host /dev/shm)

  CgroupDriver cgroup_driver = CgroupDriver::kCgroupfs;
  std::string cgroup_parent;  // overrides sandbox_config.linux.cgroup_parent when set
  HostFeatures host;

  const DeviceLookup* device_lookup = nullptr;  // nullptr -> stat(2)
  std::vector<DeviceNode> host_devices;         // privileged only: ScanHostDevices("/dev")
  bool create_missing_host_paths = true;        // containerd creates missing bind sources as dirs
  std::string apparmor_default_profile;         // loaded profile name for RuntimeDefault; empty -> none
};

absl::StatusOr<nlohmann::json> BuildContainerSpec(const runtime::v1::ContainerConfig& config,
                                                  const runtime::v1::PodSandboxConfig& sandbox_config,
                                                  const ImageConfig& image,
                                                  const ContainerSpecOptions& options);

// process.args from CRI command/args and image ENTRYPOINT/CMD (Kubernetes
// rules): command replaces ENTRYPOINT and drops CMD; args replace CMD.
absl::StatusOr<std::vector<std::string>> ContainerArgs(const runtime::v1::ContainerConfig& config,
                                                       const ImageConfig& image);

// HOSTNAME, then image env, then CRI envs; later entries replace earlier ones
// with the same name, keeping the first position.
std::vector<std::string> ContainerEnv(const runtime::v1::ContainerConfig& config, const ImageConfig& image,
                                      const std::string& hostname);

}  // namespace flint::oci
