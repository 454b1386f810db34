// A shared library loaded with dlopen on first use, for dependencies only some
// flists need (libcurl for HTTP stores, libarchive for v1 flists): flist-mount
// starts once per flist mount and links everything else statically.
#pragma once

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace flint::flist {

class SharedLibrary {
 public:
  // Opens `name` (RTLD_NOW | RTLD_LOCAL); `needed_for` and `package` make the
  // error actionable ("HTTP block stores need libcurl.so.4 (Debian package libcurl4): ...").
  SharedLibrary(const char* name, const char* needed_for, const char* package) : name_(name) {
    handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      status_ = absl::FailedPreconditionError(
          absl::StrCat(needed_for, " need ", name, " (Debian package ", package, "): ", dlerror()));
    }
  }

  // Sets `fn` to the symbol `symbol`; the first missing one becomes status().
  // The handle is never closed: the bound functions live as long as the process.
  template <typename Fn>
  void Bind(Fn& fn, const char* symbol) {
    static_assert(std::is_pointer_v<Fn>);
    fn = handle_ == nullptr ? nullptr : reinterpret_cast<Fn>(dlsym(handle_, symbol));
    if (fn == nullptr && status_.ok()) status_ = absl::FailedPreconditionError(absl::StrCat(name_, " lacks ", symbol));
  }

  const absl::Status& status() const { return status_; }

 private:
  std::string name_;
  void* handle_ = nullptr;
  absl::Status status_;
};

}  // namespace flint::flist
