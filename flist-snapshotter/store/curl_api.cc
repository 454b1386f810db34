#include "flist-snapshotter/store/curl_api.h"

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/util/shared_library.h"

namespace flint::flist {
namespace {

absl::StatusOr<CurlApi> Load() {
  SharedLibrary lib("libcurl.so.4", "HTTP block stores", "libcurl4");
  CurlApi api{};
  CURLcode (*global_init)(long) = nullptr;
  lib.Bind(global_init, "curl_global_init");
  lib.Bind(api.easy_init, "curl_easy_init");
  lib.Bind(api.easy_cleanup, "curl_easy_cleanup");
  lib.Bind(api.easy_setopt, "curl_easy_setopt");
  lib.Bind(api.easy_perform, "curl_easy_perform");
  lib.Bind(api.easy_getinfo, "curl_easy_getinfo");
  lib.Bind(api.easy_strerror, "curl_easy_strerror");
  if (!lib.status().ok()) return lib.status();
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
