// libcurl, loaded with dlopen the first time an HTTP store fetches. flist-mount
// is started for every flist mount, and linking libcurl (with its TLS, Kerberos,
// LDAP, RTMP and SSH dependencies) cost ~8 ms of dynamic loading per start,
// although most flists use zdb stores and never touch HTTP.
#pragma once

#include <curl/curl.h>

#include "absl/status/statusor.h"

namespace flint::flist {

struct CurlApi {
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
};

// Loads libcurl.so.4 and runs curl_global_init once per process; thread-safe.
absl::StatusOr<const CurlApi*> LoadCurl();

}  // namespace flint::flist
