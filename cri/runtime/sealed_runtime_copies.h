// flintd's sealed in-memory copies of the OCI runtime binaries (common/sealed_exec_copy.h):
// one per binary, made on first use, made again when the file on disk changes (a package
// upgrade), shared by flintd's own runtime calls and handed to every shim it starts.
#pragma once

#include <sys/stat.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cri/config/config.h"

namespace flint::runtime {

class SealedRuntimeCopy {
 public:
  explicit SealedRuntimeCopy(int fd) : fd_(fd) {}
  ~SealedRuntimeCopy();
  SealedRuntimeCopy(const SealedRuntimeCopy&) = delete;
  SealedRuntimeCopy& operator=(const SealedRuntimeCopy&) = delete;

  int fd() const { return fd_; }
  std::string exec_path() const;  // /proc/self/fd/N

 private:
  int fd_;
};

class SealedRuntimeCopies {
 public:
  // The copy to run for `handler`, or nullptr: the handler opts out (sealed_copy: false), or
  // no copy can be made (not an ELF file, no memfd; logged once per file version). Callers
  // then run handler.path. Holding the pointer keeps the copy open across a renewal.
  std::shared_ptr<const SealedRuntimeCopy> For(const RuntimeHandler& handler);

 private:
  struct Entry {
    struct stat file {};  // the version the copy was made from
    std::shared_ptr<const SealedRuntimeCopy> copy;  // null when making it failed
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace flint::runtime
