// Which block stores a pulled flist may send the node to (flist.allowed_stores).
//
// A flist names its stores itself (v2 route table, v1 backend metadata), so an image from anywhere
// can make the node connect to any host and port, or read a directory on the node (dir://).
// Blocks must still hash-verify, so nothing wrong is served, but an operator may want the node to
// talk only to known stores. An allowed entry is a store URL without credentials,
// scheme://host[:port][/path]: a store matches when scheme and host are the same (host without
// case), the port too if the entry has one, and its path is the entry's or below it if the entry
// has one. "dir:///srv/blocks" allows that directory and below.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "flist-snapshotter/flist/model.h"

namespace flint::flist {

// True when `allowed` is empty (no policy) or one of its entries matches `store_url`.
bool StoreAllowed(std::string_view store_url, const std::vector<std::string>& allowed);

// PermissionDenied naming the first route of `flist` to a store `allowed` does not match.
absl::Status CheckFlistStores(const Flist& flist, const std::vector<std::string>& allowed);

}  // namespace flint::flist
