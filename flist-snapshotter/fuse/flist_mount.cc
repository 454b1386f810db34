#include "flist-snapshotter/fuse/flist_mount.h"

#include <fcntl.h>
#include <linux/fuse.h>  // the wire structs: libfuse does not install its copy
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/libfuse_log.h"
#include "flist-snapshotter/fuse/readahead.h"

namespace flint::flist {
namespace {

// FUSE_NOTIFY_RESEND (Linux 6.9): puts the requests a server took but did not answer back in
// the queue. libfuse 3.14's headers predate it.
constexpr int32_t kFuseNotifyResend = 7;

// Asks the kernel to resend what servers of this connection took and did not answer: nothing
// on a fresh mount, so it doubles as the probe. Older kernels reject the code (EINVAL).
absl::Status NotifyResend(int fuse_fd) {
  const fuse_out_header resend{sizeof(fuse_out_header), kFuseNotifyResend, 0};
  if (write(fuse_fd, &resend, sizeof resend) != static_cast<ssize_t>(sizeof resend)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the kernel cannot resend a dead server's requests (", std::strerror(errno),
                     "; Linux 6.9 or later can)"));
  }
  return absl::OkStatus();
}

}  // namespace

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
  if (absl::Status s = mount->NewSession(options); !s.ok()) return s;
  if (fuse_session_mount(mount->session_, mountpoint.c_str()) != 0) {
    fuse_session_destroy(mount->session_);
    mount->session_ = nullptr;
    return absl::InternalError(absl::StrCat("flist mount ", mountpoint, ": mount failed (is /dev/fuse usable?)"));
  }
  if (options.resend_on_takeover) {
    if (absl::Status s = NotifyResend(mount->fuse_fd()); !s.ok()) {
      FLINT_LOG(INFO) << "flist mount " << mountpoint << ": " << s.message()
                      << "; should this server die, the requests it had taken fail instead of waiting";
      mount->clone_fd_ = true;
    }
  } else {
    mount->clone_fd_ = true;
  }
  mount->StartLoop(options.max_fuse_threads);
  if (options.read_ahead_kb >= 0) {
    if (absl::Status s = SetMountReadahead(mountpoint, options.read_ahead_kb); !s.ok()) {
      FLINT_LOG(WARN) << "flist mount " << mountpoint << ": " << s.message();
    }
  }
  FLINT_LOG(INFO) << "flist mounted at " << mountpoint;
  return mount;
}

absl::StatusOr<std::unique_ptr<FlistMount>> FlistMount::TakeOver(std::shared_ptr<const Flist> flist,
                                                                 BlockCache* cache, BlockStore* store,
                                                                 const std::string& mountpoint, int fuse_fd,
                                                                 unsigned proto_minor, FlistMountOptions options) {
  if (flist == nullptr || cache == nullptr || store == nullptr) {
    return absl::InvalidArgumentError("flist takeover: flist, cache and store are required");
  }
  if (fcntl(fuse_fd, F_GETFD) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("flist takeover: ", fuse_fd, " is not an open descriptor"));
  }
  std::unique_ptr<FlistMount> mount(new FlistMount());
  mount->mountpoint_ = mountpoint;
  mount->fs_ = std::make_unique<FlistFs>(std::move(flist), cache, store, options.fs);
  if (absl::Status s = mount->NewSession(options); !s.ok()) return s;
  // On failure the session goes without unmounting: the mount is the keeper's to keep.
  auto fail = [&mount](absl::Status status) {
    fuse_session_destroy(mount->session_);
    mount->session_ = nullptr;
    return status;
  };
  // libfuse takes "/dev/fd/N" as an already connected device (the session then owns N).
  if (fuse_session_mount(mount->session_, absl::StrCat("/dev/fd/", fuse_fd).c_str()) != 0) {
    return fail(absl::InternalError(absl::StrCat("flist takeover ", mountpoint, ": libfuse refused /dev/fd/", fuse_fd)));
  }
  // The kernel sent INIT to the first server only; this session must see one before it serves.
  // Its reply goes to a request id the kernel never issued, which the kernel drops (ENOENT).
  struct {
    fuse_in_header header;
    fuse_init_in init;
  } request{};
  request.header.len = sizeof request;
  request.header.opcode = FUSE_INIT;
  request.header.unique = uint64_t{1} << 62;
  request.init.major = FUSE_KERNEL_VERSION;
  request.init.minor = std::min<unsigned>(proto_minor, FUSE_KERNEL_MINOR_VERSION);
  request.init.max_readahead = 1 << 20;
  // What Linux offers and this filesystem may use; only libfuse's side of the protocol is set
  // from this (the kernel keeps what it agreed with the first server).
  request.init.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE |
                       FUSE_SPLICE_MOVE | FUSE_SPLICE_READ | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |
                       FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |
                       FUSE_CACHE_SYMLINKS;
  fuse_buf buf{};
  buf.size = sizeof request;
  buf.mem = &request;
  fuse_session_process_buf(mount->session_, &buf);
  if (mount->fs_->WaitForInit(std::chrono::milliseconds(0)) == 0) {
    return fail(absl::InternalError(absl::StrCat("flist takeover ", mountpoint, ": libfuse did not accept the replayed INIT")));
  }
  // Requests the dead server read but never answered: sent again where the kernel can. Where it
  // cannot, the dead server read them from its own clones of the connection (Mount), and the
  // kernel failed them when those closed.
  std::string in_flight = "the requests it had taken were resent";
  if (!options.resend_on_takeover) {
    mount->clone_fd_ = true;
    in_flight = "the requests it had taken failed";
  } else if (absl::Status s = NotifyResend(fuse_fd); !s.ok()) {
    mount->clone_fd_ = true;
    in_flight = absl::StrCat("the requests it had taken failed: ", s.message());
  }
  mount->StartLoop(options.max_fuse_threads);
  FLINT_LOG(INFO) << "flist mount at " << mountpoint << " taken over; " << in_flight;
  return mount;
}

absl::Status FlistMount::NewSession(const FlistMountOptions& options) {
  RouteLibfuseLogToFlintLog();
  std::string opts = absl::StrCat("ro,fsname=", options.fsname, ",subtype=", options.subtype);
  if (options.allow_other) opts += ",allow_other";
  if (options.default_permissions) opts += ",default_permissions";
  if (options.suid_dev) opts += ",suid,dev";
  std::vector<std::string> argv_store = {"flist-mount", "-o", opts};
  std::vector<char*> argv;
  for (std::string& a : argv_store) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&args, &FlistFs::Ops(), sizeof(fuse_lowlevel_ops), fs_.get());
  fuse_opt_free_args(&args);
  if (session_ == nullptr) {
    return absl::InternalError(absl::StrCat("flist mount ", mountpoint_, ": fuse_session_new failed"));
  }
  return absl::OkStatus();
}

void FlistMount::StartLoop(int max_threads) {
  fuse_session* se = session_;
  loop_ = std::thread([this, se, max_threads] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(max_threads));
    fuse_loop_cfg_set_clone_fd(cfg, clone_fd_ ? 1 : 0);
    const int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (rc != 0 && rc != -ENODEV) {
      FLINT_LOG(WARN) << "flist mount: FUSE loop ended with " << rc;
    }
    {
      std::lock_guard<std::mutex> lock(loop_mu_);
      loop_done_ = true;
    }
    loop_done_cv_.notify_all();
  });
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

int FlistMount::fuse_fd() const { return session_ != nullptr ? fuse_session_fd(session_) : -1; }

void FlistMount::Wait() {
  std::unique_lock<std::mutex> lock(loop_mu_);
  loop_done_cv_.wait(lock, [&] { return loop_done_; });
}

}  // namespace flint::flist
