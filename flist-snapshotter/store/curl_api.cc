#include "flist-snapshotter/store/curl_api.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

constexpr const char* kLibrary = "libcurl.so.4";

absl::StatusOr<CurlApi> Load() {
  void* lib = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("HTTP block stores need ", kLibrary, " (Debian package libcurl4): ", dlerror()));
  }
  CurlApi api{};
  absl::Status missing = absl::OkStatus();
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    if (fn == nullptr && missing.ok()) missing = absl::FailedPreconditionError(absl::StrCat(kLibrary, " lacks ", name));
  };
  CURLcode (*global_init)(long) = nullptr;
  bind(global_init, "curl_global_init");
  bind(api.easy_init, "curl_easy_init");
  bind(api.easy_cleanup, "curl_easy_cleanup");
  bind(api.easy_setopt, "curl_easy_setopt");
  bind(api.easy_perform, "curl_easy_perform");
  bind(api.easy_getinfo, "curl_easy_getinfo");
  bind(api.easy_strerror, "curl_easy_strerror");
  if (!missing.ok()) return missing;  // the handle stays open: harmless, and dlclose of libcurl is not
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", api.easy_strerror(rc)));
  }
  return api;
}

}  // namespace

absl::StatusOr<const CurlApi*> LoadCurl() {
  static const absl::StatusOr<CurlApi> loaded = Load();
  if (!loaded.ok()) return loaded.status();
  return &*loaded;
}

}  // namespace flint::flist
