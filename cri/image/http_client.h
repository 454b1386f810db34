// Minimal blocking HTTP client over libcurl for registry traffic: every request has a connect
// timeout and a stall (no progress) timeout, and can be cancelled.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::image {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent for POST/PUT
  std::string basic_user;            // when set, HTTP basic auth with basic_password
  std::string basic_password;
  // Called with body chunks as they arrive; a non-OK status aborts the transfer and is returned.
  // When unset, the body is collected into HttpResponse::body (capped by max_body_bytes).
  std::function<absl::Status(const char*, size_t)> on_data;
  size_t max_body_bytes = 8 << 20;
  bool follow_redirects = true;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; last value wins
  std::string body;
};

struct HttpTimeouts {
  std::chrono::seconds connect{30};
  std::chrono::seconds stall{300};  // fail when no byte moves for this long
  std::chrono::seconds total{0};    // 0: no overall limit
};

// Returns the response for any HTTP status; transport failures (connect, DNS, TLS, timeouts) are
// Unavailable, cancellation is Cancelled, on_data errors are returned as is.
absl::StatusOr<HttpResponse> HttpDo(const HttpRequest& request, const HttpTimeouts& timeouts,
                                    const std::function<bool()>& cancelled = nullptr);

}  // namespace flint::image
