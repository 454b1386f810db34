// flist-mount processes are detached (they outlive flintd like the shims), so their stderr is a
// file per flist mount: <state>/flists/<image hex>/flist-mount.log, shared by the server, its
// keeper and the servers the keeper starts. This forwards the lines those files gain into
// flintd's own log, so a block that cannot be fetched (which block, from which store) or a mount
// whose keeper gave up shows where operators look.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/log.h"

namespace flint::runtime {

// The log file of the flist mount whose directory is `mount_dir` (<state>/flists/<hex>).
std::string FlistMountLogPath(const std::string& mount_dir);

struct ForwardedLine {
  log::Level level;
  std::string text;  // "flist-mount[<hex, 12>]: <file:line> <message>"
};

class FlistMountLogForwarder {
 public:
  struct Options {
    std::string flists_dir;            // <state>/flists
    size_t max_lines_per_file = 100;   // per Poll; the rest of a burst is skipped with a note
    size_t max_line_bytes = 4096;      // longer lines are cut
    std::function<void(const ForwardedLine&)> sink;  // default: FLINT_LOG at the line's level
  };

  // Lines already in the files now that no flintd forwarded (each file's count of forwarded
  // bytes is kept beside it) were written while flintd was down: they are forwarded first, with
  // the time they were written.
  explicit FlistMountLogForwarder(Options options);
  ~FlistMountLogForwarder();
  FlistMountLogForwarder(const FlistMountLogForwarder&) = delete;
  FlistMountLogForwarder& operator=(const FlistMountLogForwarder&) = delete;

  // Polls every `period` on a thread until destroyed.
  void Start(std::chrono::milliseconds period);
  // Forwards what every file gained since the last poll; returns the number of lines forwarded.
  size_t Poll();
  // Forwards what `mount_dir`'s file still holds, then deletes it (its mount is gone).
  void Finish(const std::string& mount_dir);

 private:
  // `record`: write the new offset beside the file (not for a file about to be deleted).
  size_t ForwardLocked(const std::string& path, const std::string& mount_hex, uint64_t& offset, bool record = true);

  Options options_;
  std::mutex mu_;
  std::map<std::string, uint64_t> offsets_;  // log path -> bytes forwarded (whole lines), guarded by mu_
  // log path -> its size when this forwarder started, until forwarded past it; guarded by mu_
  std::map<std::string, uint64_t> written_before_start_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flint::runtime
