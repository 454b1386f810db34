// Recency order and byte accounting for the files of the block cache. Not
// thread-safe: BlockCache guards it with its own mutex.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace flint::flist {

class LruIndex {
 public:
  // Adds `name` as the most recently used entry (replacing an older record of it).
  void Insert(const std::string& name, uint64_t bytes);
  // Adds `name` as the least recently used entry unless it is already known.
  void InsertOldest(const std::string& name, uint64_t bytes);
  // Marks `name` as just used; false when it is unknown.
  bool Touch(const std::string& name);
  void Erase(const std::string& name);
  bool Contains(const std::string& name) const { return entries_.contains(name); }

  // Removes least recently used entries until the total is at most
  // `max_bytes`, never removing `keep`. Returns the removed names.
  std::vector<std::string> EvictTo(uint64_t max_bytes, const std::string& keep);

  // Removes the least recently used entry other than `keep`, returning its
  // name and size; false when there is none.
  bool PopOldest(const std::string& keep, std::string* name, uint64_t* bytes);

  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Record {
    std::list<std::string>::iterator position;
    uint64_t bytes;
  };
  std::list<std::string> order_;  // front = most recent
  std::unordered_map<std::string, Record> entries_;
  uint64_t bytes_ = 0;
};

}  // namespace flint::flist
