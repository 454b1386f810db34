#include "cri/runtime/pod_runtime.h"

#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/runtime/oci_runtime_cli.h"

namespace flint::runtime {

std::string NewId() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) abort();
  return absl::BytesToHexString(std::string(reinterpret_cast<char*>(bytes), sizeof bytes));
}

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& labels,
                 const google::protobuf::Map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PodRuntime::PodRuntime(const Config& config, PodRuntimeOptions options, image::ImageService* images,
                       cni::CniManager* cni, flist_image::FlistImageStore* flists)
    : config_(config), options_(std::move(options)), images_(images), cni_(cni), flists_(flists) {}

absl::StatusOr<std::unique_ptr<PodRuntime>> PodRuntime::Open(const Config& config, PodRuntimeOptions options,
                                                             image::ImageService* images, cni::CniManager* cni,
                                                             flist_image::FlistImageStore* flists) {
  if (absl::Status s = CheckStateDirFitsShimSockets(config.state_dir); !s.ok()) return s;
  std::unique_ptr<PodRuntime> runtime(new PodRuntime(config, std::move(options), images, cni, flists));
  absl::StatusOr<oci::HostFeatures> host = oci::DetectHostFeatures();
  if (!host.ok()) return host.status();
  runtime->host_ = *host;
  absl::StatusOr<std::unique_ptr<RecordStore>> store = RecordStore::Open(config.root_dir);
  if (!store.ok()) return store.status();
  runtime->store_ = std::move(*store);
  for (const char* dir : {"/shims", "/netns", "/sandboxes", "/containers"}) {
    if (absl::Status s = fs::MakeDirs(config.state_dir + dir, 0711); !s.ok()) return s;
  }
  if (flists != nullptr) {  // before Recover, which may end mounts (and forward their last lines)
    FlistMountLogForwarder::Options logs;
    logs.flists_dir = config.state_dir + "/flists";
    runtime->flist_logs_ = std::make_unique<FlistMountLogForwarder>(std::move(logs));
    runtime->flist_logs_->Start(std::chrono::seconds(1));
    if (config.flist.mount_idle_seconds > 0) {  // before Recover, which finds mounts idle
      PodRuntime* pods = runtime.get();
      runtime->idle_flist_mounts_ = std::make_unique<IdleFlistMounts>(
          absl::Seconds(config.flist.mount_idle_seconds), static_cast<size_t>(config.flist.max_idle_mounts),
          [pods](const IdleFlistMounts::Expired& expired) { pods->UnmountIdleFlistMount(expired); });
    }
  }
  runtime->Recover();
  if (runtime->idle_flist_mounts_ != nullptr) runtime->idle_flist_mounts_->Start();
  if (flists != nullptr && !runtime->options_.flist_mount_binary.empty() && config.flist.spare_mount) {
    flist::FlistMountSpareOptions spare;
    spare.binary = runtime->options_.flist_mount_binary;
    runtime->flist_spare_ = std::make_unique<flist::FlistMountSpare>(spare);
  }
  return runtime;
}

std::shared_ptr<std::mutex> PodRuntime::LockFor(const std::string& id) {
  std::lock_guard lock(locks_mu_);
  auto& slot = locks_[id];
  if (!slot) slot = std::make_shared<std::mutex>();
  return slot;
}

absl::StatusOr<std::string> PodRuntime::RunRuntime(const RuntimeHandler& handler, const std::vector<std::string>& args,
                                                   const std::string& stdin_data) {
  std::shared_ptr<const SealedRuntimeCopy> copy = runtime_copies_.For(handler);
  return RunOciRuntime(handler, args, stdin_data, absl::Seconds(30), copy ? copy->exec_path() : "");
}

absl::StatusOr<const RuntimeHandler*> PodRuntime::Handler(const std::string& name) const {
  const std::string& key = name.empty() ? config_.default_runtime : name;
  auto it = config_.runtimes.find(key);
  if (it == config_.runtimes.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown runtime handler \"", name, "\""));
  }
  return &it->second;
}

std::string PodRuntime::ShimSocketPath(const std::string& id) const {
  return ShimSocketPathFor(config_.state_dir, id);
}

absl::StatusOr<shim::ShimStatus> PodRuntime::ShimState(const std::string& id, const std::string& socket,
                                                       const std::string& state_dir) const {
  shim::ShimClient client(socket);
  client.set_call_timeout(absl::Seconds(10));
  absl::StatusOr<shim::ShimStatus> status = client.Status();
  if (status.ok()) return status;
  // The shim is gone (exited after the container, crashed, or never started): the file tells.
  absl::StatusOr<shim::ShimStatus> from_file = shim::ShimClient::ReadStatusFile(state_dir);
  if (from_file.ok()) {
    if (from_file->state == shim::ContainerState::kRunning) {
      // The file says running but nobody answers: the shim died with the container.
      if (from_file->pid <= 0 || kill(from_file->pid, 0) != 0) {
        from_file->state = shim::ContainerState::kStopped;
        if (from_file->finished_at_ns == 0) from_file->finished_at_ns = NowNs();
        if (from_file->exit_code == 0) from_file->exit_code = 255;
        from_file->message = "container's shim disappeared";
      }
    }
    return from_file;
  }
  return absl::UnavailableError(absl::StrCat(id, ": shim not answering (",
                                             status.status().message(), ") and no status file"));
}

namespace {

// The shim exits right after answering delete; callers that report "removed" wait for it so
// nothing of the object is left running. The shim is not our child: watch it with a pidfd.
void WaitForProcessExit(int pid, absl::Duration timeout) {
  if (pid <= 0) return;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return;  // already gone (ESRCH)
  pollfd pfd{pidfd, POLLIN, 0};
  int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  close(pidfd);
  if (rc == 0) FLINT_LOG(WARN) << "shim pid " << pid << " still alive " << timeout << " after delete";
}

}  // namespace

absl::Status CheckStateDirFitsShimSockets(const std::string& state_dir) {
  const size_t longest = ShimSocketPathFor(state_dir, std::string(64, 'f')).size();
  if (longest >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state_dir \"", state_dir, "\" is too long: shim sockets under it would be ", longest,
        " bytes, over the unix socket limit of ", sizeof(sockaddr_un::sun_path) - 1,
        "; use a state_dir of at most ", sizeof(sockaddr_un::sun_path) - 1 - (longest - state_dir.size()), " bytes"));
  }
  return absl::OkStatus();
}

std::string ShimSocketPathFor(const std::string& state_dir, const std::string& id) {
  // Half of a random 256-bit id is as unique and leaves room for deeper state dirs.
  return absl::StrCat(state_dir, "/shims/", id.substr(0, 32), ".sock");
}

void PodRuntime::DeleteOciContainer(const std::string& id, const std::string& socket, const std::string& handler) {
  shim::ShimClient client(socket);
  client.set_call_timeout(absl::Seconds(30));
  if (absl::StatusOr<shim::ShimStatus> deleted = client.Delete(); deleted.ok()) {
    WaitForProcessExit(deleted->shim_pid, absl::Seconds(5));
    return;
  }
  absl::StatusOr<const RuntimeHandler*> h = Handler(handler);
  if (!h.ok()) return;
  absl::StatusOr<std::string> out = RunRuntime(**h, {"delete", "--force", id});
  if (!out.ok() && out.status().message().find("does not exist") == std::string::npos &&
      out.status().message().find("not found") == std::string::npos) {
    FLINT_LOG(WARN) << "delete OCI container " << id << ": " << out.status().message();
  }
}

void PodRuntime::Recover() {
  for (ContainerRecord record : store_->Containers()) {
    if (record.removing()) {
      FLINT_LOG(INFO) << "finishing removal of container " << record.id();
      if (absl::Status s = RemoveContainerLocked(record); !s.ok())
        FLINT_LOG(WARN) << "recover: remove container " << record.id() << ": " << s.message();
      continue;
    }
    if (!store_->GetSandbox(record.sandbox_id())) {
      FLINT_LOG(WARN) << "container " << record.id() << " belongs to no known sandbox; removing it";
      (void)RemoveContainerLocked(record);
    }
  }
  // A flist mount no container uses was idle when flintd stopped, or is what a flintd that died
  // in CreateContainer (after mounting, before storing the record) leaves: it idles from now, or
  // goes at once if its image is gone (unmounting also ends its flist-mount).
  std::set<std::string> used;
  for (const ContainerRecord& record : store_->Containers()) used.insert(record.flist_mount());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir + "/flists", ec)) {
    const std::string mountpoint = entry.path().string() + "/mnt";
    struct stat st {};
    const bool present = lstat(mountpoint.c_str(), &st) == 0 || errno == ENOTCONN;  // ENOTCONN: its server died
    if (!used.contains(mountpoint) && present) {
      FLINT_LOG(INFO) << "recover: flist mount " << mountpoint << " has no container; releasing it";
      ReleaseFlistMount(mountpoint, "");
    }
  }
  for (SandboxRecord record : store_->Sandboxes()) {
    if (!record.stopped() && !SandboxAlive(record)) {
      FLINT_LOG(WARN) << "sandbox " << record.id() << " lost its infra process while flintd was down";
    }
  }
  FLINT_LOG(INFO) << "runtime state: " << store_->Sandboxes().size() << " sandboxes, "
                  << store_->Containers().size() << " containers";
}

}  // namespace flint::runtime
