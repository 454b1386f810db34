#include "flist-snapshotter/flist/capnp_reader.h"

#include <cstring>

#include "flist-snapshotter/util/absl_compat.h"
#include "absl/strings/str_cat.h"

namespace flint::flist::capnp {
namespace {

constexpr uint64_t kWord = 8;

uint32_t LoadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // Cap'n Proto is little-endian, as is every platform we build for.
}

int64_t SignedOffset(uint64_t ptr) {
  // Bits 2..31 hold a signed word offset.
  return static_cast<int32_t>(static_cast<uint32_t>(ptr & 0xffffffffu)) >> 2;
}

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("capnp: ", Av(what)));
}

}  // namespace

absl::StatusOr<Message> Message::Parse(std::string_view bytes) {
  if (bytes.size() < 8) return Corrupt("message too short");
  const uint64_t count = uint64_t{LoadU32(bytes.data())} + 1;
  if (count > 1024) return Corrupt("too many segments");
  uint64_t header = 4 * (1 + count);
  header = (header + 7) & ~uint64_t{7};
  if (header > bytes.size()) return Corrupt("truncated segment table");
  Message msg;
  uint64_t offset = header;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t words = LoadU32(bytes.data() + 4 * (1 + i));
    if (words > (bytes.size() - offset) / kWord) return Corrupt("truncated segment");
    msg.segments_.push_back(bytes.substr(offset, words * kWord));
    offset += words * kWord;
  }
  msg.traversal_budget_ = 8 * (bytes.size() / kWord) + 1024;
  return msg;
}

uint64_t Message::Word(uint32_t segment, uint64_t index) const {
  uint64_t v;
  std::memcpy(&v, segments_[segment].data() + index * kWord, kWord);
  return v;
}

absl::Status Message::Charge(uint64_t words) const {
  if (words + 1 > traversal_budget_) return Corrupt("traversal limit exceeded");
  traversal_budget_ -= words + 1;
  return absl::OkStatus();
}

absl::StatusOr<Message::Target> Message::Follow(uint32_t segment, uint64_t ptr_word) const {
  const uint64_t ptr = Word(segment, ptr_word);
  if ((ptr & 3) != 2) {
    const int64_t start = static_cast<int64_t>(ptr_word) + 1 + SignedOffset(ptr);
    if (start < 0) return Corrupt("pointer before segment start");
    return Target{segment, static_cast<uint64_t>(start), ptr};
  }
  // Far pointer: bit 2 = double-far, bits 3..31 = landing pad word, 32..63 = segment.
  const bool double_far = (ptr & 4) != 0;
  const uint64_t pad = (ptr & 0xffffffffu) >> 3;
  const uint64_t pad_segment = ptr >> 32;
  if (pad_segment >= segments_.size()) return Corrupt("far pointer to missing segment");
  const uint64_t seg_words = segments_[pad_segment].size() / kWord;
  if (pad + (double_far ? 2 : 1) > seg_words) return Corrupt("far pointer landing pad out of bounds");
  const auto pad_seg = static_cast<uint32_t>(pad_segment);
  if (!double_far) {
    const uint64_t landing = Word(pad_seg, pad);
    if ((landing & 3) == 2) return Corrupt("far pointer lands on another far pointer");
    const int64_t start = static_cast<int64_t>(pad) + 1 + SignedOffset(landing);
    if (start < 0) return Corrupt("pointer before segment start");
    return Target{pad_seg, static_cast<uint64_t>(start), landing};
  }
  // Double-far: the pad's first word is a far pointer to the content itself,
  // the second is a tag describing its shape.
  const uint64_t far = Word(pad_seg, pad);
  const uint64_t tag = Word(pad_seg, pad + 1);
  if ((far & 3) != 2 || (far & 4) != 0) return Corrupt("bad double-far landing pad");
  const uint64_t content_segment = far >> 32;
  if (content_segment >= segments_.size()) return Corrupt("double-far pointer to missing segment");
  return Target{static_cast<uint32_t>(content_segment), (far & 0xffffffffu) >> 3, tag};
}

absl::StatusOr<Struct> Message::ReadStruct(uint32_t segment, uint64_t ptr_word) const {
  if (Word(segment, ptr_word) == 0) return Struct();
  auto t = Follow(segment, ptr_word);
  if (!t.ok()) return t.status();
  if ((t->pointer & 3) != 0) return Corrupt("expected a struct pointer");
  Struct s;
  s.msg_ = this;
  s.segment_ = t->segment;
  s.data_word_ = t->content_word;
  s.data_words_ = static_cast<uint16_t>((t->pointer >> 32) & 0xffff);
  s.ptr_words_ = static_cast<uint16_t>(t->pointer >> 48);
  const uint64_t end = s.data_word_ + s.data_words_ + s.ptr_words_;
  if (end > segments_[s.segment_].size() / kWord) return Corrupt("struct out of bounds");
  if (auto st = Charge(s.data_words_ + s.ptr_words_); !st.ok()) return st;
  return s;
}

absl::StatusOr<std::string_view> Message::ReadBytes(uint32_t segment, uint64_t ptr_word, bool is_text) const {
  if (Word(segment, ptr_word) == 0) return std::string_view();
  auto t = Follow(segment, ptr_word);
  if (!t.ok()) return t.status();
  if ((t->pointer & 3) != 1 || ((t->pointer >> 32) & 7) != 2) return Corrupt("expected a byte list");
  const uint64_t count = t->pointer >> 35;
  const std::string_view seg = segments_[t->segment];
  if (t->content_word > seg.size() / kWord || count > seg.size() - t->content_word * kWord) {
    return Corrupt("byte list out of bounds");
  }
  if (auto st = Charge((count + 7) / kWord); !st.ok()) return st;
  std::string_view out = seg.substr(t->content_word * kWord, count);
  if (is_text && !out.empty()) {
    if (out.back() != '\0') return Corrupt("text without NUL terminator");
    out.remove_suffix(1);
  }
  return out;
}

absl::StatusOr<std::vector<Struct>> Message::ReadStructList(uint32_t segment, uint64_t ptr_word) const {
  std::vector<Struct> out;
  if (Word(segment, ptr_word) == 0) return out;
  auto t = Follow(segment, ptr_word);
  if (!t.ok()) return t.status();
  if ((t->pointer & 3) != 1 || ((t->pointer >> 32) & 7) != 7) return Corrupt("expected a composite list");
  const uint64_t total_words = t->pointer >> 35;
  const uint64_t seg_words = segments_[t->segment].size() / kWord;
  if (t->content_word >= seg_words || total_words > seg_words - t->content_word - 1) {
    return Corrupt("struct list out of bounds");
  }
  const uint64_t tag = Word(t->segment, t->content_word);
  if ((tag & 3) != 0) return Corrupt("bad composite list tag");
  const uint64_t count = static_cast<uint32_t>(tag & 0xffffffffu) >> 2;
  const auto data_words = static_cast<uint16_t>((tag >> 32) & 0xffff);
  const auto ptr_words = static_cast<uint16_t>(tag >> 48);
  const uint64_t stride = uint64_t{data_words} + ptr_words;
  if (stride == 0 ? count > total_words + 1024 : count * stride > total_words) {
    return Corrupt("composite list larger than its allocation");
  }
  if (auto st = Charge(total_words + count); !st.ok()) return st;
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    Struct s;
    s.msg_ = this;
    s.segment_ = t->segment;
    s.data_word_ = t->content_word + 1 + i * stride;
    s.data_words_ = data_words;
    s.ptr_words_ = ptr_words;
    out.push_back(s);
  }
  return out;
}

absl::StatusOr<Struct> Message::Root() const {
  if (segments_.empty() || segments_[0].size() < kWord) return Corrupt("no root pointer");
  return ReadStruct(0, 0);
}

uint16_t Struct::U16(size_t byte_offset) const {
  if (byte_offset + 2 > uint64_t{data_words_} * kWord) return 0;
  uint16_t v;
  std::memcpy(&v, msg_->segments_[segment_].data() + data_word_ * kWord + byte_offset, 2);
  return v;
}

uint32_t Struct::U32(size_t byte_offset) const {
  if (byte_offset + 4 > uint64_t{data_words_} * kWord) return 0;
  uint32_t v;
  std::memcpy(&v, msg_->segments_[segment_].data() + data_word_ * kWord + byte_offset, 4);
  return v;
}

uint64_t Struct::U64(size_t byte_offset) const {
  if (byte_offset + 8 > uint64_t{data_words_} * kWord) return 0;
  uint64_t v;
  std::memcpy(&v, msg_->segments_[segment_].data() + data_word_ * kWord + byte_offset, 8);
  return v;
}

absl::StatusOr<std::string_view> Struct::Text(size_t ptr_index) const {
  if (ptr_index >= ptr_words_) return std::string_view();
  return msg_->ReadBytes(segment_, data_word_ + data_words_ + ptr_index, /*is_text=*/true);
}

absl::StatusOr<std::string_view> Struct::Data(size_t ptr_index) const {
  if (ptr_index >= ptr_words_) return std::string_view();
  return msg_->ReadBytes(segment_, data_word_ + data_words_ + ptr_index, /*is_text=*/false);
}

absl::StatusOr<Struct> Struct::StructField(size_t ptr_index) const {
  if (ptr_index >= ptr_words_) return Struct();
  return msg_->ReadStruct(segment_, data_word_ + data_words_ + ptr_index);
}

absl::StatusOr<std::vector<Struct>> Struct::StructList(size_t ptr_index) const {
  if (ptr_index >= ptr_words_) return std::vector<Struct>();
  return msg_->ReadStructList(segment_, data_word_ + data_words_ + ptr_index);
}

}  // namespace flint::flist::capnp
