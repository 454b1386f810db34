#include "cri/runtime/sealed_runtime_copies.h"

#include <unistd.h>

#include "common/log.h"
#include "common/sealed_exec_copy.h"

namespace flint::runtime {
namespace {

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

SealedRuntimeCopy::~SealedRuntimeCopy() { close(fd_); }

std::string SealedRuntimeCopy::exec_path() const { return SealedExecPath(fd_); }

std::shared_ptr<const SealedRuntimeCopy> SealedRuntimeCopies::For(const RuntimeHandler& handler) {
  if (!handler.sealed_copy) return nullptr;
  struct stat now {};
  if (stat(handler.path.c_str(), &now) != 0) return nullptr;  // the spawn reports the missing binary
  std::lock_guard lock(mu_);
  auto it = entries_.find(handler.path);
  if (it != entries_.end() && SameFile(it->second.file, now)) return it->second.copy;
  std::string error;
  const int fd = MakeSealedExecCopy(handler.path, &error);
  Entry entry{now, fd >= 0 ? std::make_shared<const SealedRuntimeCopy>(fd) : nullptr};
  if (fd < 0) {
    FLINT_LOG(WARN) << "runtime " << handler.path << " runs from its file: " << error;
  } else {
    FLINT_LOG(INFO) << "runtime " << handler.path << " runs from a sealed in-memory copy (" << now.st_size << " bytes)";
  }
  entries_[handler.path] = entry;
  return entry.copy;
}

}  // namespace flint::runtime
