#include "flist-snapshotter/fuse/flist_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/readahead.h"

namespace flint::flist {

absl::StatusOr<std::unique_ptr<FlistMount>> FlistMount::Mount(std::shared_ptr<const Flist> flist,
                                                              BlockCache* cache, BlockStore* store,
                                                              const std::string& mountpoint,
                                                              FlistMountOptions options) {
  if (flist == nullptr || cache == nullptr || store == nullptr) {
    return absl::InvalidArgumentError("flist mount: flist, cache and store are required");
  }
  struct stat st {};
  if (stat(mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("flist mount: ", mountpoint, " is not a directory"));
  }

  std::unique_ptr<FlistMount> mount(new FlistMount());
  mount->mountpoint_ = mountpoint;
  mount->fs_ = std::make_unique<FlistFs>(std::move(flist), cache, store, options.fs);

  std::string opts = absl::StrCat("ro,fsname=", options.fsname, ",subtype=", options.subtype);
  if (options.allow_other) opts += ",allow_other";
  if (options.default_permissions) opts += ",default_permissions";
  if (options.suid_dev) opts += ",suid,dev";
  std::vector<std::string> argv_store = {"flist-mount", "-o", opts};
  std::vector<char*> argv;
  for (std::string& a : argv_store) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  mount->session_ = fuse_session_new(&args, &FlistFs::Ops(), sizeof(fuse_lowlevel_ops), mount->fs_.get());
  fuse_opt_free_args(&args);
  if (mount->session_ == nullptr) {
    return absl::InternalError(absl::StrCat("flist mount ", mountpoint, ": fuse_session_new failed"));
  }
  if (fuse_session_mount(mount->session_, mountpoint.c_str()) != 0) {
    fuse_session_destroy(mount->session_);
    mount->session_ = nullptr;
    return absl::InternalError(absl::StrCat("flist mount ", mountpoint, ": mount failed (is /dev/fuse usable?)"));
  }

  fuse_session* se = mount->session_;
  const int max_threads = options.max_fuse_threads;
  FlistMount* self = mount.get();
  mount->loop_ = std::thread([self, se, max_threads] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(max_threads));
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    const int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (rc != 0 && rc != -ENODEV) {
      FLINT_LOG(WARN) << "flist mount: FUSE loop ended with " << rc;
    }
    {
      std::lock_guard<std::mutex> lock(self->loop_mu_);
      self->loop_done_ = true;
    }
    self->loop_done_cv_.notify_all();
  });
  if (options.read_ahead_kb > 0) {
    if (absl::Status s = SetMountReadahead(mountpoint, options.read_ahead_kb); !s.ok()) {
      FLINT_LOG(WARN) << "flist mount " << mountpoint << ": " << s.message();
    }
  }
  FLINT_LOG(INFO) << "flist mounted at " << mountpoint;
  return mount;
}

absl::StatusOr<std::unique_ptr<FlistMount>> FlistMount::MountFile(const std::string& flist_path,
                                                                  BlockCache* cache, BlockStore* store,
                                                                  const std::string& mountpoint,
                                                                  FlistMountOptions options) {
  auto flist = ReadFlistFile(flist_path);
  if (!flist.ok()) {
    return absl::Status(flist.status().code(), absl::StrCat("mount ", flist_path, ": ", flist.status().message()));
  }
  return Mount(std::make_shared<const Flist>(*std::move(flist)), cache, store, mountpoint, std::move(options));
}

FlistMount::~FlistMount() {
  if (auto s = Unmount(); !s.ok()) {
    FLINT_LOG(WARN) << s.message();
  }
}

absl::Status FlistMount::Unmount() {
  if (unmounted_ || session_ == nullptr) return absl::OkStatus();
  unmounted_ = true;
  absl::Status status;
  // Removing the mount ends the kernel connection, which makes every loop
  // thread's read of /dev/fuse fail with ENODEV, so the loop returns.
  if (umount2(mountpoint_.c_str(), UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
    const int err = errno;
    if (err == EBUSY) {
      // Still in use (open files, an overlay on top): abort the connection so
      // the server threads can stop, then detach.
      FLINT_LOG(WARN) << "flist mount " << mountpoint_ << " busy; aborting it";
      umount2(mountpoint_.c_str(), MNT_FORCE | UMOUNT_NOFOLLOW);
      umount2(mountpoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    } else {
      // Not root: let libfuse use fusermount3.
      fuse_session_unmount(session_);
    }
    if (err != EPERM) status = absl::InternalError(absl::StrCat("unmount ", mountpoint_, ": ", std::strerror(err)));
  }
  fuse_session_exit(session_);
  if (loop_.joinable()) loop_.join();
  fs_->StopPrefetch();
  fuse_session_unmount(session_);  // no-op when the connection is gone
  fuse_session_destroy(session_);
  session_ = nullptr;
  return status;
}

void FlistMount::Wait() {
  std::unique_lock<std::mutex> lock(loop_mu_);
  loop_done_cv_.wait(lock, [&] { return loop_done_; });
}

}  // namespace flint::flist
