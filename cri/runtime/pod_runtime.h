// Pods and containers on this node: RunPodSandbox .. RemoveContainer, driven through
// flint-shim and the configured OCI runtime, with images from the image service and
// networking from the CNI runner. The gRPC handlers in cri/server are thin wrappers.
//
// Files:
//   pod_runtime.cc          construction, recovery, shared helpers
//   pod_runtime_sandbox.cc  sandbox lifecycle and status
//   pod_runtime_container.cc container lifecycle, status, exec, logs, resources
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api.pb.h"
#include "cri/cni/cni_manager.h"
#include "cri/config/config.h"
#include "cri/flist_image/flist_image_store.h"
#include "cri/image/image_service.h"
#include "cri/oci/host_features.h"
#include "cri/runtime/flist_mount_logs.h"
#include "cri/runtime/idle_flist_mounts.h"
#include "cri/runtime/record_store.h"
#include "cri/runtime/sealed_runtime_copies.h"
#include "flist-snapshotter/fuse/mount_spare.h"
#include "shim/client/shim_client.h"

namespace flint::runtime {

namespace v1 = ::runtime::v1;

struct PodRuntimeOptions {
  std::string shim_binary;   // flint-shim
  std::string pause_binary;  // flint-pause (static)
  std::string flist_mount_binary;  // flist-mount; empty: flist images cannot run
};

class PodRuntime {
 public:
  static absl::StatusOr<std::unique_ptr<PodRuntime>> Open(const Config& config, PodRuntimeOptions options,
                                                          image::ImageService* images, cni::CniManager* cni,
                                                          flist_image::FlistImageStore* flists = nullptr);

  // Sandboxes.
  absl::StatusOr<std::string> RunPodSandbox(const v1::PodSandboxConfig& config, const std::string& runtime_handler);
  absl::Status StopPodSandbox(const std::string& id);
  absl::Status RemovePodSandbox(const std::string& id);
  absl::StatusOr<v1::PodSandboxStatus> PodSandboxStatus(const std::string& id, std::map<std::string, std::string>* info);
  std::vector<v1::PodSandbox> ListPodSandbox(const v1::PodSandboxFilter* filter);

  // Containers.
  absl::StatusOr<std::string> CreateContainer(const std::string& sandbox_id, const v1::ContainerConfig& config,
                                              const v1::PodSandboxConfig& sandbox_config);
  absl::Status StartContainer(const std::string& id);
  absl::Status StopContainer(const std::string& id, int64_t timeout_seconds);
  absl::Status RemoveContainer(const std::string& id);
  absl::StatusOr<v1::ContainerStatus> ContainerStatus(const std::string& id, std::map<std::string, std::string>* info);
  std::vector<v1::Container> ListContainers(const v1::ContainerFilter* filter);
  absl::StatusOr<v1::ExecSyncResponse> ExecSync(const std::string& id, const std::vector<std::string>& cmd,
                                                int64_t timeout_seconds);
  absl::Status ReopenContainerLog(const std::string& id);
  absl::Status UpdateContainerResources(const std::string& id, const v1::LinuxContainerResources& resources);

  // Records for other services (stats, streaming).
  const RecordStore& records() const { return *store_; }

  // RemoveImage removed flist image `image_id`: its mount goes now unless a container uses it
  // (then it goes with the last one).
  void FlistImageRemoved(const std::string& image_id);
  struct FlistMountCounts {
    size_t in_use = 0;  // mounts containers use
    size_t idle = 0;    // kept for the image's next pod (flist.mount_idle_seconds)
  };
  // `containers`: the records of all containers (the caller's copy).
  FlistMountCounts CountFlistMounts(const std::vector<ContainerRecord>& containers);

 private:
  PodRuntime(const Config& config, PodRuntimeOptions options, image::ImageService* images, cni::CniManager* cni,
             flist_image::FlistImageStore* flists);

  // The image a container runs: its lower dirs and process defaults.
  struct ContainerImage {
    std::string id, name, ref;
    std::vector<std::string> lower_dirs;  // bottom first
    std::string config_json;              // OCI image config (empty for flists)
    std::string flist_mount;              // set for flists
    bool is_flist = false;
  };
  absl::StatusOr<ContainerImage> ResolveContainerImage(const v1::ContainerConfig& config);
  // One detached flist-mount process per flist image, shared by its containers. A new mount
  // starts fetching the first blocks of `warm_paths` (files inside the flist) as it comes up.
  // The mount is pinned for the caller until UnpinFlistMount: a container being created has no
  // record yet, so ReleaseFlistMount would not see it using the mount.
  absl::StatusOr<std::string> EnsureFlistMount(const flist_image::FlistImage& image,
                                               const std::vector<std::string>& warm_paths);
  void UnpinFlistMount(const std::string& mountpoint);
  // Once neither a container other than `exclude_container` uses it nor a create pinned it: the
  // mount idles for flist.mount_idle_seconds, or is unmounted at once when that is 0 or its image
  // is gone.
  void ReleaseFlistMount(const std::string& mountpoint, const std::string& exclude_container);
  bool FlistMountInUseLocked(const std::string& mountpoint, const std::string& exclude_container);
  void UnmountFlistLocked(const std::string& mountpoint);
  // Called when an idle mount's time is up, or more than flist.max_idle_mounts are idle.
  void UnmountIdleFlistMount(const IdleFlistMounts::Expired& expired);

  // One mutex per object id serializes lifecycle calls on it (kubelet may race Stop and Remove).
  std::shared_ptr<std::mutex> LockFor(const std::string& id);
  absl::StatusOr<const RuntimeHandler*> Handler(const std::string& name) const;
  // `<runtime> args...` run by flintd itself, from the handler's sealed copy when it has one.
  absl::StatusOr<std::string> RunRuntime(const RuntimeHandler& handler, const std::vector<std::string>& args,
                                         const std::string& stdin_data = "");
  std::string ShimSocketPath(const std::string& id) const;

  // Sandbox helpers.
  absl::Status TearDownSandbox(SandboxRecord& record);  // stop pause, CNI DEL, netns, shm; idempotent
  bool SandboxAlive(const SandboxRecord& record) const;
  void FillSandbox(const SandboxRecord& record, v1::PodSandbox* out) const;

  // Container helpers.
  // Asks the shim, else reads the status file it left.
  absl::StatusOr<shim::ShimStatus> ShimState(const std::string& id, const std::string& socket,
                                             const std::string& state_dir) const;
  // The record of a container that must be running for `to_do` (FailedPrecondition otherwise).
  absl::StatusOr<ContainerRecord> RunningContainer(const std::string& id_or_prefix, const char* to_do);
  absl::StatusOr<shim::ShimStatus> ShimState(const ContainerRecord& record) const {
    return ShimState(record.id(), record.shim_socket(), record.state_dir());
  }
  cni::PodNetworkRequest NetworkRequest(const SandboxRecord& record) const;
  // Deletes the OCI container through its shim, else directly with the runtime.
  void DeleteOciContainer(const std::string& id, const std::string& socket, const std::string& handler);
  absl::Status KillAndWait(const ContainerRecord& record, int signal, absl::Duration wait);
  absl::Status RemoveContainerLocked(const ContainerRecord& record);
  void FillContainer(const ContainerRecord& record, const shim::ShimStatus* state, v1::Container* out) const;

  // Re-adopts what survived a flintd restart and cleans what half-finished.
  void Recover();

  const Config& config_;
  PodRuntimeOptions options_;
  image::ImageService* images_;
  cni::CniManager* cni_;
  flist_image::FlistImageStore* flists_;
  std::mutex flist_mounts_mu_;
  std::map<std::string, int> flist_mount_pins_;  // mountpoint -> creates using it, guarded by flist_mounts_mu_
  SealedRuntimeCopies runtime_copies_;
  std::unique_ptr<flist::FlistMountSpare> flist_spare_;  // null: every flist mount starts flist-mount
  std::unique_ptr<FlistMountLogForwarder> flist_logs_;   // null without flist support
  oci::HostFeatures host_;
  std::unique_ptr<RecordStore> store_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
  std::mutex names_mu_;  // serializes name reservation in Run/Create
  std::mutex pause_mu_;  // guards preparing the shared pause rootfs
  // Last: its thread unmounts through the members above. Null when idle mounts are not kept.
  std::unique_ptr<IdleFlistMounts> idle_flist_mounts_;
};

// CRI label selectors: every key of the selector present with the same value.
bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& selector);

// Shim sockets live at <state_dir>/shims/<first 32 hex digits of the id>.sock; unix socket paths
// are limited to 107 bytes, so flintd refuses a state_dir too long to hold them (over 63 bytes).
std::string ShimSocketPathFor(const std::string& state_dir, const std::string& id);
absl::Status CheckStateDirFitsShimSockets(const std::string& state_dir);

// Random 64-hex-digit id, as containerd uses.
std::string NewId();
int64_t NowNs();

}  // namespace flint::runtime
