// Entering a network namespace from the calling thread and coming back.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace flint::cni {

// An open handle on a network namespace file (e.g. /var/run/netns/x).
class NetnsHandle {
 public:
  static absl::StatusOr<NetnsHandle> Open(const std::string& path);
  NetnsHandle(NetnsHandle&& other) noexcept;
  NetnsHandle& operator=(NetnsHandle&& other) = delete;
  NetnsHandle(const NetnsHandle&) = delete;
  ~NetnsHandle();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  NetnsHandle(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Runs `fn` with the calling thread switched into `ns`, then switches back.
// A failure to switch back aborts the process: continuing in the wrong
// namespace would silently configure the wrong network.
absl::Status RunInNetns(const NetnsHandle& ns, const std::function<absl::Status()>& fn);

}  // namespace flint::cni
