#include "flist-snapshotter/store/store_url.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {

std::string StoreUrl::Redacted() const {
  std::string out = absl::StrCat(scheme, "://");
  if (!user.empty()) absl::StrAppend(&out, user, "@");
  absl::StrAppend(&out, host);
  if (port != 0) absl::StrAppend(&out, ":", port);
  absl::StrAppend(&out, path);
  return out;
}

absl::StatusOr<StoreUrl> ParseStoreUrl(std::string_view url) {
  StoreUrl u;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return absl::InvalidArgumentError(absl::StrCat("store URL \"", Av(url), "\" has no scheme"));
  }
  u.scheme = std::string(url.substr(0, sep));
  std::string_view rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    u.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) u.password = std::string(userinfo.substr(colon + 1));
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
        return absl::InvalidArgumentError(absl::StrCat("store URL \"", Av(url), "\": bad port"));
      }
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    if (!absl::SimpleAtoi(Av(authority.substr(colon + 1)), &u.port) || u.port <= 0 || u.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("store URL \"", Av(url), "\": bad port"));
    }
  }
  u.host = std::string(host);
  return u;
}

}  // namespace flint::flist
