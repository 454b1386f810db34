// Which image a container runs, and the shared read-only mounts of flist images.
#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/flist_image/startup_toml.h"
#include "cri/oci/user_resolver.h"
#include "cri/runtime/entrypoint_warmup.h"
#include "cri/runtime/oci_runtime_cli.h"
#include "cri/runtime/overlay_mount.h"
#include "cri/runtime/pod_runtime.h"

namespace flint::runtime {
namespace {

constexpr size_t kMaxStartupTomlBytes = 1 << 20;

// True when path is a FUSE mount served by a live flist-mount process.
bool IsFuseMounted(const std::string& path) {
  absl::StatusOr<std::string> mountinfo = fs::ReadFile("/proc/self/mountinfo");
  if (!mountinfo.ok()) return false;
  std::string needle = " " + path + " ";
  size_t at = mountinfo->find(needle);
  while (at != std::string::npos) {
    size_t line_end = mountinfo->find('\n', at);
    std::string rest = mountinfo->substr(at, line_end - at);
    if (rest.find(" - fuse") != std::string::npos) return true;
    at = mountinfo->find(needle, at + 1);
  }
  return false;
}

// False once the FUSE connection is gone (ENOTCONN). statfs is never answered from the kernel's
// caches; a server being taken over answers once its successor runs.
bool FuseMountAnswers(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0;
}

// The flist image id (hex) a mountpoint <state>/flists/<hex>/mnt belongs to.
std::string FlistHexOfMountpoint(const std::string& mountpoint) {
  return std::filesystem::path(mountpoint).parent_path().filename().string();
}

// Where flist image `image_id` (sha256:<hex>) is mounted: <state>/flists/<hex>/mnt.
std::string FlistMountpointOf(const Config& config, const std::string& image_id) {
  return absl::StrCat(config.state_dir, "/flists/", image_id.substr(image_id.find(':') + 1), "/mnt");
}

// The OCI image config equivalent of a flist's /.startup.toml.
std::string StartupToImageConfig(const flist_image::StartupConfig& startup) {
  nlohmann::json config = nlohmann::json::object();
  if (!startup.program.empty()) config["Entrypoint"] = std::vector<std::string>{startup.program};
  if (!startup.args.empty()) config["Cmd"] = startup.args;
  std::vector<std::string> env;
  for (const auto& [k, v] : startup.env) env.push_back(k + "=" + v);
  if (!env.empty()) config["Env"] = env;
  if (!startup.dir.empty()) config["WorkingDir"] = startup.dir;
  return nlohmann::json{{"config", config}}.dump();
}

}  // namespace

absl::StatusOr<PodRuntime::ContainerImage> PodRuntime::ResolveContainerImage(const v1::ContainerConfig& config) {
  const std::string& ref = config.image().image();
  ContainerImage out;
  if (flists_ != nullptr) {
    if (std::optional<flist_image::FlistImage> flist = flists_->Find(ref)) {
      absl::StatusOr<std::string> mountpoint =
          EnsureFlistMount(*flist, FlistStartupPaths(config.command_size() > 0 ? config.command(0) : ""));
      if (!mountpoint.ok()) return mountpoint.status();
      bool resolved = false;
      absl::Cleanup unpin = [&] {
        if (resolved) return;
        UnpinFlistMount(*mountpoint);
        ReleaseFlistMount(*mountpoint, "");
      };
      out.is_flist = true;
      out.id = flist->id;
      out.ref = flist->id;
      out.name = flist->names.empty() ? flist->id : flist->names.front();
      out.lower_dirs = {*mountpoint};
      out.flist_mount = *mountpoint;
      // The hub's converter leaves the entrypoint in /.startup.toml; reading it fetches only its blocks.
      // Resolved inside the flist, and only a regular file of reasonable size: flintd reads it on
      // the host, where a link to /dev/zero or a FIFO would hang it.
      absl::StatusOr<std::string> startup = oci::ReadFileInRoot(*mountpoint, ".startup.toml", kMaxStartupTomlBytes);
      if (startup.ok()) {
        absl::StatusOr<flist_image::StartupConfig> parsed = flist_image::ParseStartupToml(*startup);
        if (!parsed.ok()) return absl::Status(parsed.status().code(), absl::StrCat("flist ", out.name, ": ", parsed.status().message()));
        out.config_json = StartupToImageConfig(*parsed);
      } else if (absl::IsNotFound(startup.status())) {
        out.config_json = "{}";
      } else {  // e.g. EIO: its blocks could not be fetched; running without it would run the wrong command
        return absl::Status(startup.status().code(),
                            absl::StrCat("flist ", out.name, ": read /.startup.toml: ", startup.status().message()));
      }
      resolved = true;
      return out;
    }
    if (flist_image::IsFlistReference(ref)) {
      return absl::NotFoundError(absl::StrCat("flist image \"", ref, "\" not found; pull it first"));
    }
  }
  absl::StatusOr<std::optional<image::Image>> found = images_->Status(ref);
  if (!found.ok()) return absl::Status(found.status().code(), absl::StrCat("resolve image ", ref, ": ", found.status().message()));
  if (!found->has_value()) return absl::NotFoundError(absl::StrCat("image \"", ref, "\" not found; pull it first"));
  const image::Image& image = **found;
  out.id = image.id;
  out.ref = image.repo_digests.empty() ? image.id : image.repo_digests.front();
  out.name = image.repo_tags.empty() ? image.id : image.repo_tags.front();
  out.config_json = image.config_json;
  absl::StatusOr<std::vector<std::string>> layers = images_->LayerDirs(image.id);
  if (!layers.ok()) return absl::Status(layers.status().code(), absl::StrCat("image layers: ", layers.status().message()));
  out.lower_dirs = *layers;
  return out;
}

absl::StatusOr<std::string> PodRuntime::EnsureFlistMount(const flist_image::FlistImage& image,
                                                         const std::vector<std::string>& warm_paths) {
  if (options_.flist_mount_binary.empty()) {
    return absl::FailedPreconditionError("flist images need the flist-mount binary beside flintd");
  }
  const std::string mountpoint = FlistMountpointOf(config_, image.id);
  const std::string mount_dir = std::filesystem::path(mountpoint).parent_path().string();
  std::lock_guard lock(flist_mounts_mu_);
  if (IsFuseMounted(mountpoint)) {
    if (FuseMountAnswers(mountpoint)) {
      if (idle_flist_mounts_ != nullptr && idle_flist_mounts_->Forget(mountpoint)) {
        FLINT_LOG(INFO) << "flist " << image.id << ": reusing its idle mount";
      }
      ++flist_mount_pins_[mountpoint];
      return mountpoint;
    }
    // Its server and keeper are gone (the keeper gave up, or both were killed): mount anew.
    FLINT_LOG(WARN) << "flist " << image.id << ": mount " << mountpoint << " no longer serves; mounting it again";
    if (idle_flist_mounts_ != nullptr) idle_flist_mounts_->Forget(mountpoint);
  }
  (void)Unmount(mountpoint);  // a dead FUSE server leaves ENOTCONN behind
  if (absl::Status s = fs::MakeDirs(mountpoint, 0755); !s.ok()) return s;
  std::string cache = FlistCacheDir(config_);
  if (absl::Status s = fs::MakeDirs(cache, 0700); !s.ok()) return s;
  // flist-mount detaches once the mount serves, so it outlives flintd restarts like the shims do.
  std::vector<std::string> args = {image.path, mountpoint, "--cache", cache,
                                   "--cache-size", std::to_string(config_.flist.cache_max_bytes >> 20),
                                   // flintd's /metrics reads the cache counters from here
                                   "--stats-file", mount_dir + "/stats.json",
                                   // forwarded into flintd's log (flist_mount_logs.h)
                                   "--log-file", FlistMountLogPath(mount_dir),
                                   "--prefetch", std::to_string(config_.flist.prefetch_blocks),
                                   "--open-prefetch", std::to_string(config_.flist.open_prefetch_blocks)};
  for (const std::string& path : warm_paths) {
    args.push_back("--warm");
    args.push_back(path);
  }
  for (const std::string& store : config_.flist.allowed_stores) {  // also for images pulled before the policy
    args.push_back("--allowed-store");
    args.push_back(store);
  }
  if (std::string store = flist_image::DefaultStoreFor(image, config_.flist.hub_stores, config_.flist.default_store);
      !store.empty()) {
    args.push_back("--default-store");
    args.push_back(store);
  }
  constexpr absl::Duration kMountTimeout = absl::Seconds(60);
  std::optional<absl::Status> mounted;
  if (flist_spare_ != nullptr) mounted = flist_spare_->Mount(args, kMountTimeout);
  if (!mounted.has_value()) {  // no spare ready, or it died before answering
    (void)Unmount(mountpoint);
    RuntimeHandler mounter{options_.flist_mount_binary, {}, false, false};
    mounted = RunOciRuntime(mounter, args, "", kMountTimeout).status();
  }
  if (!mounted->ok()) {
    return absl::Status(mounted->code(), absl::StrCat("mount flist ", image.id, ": ", mounted->message()));
  }
  if (!IsFuseMounted(mountpoint)) {
    return absl::InternalError(absl::StrCat("mount flist ", image.id, ": flist-mount returned but ", mountpoint,
                                            " is not mounted"));
  }
  FLINT_LOG(INFO) << "mounted flist " << image.id << " at " << mountpoint;
  ++flist_mount_pins_[mountpoint];
  return mountpoint;
}

void PodRuntime::UnpinFlistMount(const std::string& mountpoint) {
  std::lock_guard lock(flist_mounts_mu_);
  if (auto it = flist_mount_pins_.find(mountpoint); it != flist_mount_pins_.end() && --it->second <= 0) {
    flist_mount_pins_.erase(it);
  }
}

bool PodRuntime::FlistMountInUseLocked(const std::string& mountpoint, const std::string& exclude_container) {
  if (flist_mount_pins_.contains(mountpoint)) return true;  // a container is being created on it
  for (const ContainerRecord& other : store_->Containers()) {
    if (other.id() != exclude_container && other.flist_mount() == mountpoint) return true;
  }
  return false;
}

void PodRuntime::UnmountFlistLocked(const std::string& mountpoint) {
  if (idle_flist_mounts_ != nullptr) idle_flist_mounts_->Forget(mountpoint);
  // The FUSE server exits when its mount goes away.
  if (absl::Status s = Unmount(mountpoint); !s.ok()) {
    FLINT_LOG(WARN) << "unmount flist " << mountpoint << ": " << s.message();
    return;
  }
  (void)rmdir(mountpoint.c_str());
  if (flist_logs_ != nullptr) flist_logs_->Finish(std::filesystem::path(mountpoint).parent_path().string());
  FLINT_LOG(INFO) << "unmounted flist at " << mountpoint;
}

void PodRuntime::ReleaseFlistMount(const std::string& mountpoint, const std::string& exclude_container) {
  if (mountpoint.empty()) return;
  std::lock_guard lock(flist_mounts_mu_);
  if (FlistMountInUseLocked(mountpoint, exclude_container)) return;
  if (idle_flist_mounts_ != nullptr && flists_ != nullptr && flists_->Find(FlistHexOfMountpoint(mountpoint)) &&
      IsFuseMounted(mountpoint)) {
    if (idle_flist_mounts_->Idle(mountpoint)) {
      FLINT_LOG(INFO) << "flist mount " << mountpoint << " is idle; it is unmounted in "
                      << config_.flist.mount_idle_seconds << " s unless a container uses it";
    }
    return;
  }
  UnmountFlistLocked(mountpoint);
}

void PodRuntime::UnmountIdleFlistMount(const IdleFlistMounts::Expired& expired) {
  std::lock_guard lock(flist_mounts_mu_);
  // Reused since: it idles again with its last container.
  if (FlistMountInUseLocked(expired.mountpoint, "")) return;
  if (expired.why == IdleFlistMounts::End::kOverLimit) {
    FLINT_LOG(INFO) << "flist mount " << expired.mountpoint << " was idle longest when more than "
                    << config_.flist.max_idle_mounts << " were idle (flist.max_idle_mounts)";
  } else {
    FLINT_LOG(INFO) << "flist mount " << expired.mountpoint << " was idle for " << config_.flist.mount_idle_seconds
                    << " s";
  }
  UnmountFlistLocked(expired.mountpoint);
}

PodRuntime::FlistMountCounts PodRuntime::CountFlistMounts(const std::vector<ContainerRecord>& containers) {
  FlistMountCounts counts;
  std::set<std::string> used;
  for (const ContainerRecord& record : containers) {
    if (!record.flist_mount().empty()) used.insert(record.flist_mount());
  }
  counts.in_use = used.size();
  if (idle_flist_mounts_ != nullptr) counts.idle = idle_flist_mounts_->Count();
  return counts;
}

void PodRuntime::FlistImageRemoved(const std::string& image_id) {
  // With its image gone, a mount no container uses is released at once.
  const std::string mountpoint = FlistMountpointOf(config_, image_id);
  if (IsFuseMounted(mountpoint)) ReleaseFlistMount(mountpoint, "");
}

}  // namespace flint::runtime
