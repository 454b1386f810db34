// Test-only: builds v1 flist databases (Cap'n Proto Dir/ACI messages in an
// `entries` table) so reader edge cases can be exercised without a v1 writer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/flist/sqlite_db.h"

namespace flint::flist::testing {

// A single-segment Cap'n Proto message under construction.
class CapnpBuilder {
 public:
  CapnpBuilder() : words_(1, 0) {}  // word 0: root pointer

  size_t Alloc(size_t n) {
    size_t at = words_.size();
    words_.resize(at + n, 0);
    return at;
  }
  // Allocates a struct and points `ptr_word` at it; returns its first word.
  size_t NewStruct(size_t ptr_word, uint16_t data, uint16_t ptrs) {
    size_t at = Alloc(data + ptrs);
    words_[ptr_word] = Offset(ptr_word, at) | (uint64_t{data} << 32) | (uint64_t{ptrs} << 48);
    return at;
  }
  // Composite list of `count` structs; returns the first element's word.
  size_t NewStructList(size_t ptr_word, uint16_t data, uint16_t ptrs, uint32_t count) {
    const uint64_t stride = uint64_t{data} + ptrs;
    size_t tag = Alloc(1 + stride * count);
    words_[ptr_word] = 1 | Offset(ptr_word, tag) | (uint64_t{7} << 32) | ((stride * count) << 35);
    words_[tag] = (uint64_t{count} << 2) | (uint64_t{data} << 32) | (uint64_t{ptrs} << 48);
    return tag + 1;
  }
  void SetBytes(size_t ptr_word, const std::string& bytes, bool text) {
    const size_t n = bytes.size() + (text ? 1 : 0);
    size_t at = Alloc((n + 7) / 8);
    std::memcpy(reinterpret_cast<char*>(&words_[at]), bytes.data(), bytes.size());
    words_[ptr_word] = 1 | Offset(ptr_word, at) | (uint64_t{2} << 32) | (uint64_t{n} << 35);
  }
  void SetText(size_t ptr_word, const std::string& s) { SetBytes(ptr_word, s, true); }
  template <typename T>
  void SetData(size_t struct_word, size_t byte_offset, T value) {
    std::memcpy(reinterpret_cast<char*>(&words_[struct_word]) + byte_offset, &value, sizeof(T));
  }
  std::string Serialize() const {
    std::string out(8, '\0');
    const uint32_t sizes[2] = {0, static_cast<uint32_t>(words_.size())};
    std::memcpy(out.data(), sizes, 8);
    out.append(reinterpret_cast<const char*>(words_.data()), words_.size() * 8);
    return out;
  }

 private:
  static uint64_t Offset(size_t ptr_word, size_t target) {
    const auto off = static_cast<int32_t>(static_cast<int64_t>(target) - static_cast<int64_t>(ptr_word) - 1);
    return static_cast<uint64_t>(static_cast<uint32_t>(off) << 2);
  }
  std::vector<uint64_t> words_;
};

struct V1Inode {
  enum Kind : uint16_t { kDir = 0, kFile = 1, kLink = 2, kSpecial = 3 };
  V1Inode(Kind k, std::string n, std::string acl, uint64_t sz = 0, uint32_t mt = 0)
      : kind(k), name(std::move(n)), aclkey(std::move(acl)), size(sz), mtime(mt) {}
  Kind kind;
  std::string name;
  std::string aclkey;
  uint64_t size = 0;
  uint32_t mtime = 0;
  std::string subdir_key;                               // kDir
  std::vector<std::pair<std::string, std::string>> blocks;  // kFile: (hash, key)
  std::string target;                                   // kLink
  uint16_t special_type = 0;                            // kSpecial
  std::string special_data;                             // kSpecial
};

inline std::string V1DirMessage(const std::string& name, const std::string& location,
                                const std::string& aclkey, const std::vector<V1Inode>& contents) {
  CapnpBuilder b;
  size_t dir = b.NewStruct(0, 2, 5);
  b.SetData<uint64_t>(dir, 0, 4096);
  b.SetText(dir + 2 + 0, name);
  b.SetText(dir + 2 + 1, location);
  b.SetText(dir + 2 + 4, aclkey);
  size_t first = b.NewStructList(dir + 2 + 2, 3, 3, static_cast<uint32_t>(contents.size()));
  for (size_t i = 0; i < contents.size(); ++i) {
    const V1Inode& in = contents[i];
    size_t at = first + i * 6;
    b.SetData<uint64_t>(at, 0, in.size);
    b.SetData<uint16_t>(at, 8, in.kind);
    b.SetData<uint32_t>(at, 12, in.mtime);
    b.SetText(at + 3 + 0, in.name);
    b.SetText(at + 3 + 2, in.aclkey);
    switch (in.kind) {
      case V1Inode::kDir: {
        size_t sub = b.NewStruct(at + 3 + 1, 0, 1);
        b.SetText(sub, in.subdir_key);
        break;
      }
      case V1Inode::kFile: {
        size_t file = b.NewStruct(at + 3 + 1, 1, 1);
        b.SetData<uint16_t>(file, 0, 128);
        if (!in.blocks.empty()) {
          size_t blk = b.NewStructList(file + 1, 0, 2, static_cast<uint32_t>(in.blocks.size()));
          for (size_t j = 0; j < in.blocks.size(); ++j) {
            b.SetBytes(blk + 2 * j, in.blocks[j].first, false);
            b.SetBytes(blk + 2 * j + 1, in.blocks[j].second, false);
          }
        }
        break;
      }
      case V1Inode::kLink: {
        size_t link = b.NewStruct(at + 3 + 1, 0, 1);
        b.SetText(link, in.target);
        break;
      }
      case V1Inode::kSpecial: {
        size_t sp = b.NewStruct(at + 3 + 1, 1, 1);
        b.SetData<uint16_t>(sp, 0, in.special_type);
        b.SetBytes(sp + 1, in.special_data, false);
        break;
      }
    }
  }
  return b.Serialize();
}

inline std::string V1AciMessage(const std::string& user, const std::string& group, uint16_t mode,
                                int64_t uid, int64_t gid) {
  CapnpBuilder b;
  size_t aci = b.NewStruct(0, 3, 3);
  b.SetText(aci + 3, user);
  b.SetText(aci + 4, group);
  b.SetData<uint16_t>(aci, 0, mode);
  b.SetData<uint64_t>(aci, 8, ~static_cast<uint64_t>(uid));  // stored XOR default (-1)
  b.SetData<uint64_t>(aci, 16, ~static_cast<uint64_t>(gid));
  return b.Serialize();
}

inline void CreateV1Database(SqliteDb& db) {
  (void)db.Exec(
      "CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB);"
      "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);");
}

inline void PutV1Entry(SqliteDb& db, const std::string& key, const std::string& value) {
  auto stmt = db.Prepare("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)");
  stmt->BindText(1, key);
  stmt->BindBlob(2, value);
  (void)stmt->Run();
}

}  // namespace flint::flist::testing
