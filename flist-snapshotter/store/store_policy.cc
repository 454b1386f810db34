#include "flist-snapshotter/store/store_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/percent_encoding.h"
#include "flist-snapshotter/store/store_url.h"

namespace flint::flist {
namespace {

bool PathWithin(const std::string& path, const std::string& root) {
  // No lexical tricks: "/srv/blocks/../../etc" is not below /srv/blocks.
  if (path.find("/../") != std::string::npos || absl::EndsWith(path, "/..")) return false;
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base.empty() || base == "/") return true;
  return path == base || absl::StartsWith(path, base + "/");
}

// A zdb namespace is one opaque name that the store percent-decodes before SELECT, so only its
// decoded form counts. An HTTP server decodes the path too (and may resolve "%2e%2e" to ".."
// after), while dir:// uses it as written: both forms must be within the entry's.
bool PathAllowed(const StoreUrl& store, const std::string& entry_path) {
  if (entry_path.empty()) return true;
  const bool decoded_within = PathWithin(PercentDecode(store.path), PercentDecode(entry_path));
  if (store.scheme == "zdb" || store.scheme == "redis") return decoded_within;
  return decoded_within && PathWithin(store.path, entry_path);
}

bool Matches(const StoreUrl& store, const StoreUrl& entry) {
  return store.scheme == entry.scheme && absl::AsciiStrToLower(store.host) == absl::AsciiStrToLower(entry.host) &&
         (entry.port == 0 || store.port == entry.port) && PathAllowed(store, entry.path);
}

}  // namespace

bool StoreAllowed(std::string_view store_url, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  absl::StatusOr<StoreUrl> store = ParseStoreUrl(store_url);
  if (!store.ok()) return false;
  for (const std::string& entry : allowed) {
    absl::StatusOr<StoreUrl> parsed = ParseStoreUrl(entry);
    if (parsed.ok() && Matches(*store, *parsed)) return true;
  }
  return false;
}

absl::Status CheckFlistStores(const Flist& flist, const std::vector<std::string>& allowed) {
  for (const Route& route : flist.routes()) {
    if (StoreAllowed(route.url, allowed)) continue;
    absl::StatusOr<StoreUrl> parsed = ParseStoreUrl(route.url);
    const std::string shown = parsed.ok() ? parsed->Redacted() : absl::StrCat("\"", RedactStoreUrl(route.url), "\"");
    return absl::PermissionDeniedError(absl::StrCat(
        "the flist's blocks come from ", shown,
        ", which is not among the allowed block stores (flist.allowed_stores: ", absl::StrJoin(allowed, ", "), ")"));
  }
  return absl::OkStatus();
}

}  // namespace flint::flist
