#include "flist-snapshotter/cache/lru_index.h"

namespace flint::flist {

void LruIndex::Insert(const std::string& name, uint64_t bytes) {
  Erase(name);
  order_.push_front(name);
  entries_[name] = Record{order_.begin(), bytes};
  bytes_ += bytes;
}

void LruIndex::InsertOldest(const std::string& name, uint64_t bytes) {
  if (entries_.contains(name)) return;
  order_.push_back(name);
  entries_[name] = Record{std::prev(order_.end()), bytes};
  bytes_ += bytes;
}

bool LruIndex::Touch(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  order_.splice(order_.begin(), order_, it->second.position);
  return true;
}

void LruIndex::Erase(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  order_.erase(it->second.position);
  entries_.erase(it);
}

std::vector<std::string> LruIndex::EvictTo(uint64_t max_bytes, const std::string& keep) {
  std::vector<std::string> evicted;
  auto it = order_.end();
  while (bytes_ > max_bytes && it != order_.begin()) {
    --it;
    if (*it == keep) continue;
    std::string name = *it;
    it = std::next(it);  // stays valid: only the element before it is erased
    Erase(name);
    evicted.push_back(std::move(name));
  }
  return evicted;
}

bool LruIndex::PopOldest(const std::string& keep, std::string* name, uint64_t* bytes) {
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (*it == keep) continue;
    *name = *it;
    *bytes = entries_.at(*name).bytes;
    Erase(*name);
    return true;
  }
  return false;
}

}  // namespace flint::flist
