#include "flist-snapshotter/store/http_store.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/store/curl_api.h"

namespace flint::flist {
namespace {

constexpr size_t kMaxBody = 64 * 1024 * 1024;

struct Sink {
  std::string* body;
  bool overflow = false;
};

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body->size() + n > kMaxBody) {
    sink->overflow = true;
    return 0;  // makes curl abort the transfer
  }
  sink->body->append(data, n);
  return n;
}

}  // namespace

HttpStore::HttpStore(std::string base, HttpStoreOptions options)
    : base_(std::move(base)), options_(options) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

absl::StatusOr<HttpStore::Response> HttpStore::Fetch(const std::string& url, bool head_only) {
  absl::StatusOr<const CurlApi*> api = LoadCurl();
  if (!api.ok()) return api.status();
  const CurlApi& curl_api = **api;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_api.easy_init(), curl_api.easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  Response resp;
  Sink sink{&resp.body};
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_api.easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_api.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_api.easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_seconds);
  curl_api.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes);
  curl_api.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.low_speed_seconds);
  curl_api.easy_setopt(c, CURLOPT_TIMEOUT, options_.total_timeout_seconds);
  curl_api.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_api.easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_api.easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (head_only) curl_api.easy_setopt(c, CURLOPT_NOBODY, 1L);
  CURLcode rc = curl_api.easy_perform(c);
  if (sink.overflow) return absl::DataLossError(absl::StrCat("GET ", url, ": response larger than ", kMaxBody));
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(
        absl::StrCat("GET ", url, ": ", errbuf[0] != '\0' ? errbuf : curl_api.easy_strerror(rc)));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", errbuf[0] != '\0' ? errbuf : curl_api.easy_strerror(rc)));
  }
  curl_api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

absl::StatusOr<std::string> HttpStore::Get(std::string_view id) {
  const std::string hex = HexEncode(id);
  for (const std::string& url : {absl::StrCat(base_, "/", hex.substr(0, 2), "/", hex),
                                 absl::StrCat(base_, "/", hex)}) {
    auto resp = Fetch(url, /*head_only=*/false);
    if (!resp.ok()) return resp.status();
    if (resp->status == 200) return std::move(resp->body);
    if (resp->status != 404) {
      return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP ", resp->status));
    }
  }
  return absl::NotFoundError(absl::StrCat("block ", hex, " not in ", base_));
}

absl::StatusOr<bool> HttpStore::Exists(std::string_view id) {
  const std::string hex = HexEncode(id);
  for (const std::string& url : {absl::StrCat(base_, "/", hex.substr(0, 2), "/", hex),
                                 absl::StrCat(base_, "/", hex)}) {
    auto resp = Fetch(url, /*head_only=*/true);
    if (!resp.ok()) return resp.status();
    if (resp->status == 200) return true;
    if (resp->status != 404) {
      return absl::UnavailableError(absl::StrCat("HEAD ", url, ": HTTP ", resp->status));
    }
  }
  return false;
}

absl::Status HttpStore::Put(std::string_view, std::string_view) {
  return absl::UnimplementedError(absl::StrCat(base_, ": HTTP stores are read-only"));
}

}  // namespace flint::flist
