// posix_spawn attributes for children of flintd's threads.
#pragma once

#include <signal.h>
#include <spawn.h>

namespace flint {

// Starts the child with no signal blocked: posix_spawn would otherwise give it the spawning
// thread's mask, and flintd's threads block the signals its main thread takes with sigwait.
class UnblockedSpawnAttr {
 public:
  UnblockedSpawnAttr() {
    posix_spawnattr_init(&attr_);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK);
  }
  ~UnblockedSpawnAttr() { posix_spawnattr_destroy(&attr_); }
  UnblockedSpawnAttr(const UnblockedSpawnAttr&) = delete;
  UnblockedSpawnAttr& operator=(const UnblockedSpawnAttr&) = delete;

  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

}  // namespace flint
