// One read-only FUSE mount of a flist, served by threads of this process.
//
// flintd mounts each flist image once (e.g. /var/lib/flint/flist/ro/<digest>)
// and gives every container of that image an overlayfs with
// lowerdir=<that mountpoint> and its own upper/work dirs. Unmount the
// overlays before the FlistMount.
//
//   auto cache = BlockCache::Open({.dir = "/var/cache/flint/blocks", .max_bytes = 10 << 30});
//   auto flist = std::make_shared<const Flist>(*ReadFlistFile(path));
//   auto store = OpenStoreForFlist(*flist, "", default_url);
//   auto mount = FlistMount::Mount(flist, cache->get(), store->get(), "/mnt/x");
//   ...
//   (*mount)->Unmount();  // also done by the destructor
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/fuse/flist_fs.h"
#include "flist-snapshotter/store/block_store.h"

struct fuse_session;

namespace flint::flist {

struct FlistMountOptions {
  FlistFsOptions fs;
  int max_fuse_threads = 8;
  // Kernel readahead for the mount in KiB (0: none; -1: leave the kernel's 128 KiB):
  // two 512 KiB requests in flight. Larger windows measured no faster for
  // warm reads and make cold reads fetch blocks nobody asked for.
  // Needs root (sysfs); failure only logs.
  int read_ahead_kb = 1024;
  bool allow_other = true;          // containers run as other users
  bool default_permissions = true;  // let the kernel check modes
  // Honour setuid bits and device nodes on the FUSE mount itself. An
  // overlay on top applies its own mount flags, so this is rarely needed.
  bool suid_dev = false;
  // What happens to the requests a server had taken when it dies and a
  // successor takes over its connection (mount_keeper.h). true: the kernel
  // resends them to the successor (FUSE_NOTIFY_RESEND, Linux 6.9+), so their
  // callers only wait. Where the kernel cannot (probed at mount), or when
  // false, every FUSE thread reads from its own clone of the /dev/fuse
  // descriptor: closing the dead server's clones makes the kernel fail what
  // it had taken (ECONNABORTED) instead of leaving those callers waiting
  // forever; a buffered read is then asked again, so its reader only waits.
  // The successor serves everything after.
  bool resend_on_takeover = true;
  std::string fsname = "flint-flist";
  std::string subtype = "flist";  // fstype shows as fuse.<subtype>
};

class FlistMount {
 public:
  // Mounts `flist` read-only at `mountpoint` (an existing directory) and
  // starts serving it. `cache` and `store` are not owned and must outlive
  // the mount; both are shared with other mounts.
  static absl::StatusOr<std::unique_ptr<FlistMount>> Mount(std::shared_ptr<const Flist> flist,
                                                           BlockCache* cache, BlockStore* store,
                                                           const std::string& mountpoint,
                                                           FlistMountOptions options = {});
  // Serves a mount whose server died, on its /dev/fuse connection `fuse_fd`
  // (inherited from the keeper; the session owns it from here). Replays the
  // kernel's INIT (`proto_minor`, as the first server saw it) to libfuse, then
  // has the kernel resend what the dead server had taken when it can (see
  // FlistMountOptions::resend_on_takeover). Nothing is unmounted on failure.
  static absl::StatusOr<std::unique_ptr<FlistMount>> TakeOver(std::shared_ptr<const Flist> flist,
                                                              BlockCache* cache, BlockStore* store,
                                                              const std::string& mountpoint, int fuse_fd,
                                                              unsigned proto_minor, FlistMountOptions options = {});
  // Reads the .fl/.flist file first.
  static absl::StatusOr<std::unique_ptr<FlistMount>> MountFile(const std::string& flist_path,
                                                               BlockCache* cache, BlockStore* store,
                                                               const std::string& mountpoint,
                                                               FlistMountOptions options = {});

  ~FlistMount();
  FlistMount(const FlistMount&) = delete;
  FlistMount& operator=(const FlistMount&) = delete;

  // Unmounts and stops the server threads. If the mount is still in use it
  // is aborted (users then get ENOTCONN) and detached. Idempotent.
  absl::Status Unmount();

  // Blocks until the FUSE loop ends: after Unmount() or an unmount from
  // outside (fusermount3 -u, umount).
  void Wait();

  const std::string& mountpoint() const { return mountpoint_; }
  // The mount's /dev/fuse connection (a keeper holds a copy of it).
  int fuse_fd() const;
  // The FUSE protocol minor version of the kernel's INIT, 0 if it has not come within `limit`.
  unsigned WaitForInit(std::chrono::milliseconds limit) { return fs_->WaitForInit(limit); }
  FlistFsStats stats() const { return fs_->stats(); }
  // True when a successor gets the requests this server had taken resent;
  // false when the kernel fails them as this server's descriptors close.
  bool resends_on_takeover() const { return !clone_fd_; }
  // Waits until queued prefetches are done (tests, benchmarks).
  void WaitPrefetchIdle() { fs_->WaitPrefetchIdle(); }

 private:
  FlistMount() = default;
  absl::Status NewSession(const FlistMountOptions& options);
  void StartLoop(int max_threads);

  std::string mountpoint_;
  std::unique_ptr<FlistFs> fs_;
  fuse_session* session_ = nullptr;
  std::thread loop_;
  bool unmounted_ = false;
  bool clone_fd_ = false;  // each FUSE thread reads from its own clone of the connection
  std::mutex loop_mu_;
  std::condition_variable loop_done_cv_;
  bool loop_done_ = false;
};

}  // namespace flint::flist
