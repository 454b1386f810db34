#include "cri/image/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace flint::image {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  const std::function<bool()>* cancelled;
  std::chrono::seconds stall_timeout;
  absl::Status sink_status;
  curl_off_t last_bytes = -1;
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
  bool stalled = false;
};

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (t->request->on_data) {
    // Bodies of error responses are small diagnostics; keep them out of the sink.
    if (t->response->status >= 200 && t->response->status < 300) {
      t->sink_status = t->request->on_data(data, n);
      return t->sink_status.ok() ? n : 0;
    }
  }
  if (t->response->body.size() + n > t->request->max_body_bytes) {
    t->sink_status =
        absl::InvalidArgumentError(absl::StrCat("response body larger than ", t->request->max_body_bytes, " bytes"));
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  std::string line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (redirect hop or 100-continue): start over.
    t->response->headers.clear();
    t->response->body.clear();
    size_t sp = line.find(' ');
    t->response->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    t->response->headers[name] = value;
  }
  return n;
}

// curl calls this about once a second even when nothing flows, which makes it the stall clock:
// connecting, waiting for the response and a body that stops flowing all count as no progress.
int OnProgress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  if (*t->cancelled && (*t->cancelled)()) return 1;
  auto now = std::chrono::steady_clock::now();
  if (dlnow + ulnow != t->last_bytes) {
    t->last_bytes = dlnow + ulnow;
    t->last_progress = now;
  } else if (t->stall_timeout.count() > 0 && now - t->last_progress >= t->stall_timeout) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpDo(const HttpRequest& request, const HttpTimeouts& timeouts,
                                    const std::function<bool()>& cancelled) {
  GlobalInitOnce();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  HttpResponse response;
  Transfer transfer{&request, &response, &cancelled, timeouts.stall, absl::OkStatus()};
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count() * 1000));
  if (timeouts.total.count() > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeouts.total.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "flint/0.1");
  if (!request.basic_user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, request.basic_user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, request.basic_password.c_str());
  }
  if (request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  if (request.method != "GET" && request.method != "POST") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);

  if (!transfer.sink_status.ok()) return transfer.sink_status;
  if (rc == CURLE_ABORTED_BY_CALLBACK && transfer.stalled) {
    return absl::UnavailableError(
        absl::StrCat(request.method, " ", request.url, ": no progress for ", timeouts.stall.count(), "s"));
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return absl::CancelledError(absl::StrCat(request.method, " ", request.url, ": cancelled"));
  if (rc != CURLE_OK) {
    std::string what = curl_easy_strerror(rc);
    return absl::UnavailableError(absl::StrCat(request.method, " ", request.url, ": ", what));
  }
  return response;
}

}  // namespace flint::image
