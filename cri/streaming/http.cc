#include "cri/streaming/http.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/percent_encoding.h"

namespace flint::streaming {

std::string HttpHead::Get(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

bool HttpHead::Has(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

std::vector<std::string> HttpHead::GetList(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (!absl::EqualsIgnoreCase(k, name)) continue;
    for (absl::string_view part : absl::StrSplit(v, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (!part.empty()) out.emplace_back(part);
    }
  }
  return out;
}

bool HttpHead::HasToken(const std::string& name, const std::string& token) const {
  for (const auto& v : GetList(name)) {
    if (absl::EqualsIgnoreCase(v, token)) return true;
  }
  return false;
}

absl::StatusOr<HttpHead> ReadHttpHead(Socket& sock) {
  constexpr size_t kMaxHead = 64 * 1024;
  std::string buf;
  size_t end = std::string::npos;
  char chunk[4096];
  while (end == std::string::npos) {
    if (buf.size() > kMaxHead) return absl::InvalidArgumentError("http: header too large");
    auto n = sock.ReadSome(chunk, sizeof(chunk));
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("http: connection closed before end of headers");
    size_t search_from = buf.size() >= 3 ? buf.size() - 3 : 0;
    buf.append(chunk, *n);
    end = buf.find("\r\n\r\n", search_from);
  }
  sock.Unread(buf.substr(end + 4));
  buf.resize(end);
  HttpHead head;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(buf, "\r\n")) {
    if (first) {
      head.start_line = std::string(line);
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("http: malformed header line: ", line));
    }
    head.headers.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                              std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return head;
}

// Request targets are decoded as forms are: '+' is a space ("%2B" stays a '+').
static std::string DecodeTargetPart(absl::string_view s) {
  return PercentDecode(absl::StrReplaceAll(s, {{"+", " "}}));
}

absl::StatusOr<HttpRequest> ParseHttpRequest(HttpHead head) {
  std::vector<std::string> parts = absl::StrSplit(head.start_line, ' ', absl::SkipEmpty());
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    return absl::InvalidArgumentError(absl::StrCat("http: bad request line: ", head.start_line));
  }
  HttpRequest req;
  req.method = parts[0];
  std::string target = parts[1];
  size_t q = target.find('?');
  req.path = DecodeTargetPart(target.substr(0, q));
  if (q != std::string::npos) {
    for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      size_t eq = kv.find('=');
      if (eq == absl::string_view::npos) {
        req.query.emplace_back(DecodeTargetPart(kv), "");
      } else {
        req.query.emplace_back(DecodeTargetPart(kv.substr(0, eq)), DecodeTargetPart(kv.substr(eq + 1)));
      }
    }
  }
  req.head = std::move(head);
  return req;
}

absl::StatusOr<int> ResponseStatus(const HttpHead& head) {
  std::vector<absl::string_view> parts = absl::StrSplit(head.start_line, ' ', absl::SkipEmpty());
  int code = 0;
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") || !absl::SimpleAtoi(parts[1], &code)) {
    return absl::InvalidArgumentError(absl::StrCat("http: bad status line: ", head.start_line));
  }
  return code;
}

const char* HttpReason(int code) {
  switch (code) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    default: return "Unknown";
  }
}

absl::Status WriteHttpResponse(Socket& sock, int code, const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body) {
  std::string out = absl::StrCat("HTTP/1.1 ", code, " ", HttpReason(code), "\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ", body.size(),
                  "\r\nConnection: close\r\n\r\n", body);
  return sock.WriteAll(out);
}

}  // namespace flint::streaming
