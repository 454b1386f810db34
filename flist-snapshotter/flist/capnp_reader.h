// A minimal, bounds-checked reader for unpacked Cap'n Proto stream messages:
// multi-segment, far and double-far pointers, structs, struct lists, Text and
// Data. Enough to decode the v1 flist schema (Dir, Inode, ACI) without
// generated code. Values are views into the caller's buffer.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::flist::capnp {

class Message;

class Struct {
 public:
  Struct() = default;  // all fields at their defaults
  uint16_t U16(size_t byte_offset) const;
  uint32_t U32(size_t byte_offset) const;
  uint64_t U64(size_t byte_offset) const;
  // Null pointers read as empty.
  absl::StatusOr<std::string_view> Text(size_t ptr_index) const;
  absl::StatusOr<std::string_view> Data(size_t ptr_index) const;
  absl::StatusOr<Struct> StructField(size_t ptr_index) const;
  absl::StatusOr<std::vector<Struct>> StructList(size_t ptr_index) const;

 private:
  friend class Message;
  const Message* msg_ = nullptr;
  uint32_t segment_ = 0;
  uint64_t data_word_ = 0;  // index of the first data word in the segment
  uint16_t data_words_ = 0;
  uint16_t ptr_words_ = 0;
};

class Message {
 public:
  // `bytes` must outlive the message and every value read from it.
  static absl::StatusOr<Message> Parse(std::string_view bytes);
  absl::StatusOr<Struct> Root() const;

 private:
  friend class Struct;
  struct Target {  // a pointer after following far hops
    uint32_t segment;
    uint64_t content_word;  // where the pointed-to object starts
    uint64_t pointer;       // the struct/list pointer (or tag) giving its shape
  };
  uint64_t Word(uint32_t segment, uint64_t index) const;
  absl::StatusOr<Target> Follow(uint32_t segment, uint64_t ptr_word) const;
  absl::StatusOr<Struct> ReadStruct(uint32_t segment, uint64_t ptr_word) const;
  absl::StatusOr<std::string_view> ReadBytes(uint32_t segment, uint64_t ptr_word, bool is_text) const;
  absl::StatusOr<std::vector<Struct>> ReadStructList(uint32_t segment, uint64_t ptr_word) const;
  absl::Status Charge(uint64_t words) const;

  std::vector<std::string_view> segments_;
  // Guards against pointers that make many objects alias the same words.
  mutable uint64_t traversal_budget_ = 0;
};

}  // namespace flint::flist::capnp
