// Parsing of block store URLs: scheme://[user[:password]@]host[:port][/path].
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

struct StoreUrl {
  std::string scheme;
  std::string user;      // percent-decoded (a '%' not starting %XX is kept)
  std::string password;  // percent-decoded likewise
  std::string host;
  int port = 0;        // 0 when absent
  std::string path;    // everything after the authority, including the leading '/'; not decoded

  // The URL with the password removed, for logs and listings.
  std::string Redacted() const;
};

absl::StatusOr<StoreUrl> ParseStoreUrl(std::string_view url);

// `url` safe to show or write where the password must not go: a URL that parses loses its password
// (StoreUrl::Redacted()); in one that does not (a password holding '/' or '@' can end the host
// early), everything between "://" and the last '@' is hidden; any other URL is returned as is.
std::string RedactStoreUrl(std::string_view url);

}  // namespace flint::flist
