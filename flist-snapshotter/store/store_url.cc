#include "flist-snapshotter/store/store_url.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/percent_encoding.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {

std::string StoreUrl::Redacted() const {
  std::string out = absl::StrCat(scheme, "://");
  if (!user.empty()) absl::StrAppend(&out, PercentEncode(user), "@");
  absl::StrAppend(&out, host);
  if (port != 0) absl::StrAppend(&out, ":", port);
  absl::StrAppend(&out, path);
  return out;
}

namespace {

// `url` with whatever precedes its last '@' (user, password) hidden.
std::string HideUserinfo(std::string_view url) {
  const size_t sep = url.find("://");
  const size_t start = sep == std::string_view::npos ? 0 : sep + 3;
  const std::string_view rest = url.substr(start);
  // The last '@' anywhere: a password holding '/' must not end what is hidden early.
  const size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return absl::StrCat(Av(url.substr(0, start)), "***", Av(rest.substr(at)));
}

}  // namespace

absl::StatusOr<StoreUrl> ParseStoreUrl(std::string_view url) {
  StoreUrl u;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return absl::InvalidArgumentError(absl::StrCat("store URL \"", HideUserinfo(url), "\" has no scheme"));
  }
  u.scheme = std::string(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  // Policy checks (store_policy.h) and the clients must see the same host: curl, for one, ends the
  // authority at '?' or '#', and "http://10.0.0.5?@hub.example" would reach 10.0.0.5.
  auto unsafe = [](std::string_view part) {
    return std::any_of(part.begin(), part.end(), [](char c) {
      return c == '?' || c == '#' || c == '\\' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
    });
  };
  // curl reads all of an http(s) URL and we append block paths to it; zdb and redis clients use
  // the host and port parsed here, and their passwords may hold anything.
  const bool http = u.scheme == "http" || u.scheme == "https";
  const size_t last_at = authority.rfind('@');
  const std::string_view host_and_port = last_at == std::string_view::npos ? authority : authority.substr(last_at + 1);
  if (unsafe(host_and_port) || (http && (unsafe(authority) || unsafe(u.path)))) {
    return absl::InvalidArgumentError(absl::StrCat("store URL \"", HideUserinfo(url),
                                                   "\" holds ?, #, \\, a space or a control character"));
  }
  if (http && std::count(authority.begin(), authority.end(), '@') > 1) {
    return absl::InvalidArgumentError(absl::StrCat("store URL \"", HideUserinfo(url), "\": more than one '@'"));
  }
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    u.user = PercentDecode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = PercentDecode(userinfo.substr(colon + 1));
  }
  std::string_view host = authority;
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("store URL: unclosed '['");
    host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority[0] != ':') return absl::InvalidArgumentError("store URL: junk after ']'");
    if (!authority.empty()) {
      if (!absl::SimpleAtoi(Av(authority.substr(1)), &u.port) || u.port <= 0 || u.port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("store URL \"", HideUserinfo(url), "\": bad port"));
      }
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    if (!absl::SimpleAtoi(Av(authority.substr(colon + 1)), &u.port) || u.port <= 0 || u.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("store URL \"", HideUserinfo(url), "\": bad port"));
    }
  }
  u.host = std::string(host);
  return u;
}

std::string RedactStoreUrl(std::string_view url) {
  absl::StatusOr<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return HideUserinfo(url);
  if (parsed->password.empty()) return std::string(url);
  return parsed->Redacted();
}

}  // namespace flint::flist
