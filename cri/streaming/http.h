// Just enough HTTP/1.1 for upgrade handshakes: read a message head, look up headers, write replies.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/streaming/socket.h"

namespace flint::streaming {

struct HttpHead {
  std::string start_line;  // "GET /exec/x HTTP/1.1" or "HTTP/1.1 101 Switching Protocols"
  std::vector<std::pair<std::string, std::string>> headers;

  // First value of the header (case-insensitive name), empty if absent.
  std::string Get(const std::string& name) const;
  // All values, with comma-separated lists split and trimmed.
  std::vector<std::string> GetList(const std::string& name) const;
  bool Has(const std::string& name) const;
  // True if the comma list of header `name` contains token (case-insensitive).
  bool HasToken(const std::string& name, const std::string& token) const;
};

struct HttpRequest {
  HttpHead head;
  std::string method;
  std::string path;                                          // without query
  std::vector<std::pair<std::string, std::string>> query;    // decoded
};

// Reads up to the blank line (max 64 KiB); extra bytes are pushed back into the socket.
absl::StatusOr<HttpHead> ReadHttpHead(Socket& sock);
absl::StatusOr<HttpRequest> ParseHttpRequest(HttpHead head);
// Status code of a response head ("HTTP/1.1 101 ..." -> 101).
absl::StatusOr<int> ResponseStatus(const HttpHead& head);

// Writes a complete non-upgrade response with a text body and Connection: close.
absl::Status WriteHttpResponse(Socket& sock, int code, const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body);
const char* HttpReason(int code);

}  // namespace flint::streaming
