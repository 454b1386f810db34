#include "flist-snapshotter/cache/lru_index.h"

namespace flint::flist {

void LruIndex::Insert(const std::string& name, uint64_t bytes, int64_t used) {
  Erase(name);
  const Key key{used, recorded_++};
  order_.emplace(key, name);
  entries_[name] = Record{key, bytes};
  bytes_ += bytes;
}

bool LruIndex::Touch(const std::string& name, int64_t used) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  auto node = order_.extract(it->second.key);
  it->second.key = node.key() = Key{used, recorded_++};
  order_.insert(std::move(node));
  return true;
}

void LruIndex::Erase(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  order_.erase(it->second.key);
  entries_.erase(it);
}

std::vector<std::string> LruIndex::EvictTo(uint64_t max_bytes, const std::string& keep) {
  std::vector<std::string> evicted;
  std::string name;
  uint64_t bytes = 0;
  int64_t used = 0;
  while (bytes_ > max_bytes && PopOldest(keep, &name, &bytes, &used)) evicted.push_back(name);
  return evicted;
}

bool LruIndex::PopOldest(const std::string& keep, std::string* name, uint64_t* bytes, int64_t* used) {
  for (const auto& [key, entry] : order_) {
    if (entry == keep) continue;
    *name = entry;
    *used = key.first;
    *bytes = entries_.at(*name).bytes;
    Erase(*name);
    return true;
  }
  return false;
}

}  // namespace flint::flist
