#include "flist-snapshotter/store/routed_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {

absl::StatusOr<std::unique_ptr<RoutedStore>> RoutedStore::FromRoutes(const std::vector<Route>& routes) {
  std::vector<Shard> shards;
  for (const Route& r : routes) {
    auto store = OpenBlockStore(r.url);
    if (!store.ok()) return store.status();
    shards.push_back(Shard{r.start, r.end, *std::move(store)});
  }
  return std::make_unique<RoutedStore>(std::move(shards));
}

std::vector<BlockStore*> RoutedStore::Matching(std::string_view id) const {
  std::vector<BlockStore*> out;
  if (id.empty()) return out;
  const auto first = static_cast<uint8_t>(id[0]);
  for (const Shard& s : shards_) {
    if (first >= s.start && first <= s.end) out.push_back(s.store.get());
  }
  return out;
}

absl::StatusOr<std::string> RoutedStore::Get(std::string_view id) {
  auto stores = Matching(id);
  if (stores.empty()) return absl::NotFoundError(absl::StrCat("no route for block ", HexEncode(id)));
  absl::Status last;
  for (BlockStore* s : stores) {
    auto data = s->Get(id);
    if (data.ok()) return data;
    last = data.status();
  }
  return last;
}

absl::StatusOr<bool> RoutedStore::Exists(std::string_view id) {
  absl::Status last;
  for (BlockStore* s : Matching(id)) {
    auto e = s->Exists(id);
    if (e.ok() && *e) return true;
    if (!e.ok()) last = e.status();
  }
  if (!last.ok()) return last;
  return false;
}

absl::Status RoutedStore::Put(std::string_view id, std::string_view data) {
  auto stores = Matching(id);
  if (stores.empty()) return absl::FailedPreconditionError(absl::StrCat("no route for block ", HexEncode(id)));
  for (BlockStore* s : stores) {
    if (auto st = s->Put(id, data); !st.ok()) return st;
  }
  return absl::OkStatus();
}

std::string RoutedStore::Describe() const {
  return absl::StrJoin(shards_, ", ", [](std::string* out, const Shard& s) {
    absl::StrAppend(out, s.start, "-", s.end, "=", s.store->Describe());
  });
}

absl::StatusOr<std::unique_ptr<BlockStore>> OpenStoreForFlist(const Flist& flist,
                                                              std::string_view override_url,
                                                              std::string_view default_url) {
  if (!override_url.empty()) return OpenBlockStore(override_url);
  if (!flist.routes().empty()) {
    auto routed = RoutedStore::FromRoutes(flist.routes());
    if (!routed.ok()) return routed.status();
    return std::unique_ptr<BlockStore>(*std::move(routed));
  }
  if (!default_url.empty()) return OpenBlockStore(default_url);
  return absl::FailedPreconditionError("flist names no block store and no default store is configured");
}

}  // namespace flint::flist
