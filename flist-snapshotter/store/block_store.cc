#include "flist-snapshotter/store/block_store.h"

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/store/dir_store.h"
#include "flist-snapshotter/store/http_store.h"
#include "flist-snapshotter/store/resp_store.h"
#include "flist-snapshotter/store/store_url.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {

absl::StatusOr<std::unique_ptr<BlockStore>> OpenBlockStore(std::string_view url) {
  if (url.starts_with("dir://")) {
    std::string path(url.substr(6));
    if (path.empty()) return absl::InvalidArgumentError("dir:// store needs a path");
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return std::make_unique<DirStore>(std::move(path));
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    if (absl::StatusOr<StoreUrl> parsed = ParseStoreUrl(url); !parsed.ok()) return parsed.status();
    return std::make_unique<HttpStore>(std::string(url));
  }
  if (url.starts_with("zdb://") || url.starts_with("redis://")) {
    auto store = RespStore::Open(url);
    if (!store.ok()) return store.status();
    return std::unique_ptr<BlockStore>(*std::move(store));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported block store URL \"", Av(url), "\" (want dir://, http(s)://, zdb:// or redis://)"));
}

}  // namespace flint::flist
