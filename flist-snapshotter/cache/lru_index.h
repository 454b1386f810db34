// Recency order and byte accounting for the files of the block cache. Not
// thread-safe: BlockCache guards it with its own mutex.
//
// Entries are ordered by the time they were last used (nanoseconds since the
// epoch), as this process knows it: its own stores and hits, or a file's
// times as found on disk. Times, not just an order, so that a use another
// process signalled through the file's times can put the entry where it
// belongs among this process's own uses.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace flint::flist {

class LruIndex {
 public:
  // Records `name` as last used at `used` (replacing an older record of it).
  // Among entries used at the same time, the later recorded counts as newer.
  void Insert(const std::string& name, uint64_t bytes, int64_t used);
  // Marks `name` as used at `used`; false when it is unknown.
  bool Touch(const std::string& name, int64_t used);
  void Erase(const std::string& name);
  bool Contains(const std::string& name) const { return entries_.contains(name); }

  // Removes least recently used entries until the total is at most
  // `max_bytes`, never removing `keep`. Returns the removed names.
  std::vector<std::string> EvictTo(uint64_t max_bytes, const std::string& keep);

  // Removes the least recently used entry other than `keep`, returning its
  // name, size and when it was used; false when there is none.
  bool PopOldest(const std::string& keep, std::string* name, uint64_t* bytes, int64_t* used);

  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }

 private:
  using Key = std::pair<int64_t, uint64_t>;  // used, then the order of recording
  struct Record {
    Key key;
    uint64_t bytes;
  };
  std::map<Key, std::string> order_;  // begin = least recently used
  std::unordered_map<std::string, Record> entries_;
  uint64_t bytes_ = 0;
  uint64_t recorded_ = 0;
};

}  // namespace flint::flist
